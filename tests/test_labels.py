"""Labels, per-group retention and parameters (issue 12): engine, loader, templates, apply, sandbox."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Callable

import pytest
import requests
from conftest import make_client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_sandbox import signed_headers

from reconciler.api.errors import APIError
from reconciler.engine.labels import label
from reconciler.engine.retention import KEEP, UPDATE, decide, keep_reasons
from reconciler.manifest.build import build_project
from reconciler.manifest.load import ManifestError, load_manifest
from reconciler.manifest.model import DeclaredBacktest
from reconciler.manifest.templates import parse_template
from reconciler.models import Backtest
from reconciler.plan.planner import plan_project
from reconciler.projects import ProjectState
from reconciler.sandbox.server import SandboxServer

from engine_helpers import UTC, bt
from helpers import cli_env, run_cli
from strategies import NOW, backtests, keep_policies

RULES = {"prune": True, "protect_tags": ["protected"], "allow_empty": True, "protect": [], "delete": [], "keep": [], "label": []}


def run(n: int, created: str, *, optimization: str | None = None, sharpe: float | None = None, **parameters: object) -> Backtest:
    base = bt(n, created, optimization=optimization, stats={"sharpeRatio": sharpe} if sharpe is not None else {})
    return replace(base, parameters=parameters)


# --- golden: per optimization, per parameter set -------------------------------------------------


def test_best_per_optimization() -> None:
    timeline = [run(1, "2024-06-01", optimization="O-aaaaaaaa1", sharpe=1.0), run(2, "2024-06-01 00:01", optimization="O-aaaaaaaa1", sharpe=2.0),
                run(3, "2024-06-01 00:02", optimization="O-aaaaaaaa1", sharpe=0.5), run(4, "2024-06-02", optimization="O-bbbbbbbb2", sharpe=0.1),
                run(5, "2024-06-02 00:01", optimization="O-bbbbbbbb2", sharpe=0.2), run(6, "2024-06-03", sharpe=3.0), run(7, "2024-06-04", sharpe=0.0)]
    spec = build_project({**RULES, "keep": [{"best": {"by": "sharpeRatio", "count": 1}, "per": "optimization"}]}, id=1, name=None)
    result = {int(d.backtest.id, 16): (d.action, tuple(map(str, d.reasons))) for d in decide(spec, timeline, datetime(2025, 1, 1, tzinfo=UTC))}
    assert result[2] == (KEEP, ("keep[0] (best sharpeRatio) 1/1 per optimization O-aaaaaa…",))
    assert result[5] == (KEEP, ("keep[0] (best sharpeRatio) 1/1 per optimization O-bbbbbb…",))
    assert result[6] == (KEEP, ("keep[0] (best sharpeRatio) 1/1 per optimization (none)",))  # outside any optimization: one group
    assert [result[n][0] for n in (1, 3, 4, 7)] == ["delete"] * 4


def test_last_per_parameter_set() -> None:
    timeline = [run(1, "2024-06-01", fast=10, slow=50), run(2, "2024-06-02", fast=10, slow=50), run(3, "2024-06-03", fast="10", slow="50.0"),
                run(4, "2024-06-01", fast=20, slow=50), run(5, "2024-06-05"), run(6, "2024-06-06")]
    spec = build_project({**RULES, "keep": [{"last": 1, "per": "parameters"}]}, id=1, name=None)
    result = {int(d.backtest.id, 16): (d.action, tuple(map(str, d.reasons))) for d in decide(spec, timeline, datetime(2025, 1, 1, tzinfo=UTC))}
    assert result[3] == (KEEP, ("keep[0] (last) 1/1 per parameters fast=10 slow=50.0",))  # the set as the backtest ran it
    assert result[2] == (KEEP, ("keep[0] (last) 1/1 per parameters fast=10 slow=50",))
    assert result[4] == (KEEP, ("keep[0] (last) 1/1 per parameters fast=20 slow=50",))
    assert result[6] == (KEEP, ("keep[0] (last) 1/1 per parameters (none)",))  # the empty set is a group
    assert result[1][0] == "delete" and result[5][0] == "delete"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(backtests(), keep_policies, st.sampled_from(["optimization", "parameters"]), st.data())
def test_per_keeps_at_least_what_the_policy_keeps_without_it(live: list[Backtest], policy, per: str, data) -> None:
    """restic's --group-by: every group has its own slots, so grouping never keeps less."""
    live = [replace(b, parameters=data.draw(st.sampled_from([{}, {"fast": 10}, {"fast": 20, "slow": 50}]))) for b in live]
    candidates = sorted(live, key=lambda b: (b.created, b.id), reverse=True)
    plain = set(keep_reasons([policy], candidates, NOW))
    grouped = set(keep_reasons([replace(policy, per=per)], candidates, NOW))
    assert plain <= grouped


