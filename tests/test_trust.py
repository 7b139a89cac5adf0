"""No delete that nobody reviewed (issue 16): each path reproduced first, then shown closed.

Against the sandbox over real HTTP, or against the hostile server of tests/hostile.py
where an answer must be shaped as no sandbox would shape it. Where a change must land
at an exact moment (while orders are paged, while an archive is written), the real
client is subclassed to make that change after its real call: the network is never faked.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any, Callable

import pytest
import requests
from conftest import FAST_RETRY, SANDBOX_CREDENTIALS
from test_sandbox import signed_headers

from reconciler.api.client import QuantConnectClient
from reconciler.apply.executor import ExecutionSettings, Executor
from reconciler.apply.preflight import preflight
from reconciler.apply.records import Archive, Journal
from reconciler.live import fetch_states, reread_live
from reconciler.manifest.load import load_manifest
from reconciler.models import Outcome
from reconciler.plan.planner import build_plan
from reconciler.sandbox.server import SandboxServer
from reconciler.timeutil import parse_datetime

from helpers import cli_env, reason_texts, run_cli
from hostile import HostileServer, Reply, ok, summary

NOW = "2026-11-28T00:00:00Z"
P = 1


def seeded(start_sandbox: Callable[..., SandboxServer], count: int = 12, tags: Callable[[int], list[str]] = lambda n: []) -> SandboxServer:
    backtests = [{"backtestId": f"{n:032x}", "name": f"run {n}", "created": f"2026-01-{1 + n // 24:02d} {n % 24:02d}:00:00", "status": "Completed.",
                  "tags": tags(n), "statistics": {"trades": 3}} for n in range(1, count + 1)]
    return start_sandbox(state={"projects": [{"projectId": P, "name": "P", "backtests": backtests}]})


def write(tmp_path: Path, text: str, name: str = "m.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def live_ids(server: SandboxServer) -> set[str]:
    return {b.backtest_id for b in server.store.backtests(P)}


KEEP_TWO = "version: 1\nprojects:\n  - id: 1\n    prune: true\n    keep: [{last: 2}]\n"


class Recording(QuantConnectClient):
    """The real client; it notes when each list, read and delete was sent, and may run a hook after a real call."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.log: list[tuple[float, str, str]] = []
        self.hooks: dict[str, Callable[[str], None]] = {}
        self._log_lock = threading.Lock()

    def _note(self, what: str, backtest_id: str = "") -> None:
        with self._log_lock:
            self.log.append((time.monotonic(), what, backtest_id))

    def list_backtests(self, project_id: int, include_statistics: bool = False) -> Any:
        self._note("list")
        return super().list_backtests(project_id, include_statistics)

    def read_backtest_raw(self, project_id: int, backtest_id: str) -> Any:
        self._note("read", backtest_id)
        return super().read_backtest_raw(project_id, backtest_id)

    def _until_ready(self, endpoint: str, payload: dict[str, Any], key: str | None = None) -> Any:
        body = super()._until_ready(endpoint, payload, key)
        if endpoint == "backtests/orders/read":  # one page of orders
            self._note("orders", payload["backtestId"])
            self.hooks.get("orders", lambda bid: None)(payload["backtestId"])
        return body

    def delete_backtest(self, project_id: int, backtest_id: str) -> None:
        self._note("delete", backtest_id)
        super().delete_backtest(project_id, backtest_id)


def run_apply(client: QuantConnectClient, manifest: Path, tmp_path: Path, *, archive: Archive | None = None, parallelism: int = 2,
              executor_hook: Callable[[Executor], None] | None = None) -> Any:
    loaded = load_manifest([manifest])
    plan = build_plan(fetch_states(client, loaded.projects), parse_datetime(NOW), manifest_digest=loaded.digest, api_url=client.api_url,
                      declared_anywhere=loaded.declared_anywhere)
    assert not plan.errors, plan.errors
    checked = preflight(plan, reread_live(client, plan))
    assert not checked.stale and not checked.unsafe, (checked.stale, checked.unsafe)
    journal = Journal(tmp_path / "journal.jsonl")
    executor = Executor(client, journal, archive, ExecutionSettings(parallelism=parallelism))
    if executor_hook is not None:
        executor_hook(executor)
    try:
        return executor.run(plan, checked.tasks)
    finally:
        journal.close()


# --- 1. a read carries no tags ------------------------------------------------------------------


