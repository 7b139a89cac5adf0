"""What was reviewed is what is deleted: each path of issue 8 where a delete differed from intent, reproduced.

Every test here talks to a real sandbox over HTTP on 127.0.0.1. The few that drive
the executor directly do so to place a change at an exact moment (between the plan
and a delete, between two calls of one update), never to fake the network.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import pytest
from conftest import make_client

from reconciler.api.client import QuantConnectClient
from reconciler.apply.executor import ExecutionSettings, Executor
from reconciler.apply.preflight import Task, last_check, preflight
from reconciler.apply.records import Archive, Journal
from reconciler.live import fetch_states, reread_live
from reconciler.manifest.load import load_manifest
from reconciler.models import Action, Outcome
from reconciler.plan.planner import build_plan
from reconciler.sandbox.server import Faults, SandboxServer
from reconciler.sandbox.store import SandboxStore

from helpers import cli_env, reason_texts, run_cli, run_in_pty

SCRATCH, MOMENTUM = 23456792, 23456789
NOW = "2026-11-28T00:00:00Z"


def ids(store: SandboxStore, project_id: int) -> set[str]:
    return {b.backtest_id for b in store.backtests(project_id)}


def write(tmp_path: Path, text: str, name: str = "m.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def apply_cli(server: SandboxServer, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli("apply", *args, "--journal", str(tmp_path / "journal.jsonl"), "--archive-dir", str(tmp_path / "archive"),
                   env=cli_env(server.url), cwd=tmp_path)


# --- 1. one project, listed twice ------------------------------------------------------------


def test_project_listed_by_id_and_by_name_is_an_error_naming_both_places(demo_sandbox: SandboxServer, tmp_path: Path) -> None:
    """It passed validate and planned 0 or 2,442 deletes from run to run on a 1,240-backtest project."""
    a = write(tmp_path, "version: 1\nprojects:\n  - id: 23456792\n    prune: true\n    keep: [{last: 5}]\n", "a.yaml")
    b = write(tmp_path, "version: 1\nprojects:\n  - name: Scratch\n    keep: [{last: 50}]\n", "b.yaml")
    assert run_cli("validate", str(tmp_path)).returncode == 0  # names resolve only against the API
    before = ids(demo_sandbox.store, SCRATCH)
    for command in (["plan", str(tmp_path)], ["apply", str(tmp_path), "--yes"]):
        result = run_cli(*command, env=cli_env(demo_sandbox.url), cwd=tmp_path)
        assert result.returncode == 1
        assert f"project 23456792 is listed twice in the manifest: as 23456792 at {a}:3 and as 'Scratch' at {b}:3" in result.stderr
        assert "Traceback" not in result.stderr
    assert ids(demo_sandbox.store, SCRATCH) == before
    # offline too: a recorded state resolves names the same way
    state = tmp_path / "state.json"
    assert run_cli("snapshot", "--project", "Scratch", "-o", str(state), env=cli_env(demo_sandbox.url)).returncode == 0
    offline = run_cli("plan", str(a), str(b), "--state", str(state))
    assert offline.returncode == 1 and "is listed twice in the manifest" in offline.stderr


def test_same_id_in_two_files_fails_validate(tmp_path: Path) -> None:
    a = write(tmp_path, "version: 1\nprojects:\n  - id: 5\n", "a.yaml")
    b = write(tmp_path, "version: 1\nprojects:\n  - id: 6\n  - id: 5\n", "b.yaml")
    result = run_cli("validate", str(tmp_path))
    assert result.returncode == 1 and f"{b}:4 projects[1].id: project 5 is listed twice (first at {a}:3)" in result.stderr


# --- 2. a backtest declared under the wrong project -------------------------------------------


def test_backtest_declared_in_another_project_is_never_deleted(demo_sandbox: SandboxServer, tmp_path: Path) -> None:
    """It was deleted by prune in the project where it lives; the plan only said it "does not exist"."""
    store = demo_sandbox.store
    victim = min(store.backtests(SCRATCH), key=lambda b: b.created)  # the oldest: prune would take it
    manifest = write(tmp_path, f"""version: 1