def test_parameters_selector_compares_numbers_as_numbers() -> None:
    spec = build_project({**RULES, "prune": False, "delete": [{"parameters": {"fast": 10, "mode": "fast"}}]}, id=1, name=None)
    timeline = [run(1, "2024-01-01", fast="10.0", mode="fast"), run(2, "2024-01-02", fast=10, mode="slow"), run(3, "2024-01-03", mode="fast"),
                run(4, "2024-01-04", fast=10.0, mode="fast")]
    deleted = sorted(int(d.backtest.id, 16) for d in decide(spec, timeline, datetime(2025, 1, 1, tzinfo=UTC)) if d.action == "delete")
    assert deleted == [1, 4]


# --- labels in the engine ---------------------------------------------------------------------------------


def _labelled(rules: list[dict], timeline: list[Backtest]) -> dict[int, tuple[str, tuple[str, ...], list]]:
    spec = build_project({**RULES, "prune": False, "label": rules}, id=1, name=None)
    decisions, errors, _ = label(spec, decide(spec, timeline, datetime(2025, 1, 1, tzinfo=UTC)), datetime(2025, 1, 1, tzinfo=UTC), "Proj", 1)
    assert not errors
    return {int(d.backtest.id, 16): (d.action, tuple(map(str, d.reasons)), [(c.field, c.before, c.after) for c in d.changes]) for d in decisions}


def test_first_matching_rule_that_can_render_labels_it() -> None:
    timeline = [run(1, "2024-01-01 10:00", optimization="O-1", fast=10, slow=50), run(2, "2024-01-02", optimization="O-1", fast=20),
                replace(run(3, "2024-01-03"), status="running", raw_status="Running: 5%")]
    rules = [{"match": {"optimization": True}, "name": "opt fast={parameters.fast} slow={parameters.slow}", "tags": {"add": ["Opt"], "remove": ["wip"]}},
             {"match": {"optimization": True}, "name": "opt fast={parameters.fast} ({project})"},
             {"match": {"status": "running"}, "name": "never"}]
    result = _labelled(rules, timeline)
    assert result[1] == (UPDATE, ("label[0] (optimization true -> name, tags)", "unmanaged"), [("name", "run 1", "opt fast=10 slow=50"), ("tags", [], ["Opt"])])
    assert result[2] == (UPDATE, ("label[1] (optimization true -> name)", "unmanaged"), [("name", "run 2", "opt fast=20 (Proj)")])  # no `slow`: the next rule
    assert result[3][0] == KEEP and result[3][1] == ("in-progress",)  # in progress: never labelled


def test_declared_backtests_are_never_labelled_and_labels_are_idempotent() -> None:
    live = run(1, "2024-01-01", optimization="O-1", fast=10)
    rule = [{"match": {"optimization": True}, "name": "opt {parameters.fast}", "tags": {"add": ["opt"]}}]
    spec = build_project({**RULES, "prune": False, "label": rule}, id=1, name=None, backtests=(DeclaredBacktest(id=live.id, name="Mine"),))
    (decision,), _, _ = label(spec, decide(spec, [live], NOW), NOW, "P", 1)
    assert tuple(map(str, decision.reasons)) == ("declared",) and [c.after for c in decision.changes] == ["Mine"]  # a declaration wins
    after = replace(live, name="opt 10", tags=("OPT ",))  # what apply made of it (the tag in another case)
    plain = build_project({**RULES, "prune": False, "label": rule}, id=1, name=None)
    (again,), _, _ = label(plain, decide(plain, [after], NOW), NOW, "P", 1)
    assert again.action == KEEP  # nothing left to change: plan after apply shows no changes


def test_names_over_200_characters_are_plan_errors_never_cut() -> None:
    state = ProjectState(build_project({**RULES, "prune": False, "label": [{"match": {"name": "*"}, "name": "{name}{name}{name}"}]}, id=1, name=None),
                         1, "P", [replace(run(1, "2024-01-01"), name="x" * 80)])
    project = plan_project(state, NOW)
    assert project.errors == [f"label[0] renders a name of 240 characters for backtest {1:032x}; the API allows 200"]
    assert project.entries[0].action == KEEP


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["fast", "slow", "mode"]), st.one_of(st.text(max_size=20), st.integers(), st.floats(allow_nan=False))),
       st.dictionaries(st.sampled_from(["sharpeRatio", "drawdown", "trades"]), st.floats(allow_nan=False, allow_infinity=False)),
       st.text(max_size=60), st.sampled_from(["{name} {created}", "opt fast={parameters.fast:>4} s={statistics.sharpeRatio:+.3f}",
                                               "{project}/{project_id}/{status}/{optimization}/{id}", "{created:%Y-%m-%d %H:%M:%S}",
                                               "{statistics.trades:,.0f} trades {{literal}}"]))