def test_a_read_carries_no_tags_as_on_the_real_service(start_sandbox: Callable[..., SandboxServer]) -> None:
    """LEAN's Backtest (the read) has no Tags; its BacktestSummary (a list row) has them: the sandbox answers the same."""
    server = seeded(start_sandbox, 2, lambda n: ["research", "v2"])
    bid = f"{1:032x}"
    read = requests.post(f"{server.url}/backtests/read", json={"projectId": P, "backtestId": bid}, headers=signed_headers(), timeout=10).json()
    assert read["success"] is True and "tags" not in read["backtest"] and read["backtest"]["note"] == ""
    listed = requests.post(f"{server.url}/backtests/list", json={"projectId": P}, headers=signed_headers(), timeout=10).json()
    assert next(b for b in listed["backtests"] if b["backtestId"] == bid)["tags"] == ["research", "v2"]


def test_a_reviewed_plan_of_tagged_backtests_is_not_stale(start_sandbox: Callable[..., SandboxServer], tmp_path: Path) -> None:
    """Every tagged backtest of a reviewed plan was refused as stale ("tags was [research, v2], is now []")."""
    server = seeded(start_sandbox, 6, lambda n: ["research", "v2"])
    manifest = write(tmp_path, KEEP_TWO)
    env = cli_env(server.url)
    assert run_cli("plan", str(manifest), "--now", NOW, "--out", str(tmp_path / "plan.json"), env=env, cwd=tmp_path).returncode == 0
    applied = run_cli("apply", "--plan", str(tmp_path / "plan.json"), str(manifest), env=env, cwd=tmp_path)
    assert applied.returncode == 0, applied.stdout[-2000:] + applied.stderr
    assert "4 deleted (4 archived)" in applied.stdout
    assert live_ids(server) == {f"{5:032x}", f"{6:032x}"}


def test_tagged_protected_while_apply_runs_is_not_deleted(start_sandbox: Callable[..., SandboxServer], tmp_path: Path) -> None:
    """Tagged `protected` after preflight, with reads that carry no tags: the last check's list sees it."""
    server = seeded(start_sandbox, 6)
    victim = f"{1:032x}"
    client = Recording(SANDBOX_CREDENTIALS, server.url, retry=FAST_RETRY)

    def protect_before_the_first_delete_check(executor: Executor) -> None:
        server.store.update_backtest(P, victim, tags=[" Protected"])

    execution = run_apply(client, write(tmp_path, KEEP_TWO), tmp_path, archive=None, parallelism=1, executor_hook=protect_before_the_first_delete_check)
    outcome = {r.backtest_id: r for r in execution.results}[victim]
    assert outcome.outcome == Outcome.SKIPPED and "tags was [], is now [ Protected]" in (outcome.skip_reason or "") and outcome.error is None
    assert victim in live_ids(server)
    client.close()


def test_one_recent_list_serves_every_delete_within_two_seconds(start_sandbox: Callable[..., SandboxServer], tmp_path: Path) -> None:
    """The tags each delete is checked against come from a list sent at most 2 s before the delete; one list serves many."""
    server = seeded(start_sandbox, 30)
    client = Recording(SANDBOX_CREDENTIALS, server.url, retry=FAST_RETRY)
    execution = run_apply(client, write(tmp_path, KEEP_TWO), tmp_path, archive=Archive(tmp_path / "archive", full=False), parallelism=4)
    deletes = [(at, bid) for at, what, bid in client.log if what == "delete"]
    assert len(deletes) == 28 and all(r.outcome == Outcome.DELETED for r in execution.results)
    checks = [at for at, what, _ in client.log if what == "list"][2:]  # after planning's list and preflight's
    assert 1 <= execution.list_calls == len(checks) < len(deletes)
    for sent, bid in deletes:
        assert any(0 <= sent - listed <= 2.0 for listed in checks), (bid, sent, checks)
    client.close()