projects:
  - id: {MOMENTUM}
    backtests:
      - id: {victim.backtest_id}
        name: Cited in the memo
  - id: {SCRATCH}
    prune: true
    keep: [{{last: 3}}]
""")
    planned = run_cli("plan", str(manifest), "--format", "json", env=cli_env(demo_sandbox.url))
    document = json.loads(planned.stdout)
    scratch = next(p for p in document["projects"] if p["project_id"] == SCRATCH)
    entry = next(b for b in scratch["backtests"] if b["id"] == victim.backtest_id)
    assert (entry["action"], reason_texts(entry)) == ("keep", [f"declared in project {MOMENTUM}"])
    momentum = next(p for p in document["projects"] if p["project_id"] == MOMENTUM)
    assert momentum["warnings"] == [f"declared backtest {victim.backtest_id} lives in project Scratch ({SCRATCH}), not in this one: "
                                    "it is kept there and not reconciled; move the declaration to that project"]
    result = apply_cli(demo_sandbox, tmp_path, str(manifest), "--yes")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    assert victim.backtest_id in ids(store, SCRATCH)
    assert len(ids(store, SCRATCH)) < 60  # prune did run around it
    strict = run_cli("plan", str(manifest), "--strict", env=cli_env(demo_sandbox.url))
    assert strict.returncode == 1 and f"lives in project Scratch ({SCRATCH})" in strict.stdout


# --- 3. Protected, PROTECTED, " protected" ---------------------------------------------------


def test_protect_tags_compare_case_insensitively(start_sandbox: Callable[..., SandboxServer], tmp_path: Path) -> None:
    """`Protected`, `PROTECTED` and ` protected` were deleted; so were runs tagged `Paper` under protect_tags: [paper]."""
    spellings = ["Protected", "PROTECTED", " protected", "protected ", "Paper", "keep"]
    backtests = [{"backtestId": f"{n:032x}", "name": f"run {n}", "created": f"2026-01-{n:02d} 10:00:00", "status": "Completed.",
                  "tags": [spellings[n - 1]] if n <= len(spellings) else []} for n in range(1, 11)]
    server = start_sandbox(state={"projects": [{"projectId": 1, "name": "P", "backtests": backtests}]})
    manifest = write(tmp_path, """version: 1
projects:
  - id: 1
    prune: true
    protect_tags: [PAPER]
    keep: [{last: 1}, {match: {tags: [" KEEP"]}}]
    backtests:
      - id: 0000000000000000000000000000000a
        tags: [Declared]
""")
    document = json.loads(run_cli("plan", str(manifest), "--format", "json", env=cli_env(server.url)).stdout)
    decisions = {int(b["id"], 16): (b["action"], reason_texts(b)) for b in document["projects"][0]["backtests"]}
    for n in range(1, 5):
        assert decisions[n] == ("keep", ["protect_tags (protected)"]), (n, decisions[n])
    assert decisions[5] == ("keep", ["protect_tags (paper)"])
    assert decisions[6] == ("keep", ["keep[1] (match tags  KEEP)"])
    assert decisions[7][0] == "delete"
    result = apply_cli(server, tmp_path, str(manifest), "--yes")
    assert result.returncode == 0, result.stdout[-2000:]
    assert {int(i, 16) for i in ids(server.store, 1)} == {1, 2, 3, 4, 5, 6, 9, 10}  # 9: last 1/1; 10: declared
    # a declared tag set that differs only in case or spaces is no change
    server.store.update_backtest(1, f"{10:032x}", tags=["declared "])
    again = run_cli("plan", str(manifest), "--detailed-exitcode", env=cli_env(server.url))
    assert again.returncode == 0, again.stdout


# --- 5. the last check before every delete ---------------------------------------------------

LAST_CHECK_MANIFEST = """version: 1
projects:
  - id: 23456792
    prune: true
    protect:
      - name: "release-*"
    keep:
      - last: 3
      - match: {tags: [keep]}