def test_rendering_never_raises(parameters: dict, statistics: dict, name: str, template: str) -> None:
    b = replace(run(1, "2024-01-01"), name=name, parameters=parameters, statistics=statistics)
    from reconciler.engine.labels import template_values

    rendered = parse_template(template).render(template_values(b, "P", 1))
    assert rendered is None or isinstance(rendered, str)


# --- the loader ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("template, fragment", [
    ("{name.upper}", "no attribute access, indexing or calls"),
    ("{parameters[fast]}", "no attribute access, indexing or calls"),
    ("{__class__}", "unknown field '__class__'"),
    ("{statistics.bogus}", "unknown statistic 'bogus'"),
    ("{statistics.sharpeRatio:s}", "bad format 's'"),
    ("{created:yesterday}", "bad format 'yesterday'"),
    ("{name", "unmatched '{'"),
])
def test_bad_templates_are_load_errors_with_their_line(tmp_path: Path, template: str, fragment: str) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(f"version: 1\nprojects:\n  - id: 1\n    label:\n      - match: {{optimization: true}}\n        name: {json.dumps(template)}\n")
    with pytest.raises(ManifestError) as info:
        load_manifest([path])
    assert f"{path}:6 projects[0].label[0].name: invalid template: " in str(info.value) and fragment in str(info.value)