def test_a_slow_archive_write_means_a_new_list_before_the_delete(start_sandbox: Callable[..., SandboxServer], tmp_path: Path) -> None:
    """Writing a large archive can take longer than the window: the check is made again, on a new list, before the call."""
    server = seeded(start_sandbox, 3)
    client = Recording(SANDBOX_CREDENTIALS, server.url, retry=FAST_RETRY)

    class SlowArchive(Archive):
        def write(self, *args: Any, **kwargs: Any) -> Path:
            time.sleep(0.4)
            return super().write(*args, **kwargs)

    def narrow(executor: Executor) -> None:
        executor.recent_lists.max_age = 0.3

    execution = run_apply(client, write(tmp_path, KEEP_TWO), tmp_path, archive=SlowArchive(tmp_path / "archive", full=False), parallelism=1,
                          executor_hook=narrow)
    (result,) = execution.results
    assert result.outcome == Outcome.DELETED and result.archive
    (sent,) = [at for at, what, _ in client.log if what == "delete"]
    last_list = max(at for at, what, _ in client.log if what == "list" and at < sent)
    assert sent - last_list <= 0.3 and execution.list_calls == 2
    client.close()


# --- 5. the order of a delete ---------------------------------------------------------------------


def test_tagged_protected_while_its_orders_are_paged_is_not_deleted(start_sandbox: Callable[..., SandboxServer], tmp_path: Path) -> None:
    """The last check ran before the archive was fetched: a backtest protected during paging was deleted anyway."""
    server = seeded(start_sandbox, 4)
    client = Recording(SANDBOX_CREDENTIALS, server.url, retry=FAST_RETRY)
    victim = f"{1:032x}"

    def while_paging(bid: str) -> None:  # tagged while its orders are paged, and paging goes on for longer than the window
        if bid == victim:
            server.store.update_backtest(P, bid, tags=["protected"])
            time.sleep(0.4)

    def narrow(executor: Executor) -> None:  # the 2 s window and tens of seconds of paging, scaled down
        executor.recent_lists.max_age = 0.3

    client.hooks["orders"] = while_paging
    execution = run_apply(client, write(tmp_path, KEEP_TWO), tmp_path, archive=Archive(tmp_path / "archive"), parallelism=1, executor_hook=narrow)
    outcomes = {r.backtest_id: r for r in execution.results}
    assert outcomes[victim].outcome == Outcome.SKIPPED and victim in live_ids(server)
    assert not (tmp_path / "archive" / str(P) / f"{victim}.json").exists()  # checked before its archive was written
    other = f"{2:032x}"
    assert outcomes[other].outcome == Outcome.DELETED
    # nothing but the journal write between the last check (a read) and the delete call
    calls = [(what, bid) for _, what, bid in client.log]
    at = calls.index(("delete", other))
    assert calls[at - 1] == ("read", other) and ("orders", other) in calls[:at - 1]
    client.close()


# --- 6. an archive is complete only with everything the API said exists --------------------------

BID = "26c7bb06b8487cff1c7b3c44652b30f1"


def _orders(start: int, end: int, total: int) -> list[dict[str, Any]]:
    return [{"id": n + 1, "symbol": {"value": "SPY"}, "quantity": 1, "type": 0, "status": 3} for n in range(start, min(end, total))]


def _archive_one(hostile: HostileServer, tmp_path: Path, *, orders: Callable[[dict], Reply], charts: Any = None,
                 chart: Callable[[dict], Reply] | None = None, total: str | None = "500") -> Any:
    statistics = {"Total Orders": total} if total is not None else {}
    read = {**summary(BID), "projectId": 1, "note": "", "statistics": statistics,
            "charts": {"Strategy Equity": {"name": "Strategy Equity"}} if charts is None else charts}
    read.pop("tags")
    hostile.routes["backtests/list"] = lambda p: ok(backtests=[summary(BID)])
    hostile.routes["backtests/read"] = lambda p: ok(backtest=read)
    hostile.routes["backtests/chart/read"] = chart or (lambda p: ok(chart={"name": p["name"], "series": {"Equity": {"name": "Equity", "values": [[1, 2.0]]}}}))
    hostile.routes["backtests/orders/read"] = orders
    hostile.routes["backtests/read/insights"] = lambda p: Reply(200, {"success": True, "insights": [], "length": 0})
    hostile.routes["backtests/delete"] = lambda p: ok()
    manifest = write(tmp_path, "version: 1\nprojects:\n  - id: 1\n    delete: [{name: 'run*'}]\n    allow_empty: true\n")
    client = QuantConnectClient(SANDBOX_CREDENTIALS, hostile.url, retry=FAST_RETRY)
    try:
        (result,) = run_apply(client, manifest, tmp_path, archive=Archive(tmp_path / "archive"), parallelism=1).results
    finally:
        client.close()
    return result