"""


def _three_late_changes(store: SandboxStore, victims: list[str]) -> None:
    """After the plan: tag one `Protected`, rename one to match `protect`, tag one for keep `match`."""
    store.update_backtest(SCRATCH, victims[0], tags=["Protected"])
    store.update_backtest(SCRATCH, victims[1], name="release-9.9")
    store.update_backtest(SCRATCH, victims[2], tags=["KEEP"])


@pytest.mark.parametrize("archive", [True, False], ids=["archive", "no-archive"])
def test_direct_apply_rechecks_every_delete_against_the_manifest(demo_sandbox: SandboxServer, tmp_path: Path, archive: bool) -> None:
    """With --no-archive nothing re-read a backtest before its delete; with archives only its tags were re-checked."""
    store = demo_sandbox.store
    manifest = write(tmp_path, LAST_CHECK_MANIFEST)
    planned = json.loads(run_cli("plan", str(manifest), "--format", "json", env=cli_env(demo_sandbox.url)).stdout)
    victims = [b["id"] for b in planned["projects"][0]["backtests"] if b["action"] == "delete"][:3]
    args = ["apply", str(manifest), "--journal", str(tmp_path / "j.jsonl"), "--archive-dir", str(tmp_path / "a")] + ([] if archive else ["--no-archive"])
    code, output = run_in_pty(args, {**cli_env(demo_sandbox.url), "TERM": "dumb"}, tmp_path, "yes", lambda: _three_late_changes(store, victims))
    assert code == 0, output[-3000:]
    assert set(victims) <= ids(store, SCRATCH)
    assert "3 deletes were skipped: the backtest changed since planning and is now kept" in output
    assert f"skipped: delete {victims[0]} in project {SCRATCH}: changed since planning: tags was [], is now [Protected]; not deleted" in output
    assert f'skipped: delete {victims[1]} in project {SCRATCH}: changed since planning: name was' in output


def _saved_plan_in_memory(server: SandboxServer, manifest: Path) -> tuple[QuantConnectClient, Any]:
    loaded = load_manifest([manifest])
    client = make_client(server)
    states = fetch_states(client, loaded.projects)
    plan = build_plan(states, time_now(), manifest_digest=loaded.digest, api_url=server.url, declared_anywhere=loaded.declared_anywhere)
    return client, plan


def time_now() -> Any:
    from reconciler.timeutil import utcnow

    return utcnow()


@pytest.mark.parametrize("archive", [True, False], ids=["archive", "no-archive"])
def test_saved_plan_rechecks_each_delete_after_preflight(demo_sandbox: SandboxServer, tmp_path: Path, archive: bool) -> None:
    """`apply --plan`: a change after the stale check (between preflight and the delete call) is caught by the last check."""
    store = demo_sandbox.store
    client, plan = _saved_plan_in_memory(demo_sandbox, write(tmp_path, LAST_CHECK_MANIFEST))
    checked = preflight(plan, reread_live(client, plan))
    assert not checked.stale and not checked.unsafe
    victims = [t.backtest_id for t in checked.tasks if t.action == Action.DELETE][:3]
    _three_late_changes(store, victims)
    journal = Journal(tmp_path / "journal.jsonl")
    try:
        execution = Executor(client, journal, Archive(tmp_path / "archive") if archive else None, ExecutionSettings(parallelism=2)).run(plan, checked.tasks)
    finally:
        journal.close()
    outcomes = {r.backtest_id: r.outcome for r in execution.results}
    assert [outcomes[v] for v in victims] == [Outcome.SKIPPED] * 3
    assert set(victims) <= ids(store, SCRATCH)
    assert sum(1 for o in outcomes.values() if o == Outcome.DELETED) == len(checked.tasks) - 3
    skipped = [r for r in execution.results if r.outcome == Outcome.SKIPPED]
    assert all(r.skip_reason and r.skip_reason.startswith("changed since planning") and r.error is None for r in skipped)


def test_last_check_sees_what_drift_alone_cannot(demo_sandbox: SandboxServer, tmp_path: Path) -> None:
    """Each half of the last check can fail on its own: a changed name (drift), and a backtest the manifest keeps
    although it looks exactly as planned (a tampered plan's delete of a declared backtest)."""
    client, plan = _saved_plan_in_memory(demo_sandbox, write(tmp_path, LAST_CHECK_MANIFEST))
    project = plan.projects[0]
    entry = next(e for e in project.entries if e.action == Action.DELETE)
    live = client.read_backtest(SCRATCH, entry.id)
    task = Task(project, entry)
    assert last_check(plan, task, live) is None
    assert last_check(plan, task, replace(live, name="renamed")) == f'changed since planning: name was "{entry.name}", is now "renamed"'
    declared = replace(plan, declared_anywhere={entry.id: "23456789"})
    assert last_check(declared, task, live) == "changed since planning: now kept by declared in project 23456789"
    kept_by_rule = replace(project.spec.keep[1].match[0], names=(entry.name,), tags=())
    project.spec = replace(project.spec, keep=(project.spec.keep[0], replace(project.spec.keep[1], match=(kept_by_rule,))))
    assert last_check(plan, task, live) == f"changed since planning: now kept by keep[1] (match name {entry.name})"


# --- 6 and 7: the executor's steps and stops ---------------------------------------------------


class _Tripwire(QuantConnectClient):
    """The real client over HTTP, with a hook after one kind of call (to place a stop or a bug at an exact moment)."""

    after: dict[str, Callable[[], None]]

    def update_backtest(self, *args: Any, **kwargs: Any) -> None:
        super().update_backtest(*args, **kwargs)
        self.after.get("update", lambda: None)()

    def delete_backtest(self, project_id: int, backtest_id: str) -> None:
        self.after.get("delete", lambda: None)()
        super().delete_backtest(project_id, backtest_id)


def _tripwire(server: SandboxServer) -> _Tripwire:
    from conftest import FAST_RETRY, SANDBOX_CREDENTIALS

    client = _Tripwire(SANDBOX_CREDENTIALS, server.url, retry=FAST_RETRY)
    client.after = {}
    return client


def test_stop_between_name_and_tags_is_reported_partly_updated(demo_sandbox: SandboxServer, tmp_path: Path) -> None:
    """Issue 8, case 7: an update stopped between its name/note call and its tags call was reported "updated"."""
    target = sorted(demo_sandbox.store.backtests(SCRATCH), key=lambda b: b.created)[0].backtest_id
    manifest = write(tmp_path, f"version: 1\nprojects:\n  - id: {SCRATCH}\n    backtests:\n      - id: {target}\n        name: New name\n        tags: [reviewed]\n")  # noqa: E501
    client = _tripwire(demo_sandbox)
    loaded = load_manifest([manifest])
    plan = build_plan(fetch_states(client, loaded.projects), time_now(), manifest_digest=loaded.digest, api_url=client.api_url)
    checked = preflight(plan, reread_live(client, plan))
    journal = Journal(tmp_path / "journal.jsonl")
    executor = Executor(client, journal, None, ExecutionSettings(parallelism=1))
    client.after["update"] = lambda: executor.stop.set()  # Ctrl-C lands right after the name call
    try:
        (result,) = executor.run(plan, checked.tasks).results
    finally:
        journal.close()
    assert result.outcome == Outcome.PARTLY_UPDATED and result.done == ("update",)
    assert "update-tags not sent" in (result.error or "")
    remaining = run_cli("plan", str(manifest), "--format", "json", env=cli_env(demo_sandbox.url))
    (entry,) = [b for b in json.loads(remaining.stdout)["projects"][0]["backtests"] if b["action"] == "update"]
    assert [c["field"] for c in entry["changes"]] == ["tags"]  # plan shows exactly what remains


def test_a_bug_in_one_worker_stops_the_queued_deletes(demo_sandbox: SandboxServer, tmp_path: Path) -> None:
    """Issue 8, case 6: an unexpected exception in a worker did not stop the queued deletes (pool shutdown waited for them)."""
    manifest = write(tmp_path, f"version: 1\nprojects:\n  - id: {SCRATCH}\n    delete: [{{status: failed}}]\n")
    client = _tripwire(demo_sandbox)
    loaded = load_manifest([manifest])
    plan = build_plan(fetch_states(client, loaded.projects), time_now(), manifest_digest=loaded.digest, api_url=client.api_url)
    checked = preflight(plan, reread_live(client, plan))
    assert len(checked.tasks) > 5

    def bug() -> None:
        raise RuntimeError("boom")

    client.after["delete"] = bug
    journal = Journal(tmp_path / "journal.jsonl")
    try:
        execution = Executor(client, journal, None, ExecutionSettings(parallelism=1)).run(plan, checked.tasks)
    finally:
        journal.close()
    assert execution.halted == "internal error (RuntimeError: boom)"
    outcomes = [r.outcome for r in execution.results]
    assert outcomes.count(Outcome.FAILED) == 1 and outcomes.count(Outcome.NOT_STARTED) == len(checked.tasks) - 1
    assert demo_sandbox.app.calls_by_endpoint["backtests/delete"] == 0


# --- 8. one apply at a time -------------------------------------------------------------------


def test_second_apply_refuses_at_once_and_a_dead_holder_is_taken_over(start_sandbox: Callable[..., SandboxServer], demo_db: Path, tmp_path: Path) -> None:
    """Two applies on the same .reconciler ran at once, each claiming all the deletes."""
    server = start_sandbox(db=demo_db, faults=Faults(latency_ms=30))
    manifest = write(tmp_path, f"version: 1\nprojects:\n  - id: {SCRATCH}\n    delete: [{{status: failed}}]\n")
    first = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "apply", str(manifest), "--yes", "--parallelism", "1"],
        cwd=tmp_path,
        env=cli_env(server.url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    journal = tmp_path / ".reconciler" / "journal.jsonl"
    deadline = time.monotonic() + 60
    while not (journal.exists() and journal.read_text()) and time.monotonic() < deadline:
        time.sleep(0.02)
    started = time.monotonic()
    second = run_cli("apply", str(manifest), "--yes", cwd=tmp_path, env=cli_env(server.url))
    assert time.monotonic() - started < 10  # at once, not after the first finished
    assert second.returncode == 1
    assert f"another apply is running on these records (pid {first.pid}, started " in second.stderr
    assert ".reconciler/journal.jsonl.lock" in second.stderr
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=30)
    third = run_cli("apply", str(manifest), "--yes", cwd=tmp_path, env=cli_env(server.url))
    assert third.returncode == 0, third.stdout[-2000:] + third.stderr
    assert f"pid {first.pid}" not in (tmp_path / ".reconciler" / "journal.jsonl.lock").read_text()