def test_label_and_per_schema(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("version: 1\nprojects:\n  - id: 1\n    keep: [{last: 1, daily: 2}]\n    label: [{match: {name: a}}]\n")
    with pytest.raises(ManifestError) as info:
        load_manifest([path])
    text = str(info.value)
    assert "keep[0]: each keep entry is exactly one policy" in text and "label[0]: a label rule needs name, note or tags besides match" in text
    path.write_text("version: 1\nprojects:\n  - id: 1\n    keep: [{last: 1, per: optimization}, {best: {by: psr, count: 2}, per: parameters}]\n")
    assert [p.per for p in load_manifest([path]).projects[0].keep] == ["optimization", "parameters"]


# --- end to end: the sandbox, the client, apply ----------------------------------------------------------------


def test_labels_end_to_end_journaled_and_idempotent(demo_sandbox: SandboxServer, tmp_path: Path) -> None:
    manifest = Path(__file__).parent.parent / "examples" / "labels" / "sandbox.yaml"
    planned = json.loads(run_cli("plan", str(manifest), "--format", "json", env=cli_env(demo_sandbox.url)).stdout)
    updates = [b for b in planned["projects"][0]["backtests"] if b["action"] == "update"]
    assert len(updates) > 100 and all(b["reasons"][0]["rule"] == "label" and b["reasons"][0]["index"] == 0 for b in updates)
    refused = run_cli("apply", str(manifest), "--yes", "--max-updates", "10", env=cli_env(demo_sandbox.url), cwd=tmp_path)
    assert refused.returncode == 1 and f"this plan updates {len(updates)} backtests, more than --max-updates 10" in refused.stderr
    result = run_cli("apply", str(manifest), "--yes", "--journal", str(tmp_path / "j.jsonl"), env=cli_env(demo_sandbox.url), cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:]
    lines = [json.loads(line) for line in (tmp_path / "j.jsonl").read_text().splitlines()]
    renames = [line for line in lines if line["phase"] == "done" and line["step"] == "update"]  # the name step; tags are their own step
    assert len(renames) == len(updates) and all(line["before"]["name"] != line["after"]["name"] for line in renames)  # the old value is kept
    row = demo_sandbox.store.backtest(23456791, updates[0]["id"])
    assert row is not None and row.name.startswith("opt fast=") and "optimization" in row.tags
    again = run_cli("plan", str(manifest), "--detailed-exitcode", env=cli_env(demo_sandbox.url))
    assert again.returncode == 0, again.stdout[-1500:]


def test_parameters_travel_from_create_to_list_to_state_files(demo_sandbox: SandboxServer, tmp_path: Path) -> None:
    client = make_client(demo_sandbox)
    created = client.create_backtest(23456792, "with parameters", parameters={"fast": 10, "slow": "50"})
    listed = {b.id: b for b in client.list_backtests(23456792)}
    assert listed[created.id].parameters == {"fast": 10, "slow": "50"}
    assert all(b.parameters == {} for b in listed.values() if b.id != created.id and not b.optimization_id)
    state = tmp_path / "state.json"
    assert run_cli("snapshot", "--project", "Scratch", "-o", str(state), env=cli_env(demo_sandbox.url)).returncode == 0
    recorded = {b["backtestId"]: b for b in json.loads(state.read_text())["projects"][0]["backtests"]}
    assert recorded[created.id]["parameterSet"] == {"fast": 10, "slow": "50"}
    with pytest.raises(APIError, match="not issued for project 23456792"):  # only compile ids the sandbox issued for the project
        client.call("backtests/create", {"projectId": 23456792, "compileId": "0" * 32 + "-" + "0" * 32, "backtestName": "x"})
    form = requests.post(f"{demo_sandbox.url}/backtests/create", headers=signed_headers(), timeout=10,
                         data={"projectId": 23456792, "compileId": client.compile_project(23456792), "backtestName": "form", "parameters[fast]": "12"})
    assert form.json()["backtest"]["parameterSet"] == {"fast": "12"}  # form fields `parameters[name]`, as a form-encoded create sends them


def test_sandbox_fidelity_for_third_party_clients(start_sandbox: Callable[..., SandboxServer], demo_db: Path) -> None:
    server = start_sandbox(db=demo_db)
    client = make_client(server)
    running = next(b for b in server.store.backtests(23456792) if b.status.startswith("Running"))
    body = client.read_backtest_raw(23456792, running.backtest_id)["backtest"]
    assert body["error"] is None and body["statistics"] == {} and body["charts"] == {}  # lean-cli: a non-null error means finished
    done = next(b for b in server.store.backtests(23456792) if b.status == "Completed.")
    assert client.read_backtest_raw(23456792, done.backtest_id)["backtest"]["statistics"]
    page = client.call("projects/read", {"start": 1, "end": 3})["projects"]
    everything = client.call("projects/read", {})["projects"]
    assert [p["projectId"] for p in page] == [p["projectId"] for p in everything[1:3]]


def test_label_tags_are_trimmed_and_a_tag_both_added_and_removed_is_refused(tmp_path: Path) -> None:
    """`tags: {add: [Opt, "  WIP "], remove: [wip]}` planned `[] -> [Opt,   WIP ]`: neither flagged nor trimmed."""
    contradiction = tmp_path / "bad.yaml"
    contradiction.write_text('version: 1\nprojects:\n  - id: 1\n    label:\n      - match: {name: "*"}\n        tags: {add: [Opt, "  WIP "], remove: [wip]}\n')
    result = run_cli("validate", str(contradiction))
    assert result.returncode == 1
    assert f"{contradiction}:6 projects[0].label[0].tags: tags.add and tags.remove both name wip: keep it in one of them" in result.stderr
    spec = build_project({**RULES, "prune": False, "label": [{"match": {"name": "*"}, "tags": {"add": ["Opt", "  WIP "]}}]}, id=1, name=None)
    (decision,), _, _ = label(spec, decide(spec, [run(1, "2024-01-01")], NOW), NOW, "P", 1)
    assert decision.changes[0].after == ["Opt", "WIP"]


def test_a_note_template_costs_one_read_per_labelled_backtest(start_sandbox, tmp_path) -> None:
    """A note template read every finished backtest of the project (213 reads to label 6)."""
    from helpers import cli_env, run_cli

    backtests = [{"backtestId": f"{n:032x}", "name": f"pick-{n}" if n % 10 == 0 else f"run {n}", "created": f"2026-01-{1 + n % 28:02d} 00:00:{n % 60:02d}",
                  "status": "Completed."} for n in range(1, 61)]
    server = start_sandbox(state={"projects": [{"projectId": 1, "name": "P", "backtests": backtests}]})

    def calls(label: str) -> tuple[int, dict]:
        manifest = tmp_path / "m.yaml"
        manifest.write_text("version: 1\nprojects:\n  - id: 1\n    keep: [{last: 100}]\n" + label)
        result = run_cli("plan", str(manifest), "--now", "2026-11-28T00:00:00Z", "--format", "json", env=cli_env(server.url))
        assert result.returncode == 0, result.stderr
        return int(re.search(r"with (\d+) API call", result.stderr).group(1)), json.loads(result.stdout)

    baseline, _ = calls("")
    with_notes, document = calls('    label: [{match: {name: "pick-*"}, note: "picked {name}"}]\n')
    updates = [b for b in document["projects"][0]["backtests"] if b["action"] == "update"]
    assert len(updates) == 6 and all(b["changes"] == [{"field": "note", "before": "", "after": f"picked {b['name']}"}] for b in updates)
    assert with_notes - baseline == 6  # one read per labelled backtest, none for the 54 others