def test_pages_of_fifty_are_read_to_the_last_order(hostile: HostileServer, tmp_path: Path) -> None:
    """A server paging by 50 got 50 of 500 orders archived, then the delete."""
    result = _archive_one(hostile, tmp_path, orders=lambda p: Reply(200, {"orders": _orders(p["start"], min(p["end"], p["start"] + 50), 500), "length": 50}))
    assert result.outcome == Outcome.DELETED
    archived = json.loads(Path(result.archive).read_text())
    assert [o["id"] for o in archived["orders"]] == list(range(1, 501))


@pytest.mark.parametrize("case, fragment", [
    ("fewer orders than Total Orders", "50 of 500 orders were read"),
    ("no orders at all", "0 of 500 orders were read"),
    ("fewer orders than length", "50 of 80 orders were read"),
    ("charts as a list", "the read lists its charts in a shape other than an object keyed by name"),
    ("a chart without points", "chart 'Strategy Equity' has no points"),
])
def test_an_incomplete_archive_is_never_followed_by_a_delete(hostile: HostileServer, tmp_path: Path, case: str, fragment: str) -> None:
    """Each ended "1 deleted (1 archived)": after the delete the archive is the only copy."""
    def orders(p: dict) -> Reply:
        return Reply(200, {"orders": _orders(p["start"], p["end"], 50), "length": 50})
    kwargs: dict[str, Any] = {}
    if case == "no orders at all":
        orders = lambda p: Reply(200, {"orders": [], "length": 0})  # noqa: E731
    elif case == "fewer orders than length":
        orders = lambda p: Reply(200, {"orders": _orders(p["start"], p["end"], 50), "length": 80})  # noqa: E731
        kwargs["total"] = None
    elif case == "charts as a list":
        kwargs["charts"] = ["Strategy Equity"]
    elif case == "a chart without points":
        orders = lambda p: Reply(200, {"orders": _orders(p["start"], p["end"], 500), "length": 500})  # noqa: E731
        kwargs["chart"] = lambda p: ok(chart={"name": p["name"], "series": {"Equity": {"name": "Equity", "values": []}}})
    result = _archive_one(hostile, tmp_path, orders=orders, **kwargs)
    assert result.outcome == Outcome.FAILED and "archive incomplete, not deleted" in (result.error or "") and fragment in (result.error or ""), result
    assert hostile.calls("backtests/delete") == [] and not list((tmp_path / "archive").rglob("*.json"))


# --- 4. a saved plan is re-checked against the manifest given -------------------------------------


def test_rules_edited_inside_a_saved_plan_are_not_trusted(start_sandbox: Callable[..., SandboxServer], tmp_path: Path) -> None:
    """A plan file edited to empty `protect` and `declared` (digest kept) deleted a declared and a release-* backtest."""
    server = seeded(start_sandbox, 8)
    declared, release = f"{1:032x}", f"{2:032x}"
    server.store.update_backtest(P, release, name="release-1.0")
    manifest = write(tmp_path, f"""version: 1
projects:
  - id: 1
    prune: true
    protect: [{{name: "release-*"}}]
    backtests: [{{id: "{declared}"}}]
    keep: [{{last: 2}}]
""")
    env = cli_env(server.url)
    saved = tmp_path / "plan.json"
    assert run_cli("plan", str(manifest), "--now", NOW, "--out", str(saved), env=env, cwd=tmp_path).returncode == 0
    plan = json.loads(saved.read_text())
    project = plan["projects"][0]
    project["rules"]["protect"], project["declared"], plan["declared_anywhere"] = [], [], {}
    for entry in project["backtests"]:
        if entry["id"] in (declared, release):
            entry.update(action="delete", reasons=[{"rule": "prune"}], changes=[], observed={"name": entry["name"], "tags": entry["tags"], "status": entry["status"]})  # noqa: E501
    saved.write_text(json.dumps(plan))
    before = live_ids(server)
    result = run_cli("apply", "--plan", str(saved), str(manifest), env=env, cwd=tmp_path)
    assert result.returncode == 1 and "nothing was applied" in result.stderr
    assert f"{declared}: refusing to delete: it is kept by declared\n" in result.stderr
    assert f"{release}: refusing to delete: it is kept by protect[0] (name release-*)" in result.stderr
    assert live_ids(server) == before