@pytest.mark.parametrize("shared", ["journal", "archive"])
def test_applies_from_two_directories_sharing_records_refuse(start_sandbox: Callable[..., SandboxServer], demo_db: Path, tmp_path: Path, shared: str) -> None:
    """The lock was per working directory: two applies sharing --journal and --archive-dir both ran and both reported 913 deleted."""
    server = start_sandbox(db=demo_db, faults=Faults(latency_ms=30))
    manifest = write(tmp_path, f"version: 1\nprojects:\n  - id: {SCRATCH}\n    delete: [{{status: failed}}]\n")
    records = tmp_path / "records"
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()

    def args(here: Path) -> list[str]:
        journal = records / "journal.jsonl" if shared == "journal" else here / "journal.jsonl"
        archive = records / "archive" if shared == "archive" else here / "archive"
        return ["apply", str(manifest), "--yes", "--parallelism", "1", "--journal", str(journal), "--archive-dir", str(archive)]

    first = subprocess.Popen(
        [sys.executable, "-m", "reconciler", *args(one)], cwd=one, env=cli_env(server.url), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    started_file = (records / "journal.jsonl") if shared == "journal" else (one / "journal.jsonl")
    deadline = time.monotonic() + 60
    while not (started_file.exists() and started_file.read_text()) and time.monotonic() < deadline:
        time.sleep(0.02)
    second = run_cli(*args(two), cwd=two, env=cli_env(server.url))
    first.communicate(timeout=120)
    assert second.returncode == 1 and f"another apply is running on these records (pid {first.pid}, started " in second.stderr
    lock = records / "journal.jsonl.lock" if shared == "journal" else records / "archive" / "apply.lock"
    assert f"it holds {lock}" in second.stderr


# --- 4. the empty guard, again at apply time -----------------------------------------------------


def test_saved_plan_that_would_now_empty_a_project_is_refused(start_sandbox: Callable[..., SandboxServer], tmp_path: Path) -> None:
    """Reviewed while a protected run kept the project alive; that run was deleted by hand before the merge."""
    backtests = [
        {
            "backtestId": f"{n:032x}",
            "name": f"scratch-{n}",
            "created": f"2026-01-{n:02d} 10:00:00",
            "status": "Completed.",
            "tags": ["protected"] if n == 1 else [],
        }
        for n in range(1, 6)
    ]
    backtests.append({"backtestId": f"{6:032x}", "name": "running", "created": "2026-01-06 10:00:00", "status": "Running: 10%"})
    server = start_sandbox(state={"projects": [{"projectId": 1, "name": "P", "backtests": backtests}]})
    manifest = write(tmp_path, "version: 1\nprojects:\n  - id: 1\n    delete: [{name: 'scratch-*'}]\n")
    saved = tmp_path / "plan.json"
    assert run_cli("plan", str(manifest), "--out", str(saved), env=cli_env(server.url)).returncode == 0
    server.store.delete_backtest(1, f"{1:032x}")
    result = apply_cli(server, tmp_path, "--plan", str(saved))
    assert result.returncode == 1
    assert "the plan would leave project P (1) without a single completed backtest; nothing was applied" in result.stderr
    assert len(ids(server.store, 1)) == 5


def test_the_last_check_judges_statistics_as_the_plan_did(start_sandbox: Callable[..., SandboxServer], tmp_path: Path) -> None:
    """Found by the apply property test: a read carries no statistics, so a `delete` rule on statistics stopped matching
    at the last check and a keep `match` on the name then "kept" a backtest the reviewed plan deletes."""
    state = {
        "projects": [
            {
                "projectId": 1,
                "name": "P",
                "backtests": [
                    {
                        "backtestId": f"{n:032x}",
                        "name": f"scratch-{n}",
                        "created": f"2026-01-0{n} 00:00:00",
                        "status": "Completed.",
                        "statistics": {"sharpeRatio": -1.0 if n == 1 else 1.0},
                    }
                    for n in (1, 2)
                ],
            }
        ]
    }
    server = start_sandbox(state=state)
    manifest = write(
        tmp_path, "version: 1\nprojects:\n  - id: 1\n    delete: [{name: 'scratch-*', stats: {sharpeRatio: '< 0'}}]\n    keep: [{match: {name: 'scratch-*'}}]\n"
    )
    result = apply_cli(server, tmp_path, str(manifest), "--yes")
    assert result.returncode == 0 and "1 deleted" in result.stdout and "skipped" not in result.stdout, result.stdout
    assert ids(server.store, 1) == {f"{2:032x}"}
