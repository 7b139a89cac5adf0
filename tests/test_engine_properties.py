"""Property tests of the retention engine and the planner's invariants."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from reconciler.engine.retention import DELETE, KEEP, RULES, UPDATE, Context, decide, keep_reasons
from reconciler.engine.selectors import first_matches, matches, select
from reconciler.manifest.build import build_keep, build_selector
from reconciler.manifest.model import KeepPolicy, ProjectSpec, Selector
from reconciler.models import Backtest
from reconciler.plan.planner import plan_project
from reconciler.projects import ProjectState

from strategies import NOW, backtests, keep_policies, scenario, selectors

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(scenario())
def test_exactly_one_decision_per_backtest(case: tuple[ProjectSpec, list[Backtest]]) -> None:
    spec, live = case
    decisions = decide(spec, live, NOW)
    assert sorted(d.backtest.id for d in decisions) == sorted(b.id for b in live)
    assert all(d.action in (KEEP, DELETE, UPDATE) and d.reasons for d in decisions)


@SETTINGS
@given(scenario())
def test_never_deletes_in_progress_declared_or_protected(case: tuple[ProjectSpec, list[Backtest]]) -> None:
    spec, live = case
    declared = {d.id for d in spec.backtests}
    for decision in decide(spec, live, NOW):
        b = decision.backtest
        if decision.action == DELETE:
            assert b.status in ("completed", "failed")
            assert b.id not in declared
            assert not b.tag_set & set(spec.protecting_tags)  # tags compare by key: ` Protected` protects too
            assert b.created <= NOW


@SETTINGS
@given(scenario(), st.randoms(use_true_random=False))
def test_result_does_not_depend_on_input_order(case: tuple[ProjectSpec, list[Backtest]], rng) -> None:
    spec, live = case
    shuffled = list(live)
    rng.shuffle(shuffled)
    assert decide(spec, live, NOW) == decide(spec, shuffled, NOW)


@SETTINGS
@given(scenario(), keep_policies)
def test_adding_a_keep_policy_never_deletes_more(case: tuple[ProjectSpec, list[Backtest]], extra: KeepPolicy) -> None:
    spec, live = case
    before = {d.backtest.id for d in decide(spec, live, NOW) if d.action == DELETE}
    wider = replace(spec, keep=(*spec.keep, extra))
    after = {d.backtest.id for d in decide(wider, live, NOW) if d.action == DELETE}
    assert after <= before


@SETTINGS
@given(scenario())
def test_without_prune_only_delete_rules_delete(case: tuple[ProjectSpec, list[Backtest]]) -> None:
    spec, live = case
    no_prune = replace(spec, prune=False)
    for decision in decide(no_prune, live, NOW):
        if decision.action == DELETE:
            assert len(decision.reasons) == 1 and decision.reasons[0].rule == "delete"


@SETTINGS
@given(scenario())
def test_plan_guard_refuses_emptying_a_project(case: tuple[ProjectSpec, list[Backtest]]) -> None:
    """Deleting anything while keeping no completed backtest is an error (running or failed ones do not count),
    and so is prune with no keep, protect or declared backtests: both unless allow_empty."""
    spec, live = case
    project = plan_project(ProjectState(spec, 1, "p", live), NOW)
    deletes = project.count(DELETE)
    completed_kept = any(e.status == "completed" and e.action != DELETE for e in project.entries)
    delete_all = spec.prune and not (spec.keep or spec.protect or spec.backtests)
    assert bool(project.errors) == (not spec.allow_empty and (delete_all or (deletes > 0 and not completed_kept)))
    assert all(e.observed is not None for e in project.entries if e.action != KEEP)
    allowed = plan_project(ProjectState(replace(spec, allow_empty=True), 1, "p", live), NOW)
    assert allowed.errors == []


@SETTINGS
@given(scenario(labelled=True))
def test_a_plan_without_errors_leaves_nothing_for_the_next_plan(case: tuple[ProjectSpec, list[Backtest]]) -> None:
    """Labels never change a decision and settle at once: the project as apply leaves it plans to no change and no delete."""
    spec, live = case
    first = plan_project(ProjectState(spec, 1, "P", live), NOW)
    if first.errors:
        return
    decided = {e.id: e for e in first.entries}
    after = []
    for b in live:
        entry = decided[b.id]
        if entry.action == DELETE:
            continue
        fields = {c.field: (tuple(c.after) if c.field == "tags" else c.after) for c in entry.changes}
        after.append(replace(b, **fields))
    second = plan_project(ProjectState(spec, 1, "P", after), NOW)
    assert not second.errors and not [(e.id, e.action, e.reasons) for e in second.entries if e.action != KEEP]


# --- one pass per rule and per condition decides what one backtest at a time would -----------------

_selector_data = st.one_of(selectors, st.sampled_from([{"name_regex": "^scratch"}, {"name_regex": "Fox$", "status": "completed"},
                                                        {"tags": ["paper"], "older_than": "3d"}]).map(build_selector))


_AT_THE_EDGE = [Backtest(id=f"{n:032x}", project_id=1, name="Smooth Fox", created=NOW - timedelta(days=3, minutes=n - 1), status="completed")
                for n in range(3)]  # a minute newer than, exactly and a minute older than `older_than: 3d`


@SETTINGS
@given(backtests(), _selector_data)
@example(_AT_THE_EDGE, build_selector({"older_than": "3d"}))
@example(_AT_THE_EDGE, build_selector({"newer_than": "3d"}))
def test_select_keeps_exactly_the_backtests_matches_accepts(live: list[Backtest], selector: Selector) -> None:
    assert select(selector, live, NOW) == [b for b in live if matches(selector, b, NOW)]


@SETTINGS
@given(backtests(), st.lists(_selector_data, max_size=3))
def test_first_matches_names_the_first_selector_each_backtest_matches(live: list[Backtest], chosen: list[Selector]) -> None:
    expected = [(b, next(i for i, s in enumerate(chosen) if matches(s, b, NOW))) for b in live if any(matches(s, b, NOW) for s in chosen)]
    assert first_matches(chosen, live, NOW) == expected


@SETTINGS
@given(scenario())
def test_the_rules_decide_each_backtest_as_they_would_alone(case: tuple[ProjectSpec, list[Backtest]]) -> None:
    """decide runs each rule once over what the earlier rules left: the first rule that decides a backtest given alone
    must be the one whose decision it gets."""
    spec, live = case
    context = Context(NOW, {})
    declared = {d.id: d for d in spec.backtests}
    decided = {d.backtest.id: d for d in decide(spec, live, NOW)}
    for b in live:
        alone = next((found[b.id] for rule in RULES if (found := rule(spec, declared, [b], context))), None)
        if alone is not None:
            assert decided[b.id] == alone
        else:
            assert decided[b.id].reasons[0].rule in ("keep", "prune", "unmanaged")


@SETTINGS
@given(backtests(), st.integers(1, 5), st.sampled_from(["asc", "desc"]), st.lists(st.sampled_from([-1.0, 0.0, 0.5, 2.0]), min_size=40, max_size=40))
def test_best_ranks_as_a_stable_sort_ties_to_the_newest(live: list[Backtest], count: int, order: str, values: list[float]) -> None:
    """`best` as the restic-like reading says: sort by the statistic (a stable sort, newest first among equals), take `count`."""
    candidates = sorted((replace(b, statistics={"sharpeRatio": v}) if i % 3 else b for i, (b, v) in enumerate(zip(live, values))),
                        key=lambda b: b.created, reverse=True)
    policy = build_keep({"best": {"by": "sharpeRatio", "count": count, "order": order}})
    kept = keep_reasons([policy], candidates, NOW)
    ranked = [b for b in candidates if "sharpeRatio" in b.statistics]
    expected = sorted(ranked, key=lambda b: b.statistics["sharpeRatio"], reverse=order == "desc")[:count]
    assert [b.id for b in candidates if b.id in kept] == [b.id for b in candidates if b in expected]
    assert [kept[b.id][0].detail for b in expected] == [f"{rank}/{count}" for rank in range(1, len(expected) + 1)]