def test_a_saved_plan_for_a_project_the_manifest_does_not_list_is_refused(start_sandbox: Callable[..., SandboxServer], tmp_path: Path) -> None:
    server = seeded(start_sandbox, 5)
    manifest = write(tmp_path, KEEP_TWO)
    env = cli_env(server.url)
    saved = tmp_path / "plan.json"
    assert run_cli("plan", str(manifest), "--now", NOW, "--out", str(saved), env=env, cwd=tmp_path).returncode == 0
    plan = json.loads(saved.read_text())
    plan["projects"][0]["project_id"] = 2  # the digest kept, the project swapped
    saved.write_text(json.dumps(plan))
    result = run_cli("apply", "--plan", str(saved), str(manifest), env=env, cwd=tmp_path)
    assert result.returncode == 1 and "changes project P (2), which the manifest does not list; nothing was applied" in result.stderr


# --- 2 and 3. labels never change a decision, and settle -------------------------------------------

#: case -> (the victim's tags, the project's rules, the label): each rule keeps the victim, each label takes that away.
LABEL_CASES = {
    "renamed out of protect": (
        [],
        'prune: true\n    keep: [{last: 2}]\n    protect: [{name: "release-*"}]',
        '{match: {name: "release-*"}, name: "shipped {id}"}',
    ),
    "keep tag removed": (["keep"], "prune: true\n    keep: [{last: 2}, {match: {tags: [keep]}}]", "{match: {tags: [keep]}, tags: {remove: [keep]}}"),
    "protected removed": (["protected"], "prune: true\n    keep: [{last: 2}]", "{match: {tags: [protected]}, tags: {remove: [protected]}}"),
    "renamed into delete": ([], 'prune: false\n    delete: [{name: "old-*"}]', '{match: {name: "release-*"}, name: "old-{id}"}'),
}


@pytest.mark.parametrize("case", list(LABEL_CASES))
def test_a_label_that_would_make_a_kept_backtest_deletable_is_a_plan_error(start_sandbox: Callable[..., SandboxServer], tmp_path: Path, case: str) -> None:
    """The first apply only renamed or retagged (all the reviewer saw); the second apply, same manifest, deleted."""
    victim_tags, rules, label = LABEL_CASES[case]
    server = seeded(start_sandbox, 6, lambda n: victim_tags if n == 1 else [])
    victim = f"{1:032x}"
    server.store.update_backtest(P, victim, name="release-1.0")
    manifest = write(tmp_path, f"version: 1\nprojects:\n  - id: 1\n    {rules}\n    label: [{label}]\n")
    env = cli_env(server.url)
    planned = run_cli("plan", str(manifest), "--now", NOW, env=env, cwd=tmp_path)
    assert planned.returncode == 1, planned.stdout
    kept_by = {
        "renamed out of protect": "protect[0] (name release-*)",
        "keep tag removed": "keep[1] (match tags keep)",
        "protected removed": "protect_tags (protected)",
        "renamed into delete": "unmanaged",
    }[case]
    assert f"label[0] takes away what keeps backtest {victim} ({kept_by}): the next plan would delete it (" in planned.stdout, planned.stdout
    before = {b.backtest_id: (b.name, b.tags) for b in server.store.backtests(P)}
    applied = run_cli("apply", str(manifest), "--now", NOW, "--yes", env=env, cwd=tmp_path)
    assert applied.returncode == 1 and "nothing was applied" in applied.stderr
    assert {b.backtest_id: (b.name, b.tags) for b in server.store.backtests(P)} == before


def test_a_label_that_never_settles_is_a_plan_error(start_sandbox: Callable[..., SandboxServer], tmp_path: Path) -> None:
    """`[fast=...] {name}` renamed again on every apply until the name passed 200 characters."""
    server = start_sandbox(
        state={
            "projects": [
                {
                    "projectId": P,
                    "name": "P",
                    "backtests": [
                        {
                            "backtestId": f"{1:032x}",
                            "name": "Smooth Fox",
                            "created": "2026-01-01 10:00:00",
                            "status": "Completed.",
                            "parameterSet": {"fast": "10"},
                        }
                    ],
                }
            ]
        }
    )
    manifest = write(tmp_path, "version: 1\nprojects:\n  - id: 1\n    label: [{match: {name: '*'}, name: '[fast={parameters.fast}] {name}'}]\n")
    planned = run_cli("plan", str(manifest), "--now", NOW, env=cli_env(server.url), cwd=tmp_path)
    assert planned.returncode == 1
    assert (
        f"label[0] does not settle on backtest {1:032x}: applied twice it gives another value "
        "(the next plan would set name '[fast=10] Smooth Fox' -> '[fast=10] [fast=10] Smooth Fox')"
    ) in planned.stdout


