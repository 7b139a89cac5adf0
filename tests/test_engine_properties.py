"""Property tests of the retention engine and the planner's invariants."""

from __future__ import annotations

from datetime import datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.engine.retention import DELETE, KEEP, UPDATE, decide
from reconciler.manifest.load import build_selector
from reconciler.manifest.model import DeclaredBacktest, KeepPolicy, ProjectSpec
from reconciler.models import Backtest
from reconciler.plan.planner import ProjectState, plan_project

from engine_helpers import UTC

NOW = datetime(2025, 6, 1, tzinfo=UTC)
TAGS = ["protected", "paper", "keep", "wip", "frozen"]
STATUSES = ["completed", "completed", "completed", "failed", "running", "queued", "Build Error"]


@st.composite
def backtests(draw: st.DrawFn) -> list[Backtest]:
    ids = draw(st.lists(st.integers(0, 2**128 - 1), min_size=0, max_size=40, unique=True))
    result = []
    for n in ids:
        # minutes over ~2 years before NOW, some in the future, with frequent exact ties
        offset = draw(st.one_of(st.integers(-3000, 1_100_000), st.sampled_from([0, 60, 1440, 10080])))
        stats = draw(st.one_of(st.just({}), st.fixed_dictionaries({"sharpeRatio": st.floats(-3, 3, allow_nan=False)})))
        result.append(Backtest(
            id=f"{n:032x}", project_id=1, name=draw(st.sampled_from(["scratch-1", "release-2", "Smooth Fox", "Alpha"])),
            created=NOW - timedelta(minutes=offset), status=draw(st.sampled_from(STATUSES)), tags=tuple(draw(st.lists(st.sampled_from(TAGS), max_size=2, unique=True))),
            optimization_id=draw(st.sampled_from([None, "O-1"])), statistics=stats,
        ))
    return result


selectors = st.fixed_dictionaries({}, optional={
    "name": st.sampled_from(["scratch-*", "release-*", "*Fox", ["Alpha", "scratch-?"]]),
    "tags": st.lists(st.sampled_from(TAGS), min_size=1, max_size=2, unique=True),
    "status": st.sampled_from(["completed", "failed", ["failed", "completed"]]),
    "older_than": st.sampled_from(["90m", "3d", "2w"]),
    "newer_than": st.sampled_from(["30d", "52w"]),
    "optimization": st.booleans(),
    "stats": st.sampled_from([{"sharpeRatio": "< 0"}, {"sharpeRatio": ">= 1"}]),
}).filter(bool).map(build_selector)

keep_policies = st.one_of(
    st.builds(lambda kind, n: KeepPolicy(kind, count=n, text=kind), st.sampled_from(["last", "hourly", "daily", "weekly", "monthly", "yearly"]), st.integers(1, 6)),
    st.builds(lambda d: KeepPolicy("within", within=timedelta(days=d), text=f"within {d}d"), st.integers(1, 400)),
    st.builds(lambda n, order: KeepPolicy("best", count=n, by="sharpeRatio", order=order, text="best"), st.integers(1, 4), st.sampled_from(["asc", "desc"])),
    st.builds(lambda s: KeepPolicy("match", match=(s,), text="match"), selectors),
)


@st.composite
def scenario(draw: st.DrawFn) -> tuple[ProjectSpec, list[Backtest]]:
    live = draw(backtests())
    declared_ids = draw(st.lists(st.sampled_from([b.id for b in live]), unique=True, max_size=4)) if live else []
    declared = tuple(DeclaredBacktest(id=i, name=draw(st.sampled_from([None, "Declared"])), tags=draw(st.sampled_from([None, ("paper",)]))) for i in declared_ids)
    spec = ProjectSpec(
        id=1, name=None, prune=draw(st.booleans()), protect_tags=tuple(draw(st.lists(st.sampled_from(TAGS), max_size=2, unique=True))),
        backtests=declared, protect=tuple(draw(st.lists(selectors, max_size=2))), delete=tuple(draw(st.lists(selectors, max_size=2))),
        keep=tuple(draw(st.lists(keep_policies, max_size=4))),
    )
    return spec, live


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
            assert not set(b.tags) & set(spec.protect_tags)
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
    wider = ProjectSpec(**{**spec.__dict__, "keep": (*spec.keep, extra)})
    after = {d.backtest.id for d in decide(wider, live, NOW) if d.action == DELETE}
    assert after <= before


@SETTINGS
@given(scenario())
def test_without_prune_only_delete_rules_delete(case: tuple[ProjectSpec, list[Backtest]]) -> None:
    spec, live = case
    no_prune = ProjectSpec(**{**spec.__dict__, "prune": False})
    for decision in decide(no_prune, live, NOW):
        if decision.action == DELETE:
            assert len(decision.reasons) == 1 and decision.reasons[0].startswith("delete[")


@SETTINGS
@given(scenario())
def test_plan_guard_refuses_emptying_a_project(case: tuple[ProjectSpec, list[Backtest]]) -> None:
    spec, live = case
    project = plan_project(ProjectState(spec, 1, "p", live), NOW)
    deletes = project.count(DELETE)
    assert bool(project.errors) == (deletes > 0 and deletes == len(live) and not spec.allow_empty)
    assert all(e.observed is not None for e in project.entries if e.action != KEEP)
    allowed = plan_project(ProjectState(ProjectSpec(**{**spec.__dict__, "allow_empty": True}), 1, "p", live), NOW)
    assert allowed.errors == []