def test_a_label_that_settles_and_keeps_every_decision_plans_normally(start_sandbox: Callable[..., SandboxServer], tmp_path: Path) -> None:
    server = seeded(start_sandbox, 4)
    manifest = write(
        tmp_path, "version: 1\nprojects:\n  - id: 1\n    keep: [{last: 2}]\n    label: [{match: {name: 'run*'}, name: 'run {id}', tags: {add: [seen]}}]\n"
    )
    env = cli_env(server.url)
    planned = run_cli("plan", str(manifest), "--now", NOW, "--detailed-exitcode", env=env, cwd=tmp_path)
    assert planned.returncode == 2 and "4 to update" in planned.stdout
    assert run_cli("apply", str(manifest), "--now", NOW, "--yes", env=env, cwd=tmp_path).returncode == 0
    assert run_cli("plan", str(manifest), "--now", NOW, "--detailed-exitcode", env=env, cwd=tmp_path).returncode == 0


# --- 7. input from the account or the manifest is an error, never a crash -------------------------


@pytest.mark.parametrize("value, line", [("null", "nothing (null)"), ("[1]", "a list"), ("{a: 1}", "a mapping")])
def test_parameter_selector_values_that_are_not_values_are_refused_with_their_line(tmp_path: Path, value: str, line: str) -> None:
    manifest = write(tmp_path, f"version: 1\nprojects:\n  - id: 1\n    delete:\n      - parameters: {{useStop: {value}}}\n")
    result = run_cli("validate", str(manifest))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"{manifest}:5 projects[0].delete[0].parameters.useStop: must be a string, a number or true or false, got {line}" in result.stderr


def test_boolean_parameters_compare_as_section_two_says(start_sandbox: Callable[..., SandboxServer], tmp_path: Path) -> None:
    """QuantConnect parameters are often booleans, kept as given: "True" from the web IDE, true from API clients."""
    values = ["True", "true", " TRUE", "False", "1", "yes"]
    server = start_sandbox(
        state={
            "projects": [
                {
                    "projectId": P,
                    "name": "P",
                    "backtests": [
                        {
                            "backtestId": f"{n + 1:032x}",
                            "name": f"run {n}",
                            "created": f"2026-01-{n + 1:02d} 10:00:00",
                            "status": "Completed.",
                            "parameterSet": {"useStop": value},
                        }
                        for n, value in enumerate(values)
                    ],
                }
            ]
        }
    )
    manifest = write(tmp_path, "version: 1\nprojects:\n  - id: 1\n    allow_empty: true\n    delete: [{parameters: {useStop: true}}]\n")
    document = json.loads(run_cli("plan", str(manifest), "--now", NOW, "--format", "json", env=cli_env(server.url)).stdout)
    deleted = sorted(int(b["id"], 16) for b in document["projects"][0]["backtests"] if b["action"] == "delete")
    assert deleted == [1, 2, 3]
    assert reason_texts(document["projects"][0]["backtests"][-1]) == ["delete[0] (parameters useStop=true)"]


def test_a_number_format_on_a_parameter_string(start_sandbox: Callable[..., SandboxServer], tmp_path: Path) -> None:
    """The API sends parameter values as strings: `{parameters.fast:.2f}` crashed on "10"; on "abc" it is a plan error."""
    server = start_sandbox(
        state={
            "projects": [
                {
                    "projectId": P,
                    "name": "P",
                    "backtests": [
                        {
                            "backtestId": f"{n:032x}",
                            "name": f"run {n}",
                            "created": f"2026-01-0{n} 10:00:00",
                            "status": "Completed.",
                            "parameterSet": {"fast": fast},
                        }
                        for n, fast in ((1, "10"), (2, "abc"))
                    ],
                }
            ]
        }
    )
    manifest = write(tmp_path, "version: 1\nprojects:\n  - id: 1\n    label: [{match: {name: 'run*'}, name: 'fast {parameters.fast:.2f}'}]\n")
    result = run_cli("plan", str(manifest), "--now", NOW, env=cli_env(server.url))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert '"run 1" -> "fast 10.00"' in result.stdout
    assert f"label[0] cannot label backtest {2:032x}: {{parameters.fast:.2f}} formats a number, and the value is 'abc'" in result.stdout


@pytest.mark.parametrize("where", ["parameterSet", "statistics", "progress"])
def test_integers_beyond_any_float_are_format_errors_naming_the_backtest(hostile: HostileServer, tmp_path: Path, where: str) -> None:
    big = 10**400
    fields = {"parameterSet": {"parameterSet": {"fast": big}}, "statistics": {"sharpeRatio": big}, "progress": {"progress": big}}[where]
    hostile.routes["backtests/list"] = lambda p: ok(backtests=[summary(BID, **fields)])
    manifest = write(tmp_path, "version: 1\nprojects:\n  - id: 1\n    keep: [{best: {by: sharpeRatio, count: 1}}]\n")
    result = run_cli("plan", str(manifest), "--now", NOW, env=cli_env(hostile.url))
    assert result.returncode == 1 and "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert f"backtest {BID} has" in result.stderr and "beyond any plausible value" in result.stderr


def test_years_one_and_9999_draw_in_the_html(tmp_path: Path) -> None:
    """0001-01-01 is .NET's DateTime.MinValue: `plan --format html` exited 3."""
    state = write(
        tmp_path,
        json.dumps(
            {
                "projects": [
                    {
                        "projectId": 1,
                        "name": "P",
                        "backtests": [
                            {"backtestId": f"{n:032x}", "name": f"run {n}", "created": created, "status": "Completed."}
                            for n, created in ((1, "0001-01-01 00:00:00"), (2, "9999-12-31 23:59:59"), (3, "2024-01-01 00:00:00"))
                        ],
                    }
                ]
            }
        ),
        "state.json",
    )
    manifest = write(tmp_path, "version: 1\nprojects:\n  - id: 1\n    keep: [{last: 2}]\n    prune: true\n")
    result = run_cli("plan", str(manifest), "--state", str(state), "--now", NOW, "--format", "html")
    assert result.returncode == 0, result.stderr
    assert ">0001-01</text>" in result.stdout and result.stdout.count('class="mark ') == 3


@pytest.mark.parametrize("depth", [600, 5000])
def test_a_manifest_nested_thousands_of_levels_deep_is_one_line(tmp_path: Path, depth: int) -> None:
    manifest = write(tmp_path, "version: 1\nprojects:\n  - id: 1\n    note: " + "[" * depth + "]" * depth + "\n")
    result = run_cli("validate", str(manifest))
    assert result.returncode == 1 and "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert f"{manifest}:4" in result.stderr and ("nested deeper than 64 levels" in result.stderr or "maximum nesting depth" in result.stderr)


def test_every_delete_of_the_recipes_passes_the_manifest(tmp_path: Path) -> None:
    """Without a manifest, a saved plan's own rules are trusted: the recipes never apply one that way."""
    root = Path(__file__).resolve().parent.parent
    for recipe in (root / "examples" / "ci").glob("*.yml"):
        lines = [line for line in recipe.read_text().splitlines() if "apply --plan" in line and not line.lstrip().startswith("#")]
        assert lines and all("--plan plan.json manifests/" in line for line in lines), recipe


def test_hints_do_what_they_say_when_pasted(start_sandbox: Callable[..., SandboxServer], tmp_path: Path) -> None:
    """After `plan --out` with 148 deletes the hint left out the --max-deletes it needs; after a saved plan it said
    `reconciler plan (same options)`, which makes a new plan."""
    import shlex

    server = seeded(start_sandbox, 150)
    manifest = write(tmp_path, KEEP_TWO)
    env = cli_env(server.url)
    planned = run_cli("plan", str(manifest), "--now", NOW, "--out", str(tmp_path / "plan.json"), env=env, cwd=tmp_path)
    hint = planned.stderr.split("apply exactly this plan with: ", 1)[1].strip()
    assert hint.endswith("--max-deletes 148"), hint
    pasted = run_cli(*shlex.split(hint)[1:], env=env, cwd=tmp_path)
    assert pasted.returncode == 0 and "148 deleted (148 archived)" in pasted.stdout, pasted.stdout[-2000:] + pasted.stderr
    assert f"Every row with its reasons: `reconciler show {tmp_path / 'plan.json'}`, or `apply --show-plan`." in pasted.stdout
