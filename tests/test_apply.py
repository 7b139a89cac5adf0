"""`apply` end to end over real HTTP: safety, idempotence, faults, crashes and interruptions."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest
from conftest import make_client

from reconciler.apply.pacing import Pacer
from reconciler.sandbox.server import Faults, SandboxConfig, SandboxServer
from reconciler.sandbox.store import SandboxStore
from reconciler.statefile import RecordedState

from helpers import cli_env, run_cli, run_in_pty

ROOT = Path(__file__).parent.parent
EXAMPLE = ROOT / "examples" / "sandbox-demo.yaml"
NOW = "2026-11-28T00:00:00Z"
SCRATCH = 23456792
SMALL = """\
version: 1
projects:
  - id: 23456792
    prune: true
    backtests:
      - id: {declared}
        name: Kept and renamed
        tags: [reviewed]
    keep:
      - last: 5
"""


def ids(store: SandboxStore, project_id: int | None = None) -> set[str]:
    projects = [project_id] if project_id else [p.project_id for p in store.projects()]
    return {b.backtest_id for pid in projects for b in store.backtests(pid)}


def small_manifest(tmp_path: Path, store: SandboxStore) -> Path:
    oldest = sorted(store.backtests(SCRATCH), key=lambda b: b.created)[0]
    path = tmp_path / "small.yaml"
    path.write_text(SMALL.format(declared=oldest.backtest_id))
    return path


def apply(server: SandboxServer, tmp_path: Path, *args: str, **kwargs) -> subprocess.CompletedProcess[str]:
    return run_cli("apply", *args, "--journal", str(tmp_path / "journal.jsonl"), "--archive-dir", str(tmp_path / "archive"),
                   env=cli_env(server.url), cwd=tmp_path, **kwargs)


def journal(tmp_path: Path, phase: str = "done") -> list[dict]:
    """The journal's lines of one phase: `intent` (written and fsync'd before each call) or `done` (its outcome)."""
    return read_journal(tmp_path / "journal.jsonl", phase)


def read_journal(path: Path, phase: str = "done") -> list[dict]:
    lines = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    return [line for line in lines if line["phase"] == phase]


def test_apply_example_end_to_end(demo_sandbox: SandboxServer, tmp_path: Path) -> None:
    store = demo_sandbox.store
    before = ids(store)
    planned = json.loads(run_cli("plan", str(EXAMPLE), "--now", NOW, "--format", "json", env=cli_env(demo_sandbox.url)).stdout)
    to_delete = {b["id"] for p in planned["projects"] for b in p["backtests"] if b["action"] == "delete"}
    # summary archives: full ones (every chart, order and insight) are test_archive.py's; here 1,348 of them would take a minute
    result = apply(demo_sandbox, tmp_path, str(EXAMPLE), "--now", NOW, "--yes", "--max-deletes", "2000", "--parallelism", "8", "--archive", "summary")
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"Apply complete: 2 updated, {len(to_delete):,} deleted ({len(to_delete):,} archived), 0 failed." in result.stdout
    assert ids(store) == before - to_delete
    # archives: exactly the deleted ids, each a /backtests/read body
    archived = {p.stem: p for p in (tmp_path / "archive").rglob("*.json")}
    assert set(archived) == to_delete
    for path in list(archived.values())[:50]:
        body = json.loads(path.read_text())
        assert body["backtest"]["backtestId"] == path.stem and path.parent.name == str(body["backtest"]["projectId"])
        assert {"backtest", "archived_at", "tool_version"} <= set(body) and "orders" not in body
    # journal: one line per mutating call
    lines = journal(tmp_path)
    assert {line["backtest"] for line in lines if line["action"] == "delete" and line["outcome"] == "deleted"} == to_delete
    intents = journal(tmp_path, "intent")  # one intent line before every call, in the same order
    assert sorted((line["backtest"], line["step"]) for line in intents) == sorted((line["backtest"], line["step"]) for line in lines)
    updates = [(line["backtest"], line["step"], line["after"]) for line in lines if line["action"] == "update"]  # the action, and its steps
    assert sorted(updates) == sorted([
        ("7d63f27d70d66b724a6934243c559195", "update", {"name": "Baseline 2024", "note": "Reference run cited in the research memo"}),
        ("7d63f27d70d66b724a6934243c559195", "update-tags", {"tags": ["paper", "baseline"]}),
        ("e327a6dd80a6f4824bde47ed483c67dc", "update", {"name": "Optimization pick: fast=10, slow=50"}),
    ])
    assert len(lines) == len(to_delete) + 3
    client = make_client(demo_sandbox)
    baseline = client.read_backtest(23456789, "7d63f27d70d66b724a6934243c559195")  # a read carries the note; tags come from a list
    listed = next(b for b in client.list_backtests(23456789) if b.id == baseline.id)
    assert (baseline.name, baseline.note, listed.tags) == ("Baseline 2024", "Reference run cited in the research memo", ("paper", "baseline"))
    # converged: plan shows nothing, and a second apply changes nothing and says so
    check = run_cli("plan", str(EXAMPLE), "--now", NOW, "--detailed-exitcode", env=cli_env(demo_sandbox.url))
    assert check.returncode == 0, check.stdout[-2000:]
    again = apply(demo_sandbox, tmp_path, str(EXAMPLE), "--now", NOW, "--yes")
    assert again.returncode == 0 and "No changes." in again.stdout
    assert len(journal(tmp_path)) == len(lines)


def test_saved_plan_applies_without_asking_and_refuses_when_stale(demo_sandbox: SandboxServer, tmp_path: Path) -> None:
    store = demo_sandbox.store
    manifest = small_manifest(tmp_path, store)
    saved = tmp_path / "plan.json"
    assert run_cli("plan", str(manifest), "--out", str(saved), env=cli_env(demo_sandbox.url)).returncode == 0
    plan = json.loads(saved.read_text())
    deleted = [b for b in plan["projects"][0]["backtests"] if b["action"] == "delete"]
    client = make_client(demo_sandbox)
    client.update_backtest(SCRATCH, deleted[0]["id"], name="Renamed meanwhile")
    client.update_backtest_tags(SCRATCH, deleted[1]["id"], ["wip", "new"])
    count = len(ids(store))
    result = apply(demo_sandbox, tmp_path, "--plan", str(saved))
    assert result.returncode == 1
    assert f'{deleted[0]["id"]}: name was "{deleted[0]["name"]}", is now "Renamed meanwhile"' in result.stderr
    assert f'{deleted[1]["id"]}: tags was [{", ".join(deleted[1]["tags"])}], is now [wip, new]' in result.stderr
    assert "stale" in result.stderr and len(ids(store)) == count and journal(tmp_path) == []
    # a fresh saved plan applies without a question; a delete target already gone is done, not stale
    assert run_cli("plan", str(manifest), "--out", str(saved), env=cli_env(demo_sandbox.url)).returncode == 0
    fresh = [b["id"] for b in json.loads(saved.read_text())["projects"][0]["backtests"] if b["action"] == "delete"]
    client.delete_backtest(SCRATCH, fresh[0])
    result = apply(demo_sandbox, tmp_path, "--plan", str(saved), input="")
    assert result.returncode == 0, result.stderr
    assert "1 backtests were already gone" in result.stdout
    assert not ids(store, SCRATCH) & set(fresh)
    again = apply(demo_sandbox, tmp_path, "--plan", str(saved))
    assert again.returncode == 0 and f"Nothing left to apply: every planned action is already done ({len(fresh)} backtests already gone" in again.stdout


def test_saved_plan_against_another_api_is_refused(
    demo_sandbox: SandboxServer, start_sandbox: Callable[..., SandboxServer], demo_db: Path, tmp_path: Path
) -> None:
    saved = tmp_path / "plan.json"
    manifest = small_manifest(tmp_path, demo_sandbox.store)
    assert run_cli("plan", str(manifest), "--out", str(saved), env=cli_env(demo_sandbox.url)).returncode == 0
    other = start_sandbox(state={"projects": []})
    result = apply(other, tmp_path, "--plan", str(saved))
    assert result.returncode == 1 and f"was planned against {demo_sandbox.url}, not {other.url}" in result.stderr


@pytest.mark.parametrize("tamper", ["protected", "running", "declared"])
def test_tampered_plan_never_deletes_protected(demo_sandbox: SandboxServer, tmp_path: Path, tamper: str) -> None:
    store = demo_sandbox.store
    manifest = small_manifest(tmp_path, store)
    saved = tmp_path / "plan.json"
    assert run_cli("plan", str(manifest), "--out", str(saved), env=cli_env(demo_sandbox.url)).returncode == 0
    plan = json.loads(saved.read_text())
    project = plan["projects"][0]
    if tamper == "protected":
        victim = next(b for b in project["backtests"] if "protected" in b["tags"])
        project["protect_tags"] = []  # even with the protection removed from the plan itself
    elif tamper == "running":
        victim = next(b for b in project["backtests"] if b["status"] in ("running", "queued"))
    else:
        victim = next(b for b in project["backtests"] if b["reasons"] == [{"rule": "declared"}] or b["action"] == "update")
    victim.update(action="delete", changes=[], observed={"name": victim["name"], "tags": victim["tags"], "status": victim["status"]})
    saved.write_text(json.dumps(plan))
    before = ids(store)
    result = apply(demo_sandbox, tmp_path, "--plan", str(saved))
    assert result.returncode == 1
    assert f"{victim['id']}: refusing to delete" in result.stderr
    assert ids(store) == before


def test_max_deletes_and_no_terminal_refusals(demo_sandbox: SandboxServer, tmp_path: Path) -> None:
    before = ids(demo_sandbox.store)
    capped = apply(demo_sandbox, tmp_path, str(EXAMPLE), "--now", NOW, "--yes")
    assert capped.returncode == 1
    assert "this plan deletes 1,348 backtests, more than --max-deletes 100 (default 100)" in capped.stderr
    assert "re-run with --max-deletes 1348" in capped.stderr
    asked = apply(demo_sandbox, tmp_path, str(EXAMPLE), "--now", NOW, "--max-deletes", "5000", input="")
    assert asked.returncode == 1 and "standard input is not a terminal" in asked.stderr and "--yes" in asked.stderr
    assert ids(demo_sandbox.store) == before and journal(tmp_path) == []


@pytest.mark.parametrize("answer, code", [("no", 1), ("yes", 0)])
def test_terminal_prompt(demo_sandbox: SandboxServer, tmp_path: Path, answer: str, code: int) -> None:
    manifest = small_manifest(tmp_path, demo_sandbox.store)
    env = {**cli_env(demo_sandbox.url), "TERM": "dumb"}
    returncode, output = run_in_pty(
        ["apply", str(manifest), "--journal", str(tmp_path / "j.jsonl"), "--archive-dir", str(tmp_path / "a")], env, tmp_path, answer
    )
    assert "Apply these changes? Only 'yes' is accepted:" in output
    assert returncode == code, output[-1000:]
    remaining = len(ids(demo_sandbox.store, SCRATCH))
    if answer == "yes":
        assert "Apply complete" in output and remaining == 10  # 5 newest, the declared one, running, queued, 2 protected
        assert "[##############################] " in output  # the progress bar on a terminal
    else:
        assert "Apply cancelled" in output and remaining == 60


def test_converges_under_errors_and_dropped_connections(start_sandbox: Callable[..., SandboxServer], demo_db: Path, tmp_path: Path) -> None:
    server = start_sandbox(db=demo_db, faults=Faults(error_rate=0.2, drop_rate=0.05), fault_seed=11)
    store = server.store
    manifest = small_manifest(tmp_path, store)
    untouched_before = {b.backtest_id: (b.name, b.tags, b.note) for pid in (23456789, 23456790) for b in store.backtests(pid)}
    before = ids(store, SCRATCH)
    result = apply(server, tmp_path, str(manifest), "--yes", "--parallelism", "6")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert server.app.request_count > 60  # retries happened
    # counts are true after retries and dropped answers (issue 8, case 8): what the summary says is what happened
    removed = len(before - ids(store, SCRATCH))
    archives = len(list((tmp_path / "archive").rglob("*.json")))
    assert f"{removed} deleted ({archives} archived)" in result.stdout and removed == archives
    check = run_cli("plan", str(manifest), "--detailed-exitcode", env=cli_env(server.url))
    assert check.returncode == 0, check.stdout
    untouched_after = {b.backtest_id: (b.name, b.tags, b.note) for pid in (23456789, 23456790) for b in store.backtests(pid)}
    assert untouched_after == untouched_before
    lines = journal(tmp_path)
    assert all(line["outcome"] in ("deleted", "updated") for line in lines)


def test_archive_failure_stops_apply_and_names_the_file(demo_sandbox: SandboxServer, tmp_path: Path) -> None:
    """An archive that cannot be written: that backtest is not deleted and no new call starts (docs/design.md, "Records")."""
    store = demo_sandbox.store
    manifest = tmp_path / "two.yaml"
    manifest.write_text("version: 1\nprojects:\n  - id: 23456792\n    delete: [{status: failed}]\n")
    (tmp_path / "archive").mkdir()
    blocker = tmp_path / "archive" / str(SCRATCH)
    blocker.write_text("not a directory")
    failed_scratch = {b.backtest_id for b in store.backtests(SCRATCH) if b.status == "Runtime Error" and "protected" not in b.tags}
    result = apply(demo_sandbox, tmp_path, str(manifest), "--yes", "--parallelism", "2")
    assert result.returncode == 1
    assert "Apply stopped: 0 updated, 0 deleted (0 archived)" in result.stdout
    assert f"No new call was started after: cannot write {blocker}/" in result.stdout
    assert "actions were not started" in result.stdout
    assert failed_scratch <= ids(store, SCRATCH)  # nothing deleted without its archive
    assert journal(tmp_path, "intent") == []
    remaining = run_cli("plan", str(manifest), "--format", "json", env=cli_env(demo_sandbox.url))
    left = {b["id"] for p in json.loads(remaining.stdout)["projects"] for b in p["backtests"] if b["action"] == "delete"}
    assert left == failed_scratch  # plan shows exactly the remaining work
    blocker.unlink()
    finish = apply(demo_sandbox, tmp_path, str(manifest), "--yes", "--format", "json")
    assert finish.returncode == 0
    document = json.loads(finish.stdout)
    assert document["summary"]["deleted"] == len(failed_scratch) and document["summary"]["failed"] == 0
    assert {a["backtest"] for a in document["actions"]} == failed_scratch
    assert all(a["archive"] for a in document["actions"])


def test_unwritable_journal_stops_before_any_delete(demo_sandbox: SandboxServer, tmp_path: Path) -> None:
    """Issue 8, case 6: `--journal /dev/full` (a full disk) let every delete go ahead unjournaled."""
    manifest = tmp_path / "m.yaml"
    manifest.write_text("version: 1\nprojects:\n  - id: 23456792\n    delete: [{status: failed}]\n")
    before = ids(demo_sandbox.store)
    result = run_cli(
        "apply", str(manifest), "--yes", "--journal", "/dev/full", "--archive-dir", str(tmp_path / "archive"), env=cli_env(demo_sandbox.url), cwd=tmp_path
    )
    assert result.returncode == 1
    # the run's start line is the first write, fsync'd before any call: it fails, and nothing is read, archived or deleted
    assert "error: cannot write /dev/full: No space left on device" in result.stderr
    assert not any((tmp_path / "archive").rglob("*.json")) and demo_sandbox.app.calls_by_endpoint["backtests/read"] == 0
    assert ids(demo_sandbox.store) == before
    assert demo_sandbox.app.calls_by_endpoint["backtests/delete"] == 0


def _slow_apply(server: SandboxServer, tmp_path: Path, manifest: Path, journal_path: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "reconciler",
            "apply",
            str(manifest),
            "--now",
            NOW,
            "--yes",
            "--max-deletes",
            "1000",
            "--parallelism",
            "2",
            "--journal",
            str(journal_path),
            "--archive-dir",
            str(tmp_path / "archive"),
            "--archive",
            "summary",
        ],  # this is about stops; full archives are tested in test_archive.py
        env=cli_env(server.url),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_lines(path: Path, count: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and len(path.read_text().splitlines()) >= count:
            return
        assert proc.poll() is None, "apply finished before it could be interrupted"
        time.sleep(0.02)
    raise AssertionError("apply made no progress")


CRASH_MANIFEST = """\
version: 1
projects:
  - id: 23456793
    prune: true
    backtests:
      - id: {declared}
        name: Declared survivor
    delete: [{{status: failed}}]
    keep: [{{monthly: 6}}, {{best: {{by: sharpeRatio, count: 5}}}}]
"""


@pytest.fixture(scope="module")
def clean_run(demo_db_template: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict, RecordedState]:
    """The manifest, its plan and the state an uninterrupted apply leaves: the same for every way of stopping one, made
    once per worker."""
    import shutil

    where = tmp_path_factory.mktemp("clean")
    shutil.copy(demo_db_template, where / "clean.sqlite")
    clean = SandboxServer(SandboxStore(where / "clean.sqlite"), SandboxConfig(port=0, run_seconds=0.0, compile_seconds=0.0)).start()
    try:
        declared = sorted(clean.store.backtests(23456793), key=lambda b: b.created)[3].backtest_id
        manifest = where / "m.yaml"
        manifest.write_text(CRASH_MANIFEST.format(declared=declared))
        planned = json.loads(run_cli("plan", str(manifest), "--now", NOW, "--format", "json", env=cli_env(clean.url)).stdout)
        assert _slow_apply(clean, where, manifest, where / "j.jsonl").wait(timeout=120) == 0
        return manifest.read_text(), planned, clean.store.export_state()
    finally:
        clean.stop()
        clean.store.close()


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT, signal.SIGTERM], ids=["kill-9", "ctrl-c", "sigterm"])
def test_interrupted_apply_then_rerun_equals_a_clean_run(start_sandbox: Callable[..., SandboxServer], demo_db_template: Path, tmp_path: Path, how: int,
                                                         clean_run: tuple[str, dict, RecordedState]) -> None:
    import shutil

    manifest_text, planned, clean_state = clean_run
    shutil.copy(demo_db_template, tmp_path / "crash.sqlite")
    crashy = start_sandbox(db=tmp_path / "crash.sqlite", faults=Faults(latency_ms=8))
    manifest = tmp_path / "m.yaml"
    manifest.write_text(manifest_text)
    kept = {b["id"] for b in planned["projects"][0]["backtests"] if b["action"] != "delete"}

    journal_path = tmp_path / "crash-journal.jsonl"
    before = ids(crashy.store, 23456793)
    proc = _slow_apply(crashy, tmp_path, manifest, journal_path)
    _wait_for_lines(journal_path, 40, proc)
    proc.send_signal(how)
    out, err = proc.communicate(timeout=60)
    if how == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
    else:  # Ctrl-C and SIGTERM (a cancelled CI job): no new calls, the calls in flight finish, a summary
        assert proc.returncode == (130 if how == signal.SIGINT else 143), err[-2000:]
        assert "Apply interrupted" in out and "not started" in out and ("SIGTERM" if how == signal.SIGTERM else "SIGINT") in out
        assert all(line["outcome"] in ("deleted", "updated", "not-started") for line in read_journal(journal_path))
    # write-ahead: every backtest that is gone has an intent line written before its delete call
    gone = before - ids(crashy.store, 23456793)
    intended = {line["backtest"] for line in read_journal(journal_path, "intent") if line["action"] == "delete"}
    assert gone and gone <= intended
    assert 0 < len(read_journal(journal_path, "intent")) < len(planned["projects"][0]["backtests"])
    middle = ids(crashy.store, 23456793)
    assert kept <= middle  # nothing the manifest keeps was deleted
    remaining = run_cli("plan", str(manifest), "--now", NOW, "--detailed-exitcode", env=cli_env(crashy.url))
    assert remaining.returncode == 2
    rerun = _slow_apply(crashy, tmp_path, manifest, journal_path)
    assert rerun.wait(timeout=120) == 0, rerun.stderr.read() if rerun.stderr else ""
    rerun.stdout.close()
    rerun.stderr.close()  # noqa: E702
    assert clean_state == crashy.store.export_state()


def test_pacer_spaces_calls() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    pacer = Pacer(4.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(5):
        pacer.wait()
    assert now[0] == pytest.approx(1.0) and len(slept) == 4
    unpaced = Pacer(None, clock=lambda: 0.0, sleep=sleep)
    unpaced.wait()
    assert len(slept) == 4


def test_max_rps_paces_every_worker(demo_sandbox: SandboxServer, tmp_path: Path) -> None:
    manifest = tmp_path / "failed.yaml"
    manifest.write_text("version: 1\nprojects:\n  - id: 23456792\n    delete: [{status: failed}]\n")
    started = time.monotonic()
    result = apply(demo_sandbox, tmp_path, str(manifest), "--yes", "--parallelism", "8", "--max-rps", "40", "--no-archive")
    elapsed = time.monotonic() - started
    assert result.returncode == 0
    deleted = int(re.search(r"(\d+) deleted", result.stdout).group(1))
    assert deleted >= 10 and elapsed >= (deleted - 1) / 40
    assert "archiving was off (--no-archive)" in result.stdout and not (tmp_path / "archive").exists()


def test_damaged_saved_plans_are_refused(demo_sandbox: SandboxServer, tmp_path: Path) -> None:
    saved = tmp_path / "plan.json"
    assert run_cli("plan", str(small_manifest(tmp_path, demo_sandbox.store)), "--out", str(saved), env=cli_env(demo_sandbox.url)).returncode == 0
    plan = json.loads(saved.read_text())
    for damage, message in [({"action": "nuke"}, "unknown action"), ({"id": "../../etc/passwd"}, "invalid backtest id")]:
        broken = json.loads(json.dumps(plan))
        broken["projects"][0]["backtests"][0].update(damage)
        saved.write_text(json.dumps(broken))
        result = apply(demo_sandbox, tmp_path, "--plan", str(saved))
        assert result.returncode == 1 and message in result.stderr and "Traceback" not in result.stderr
    saved.write_text(json.dumps({**plan, "format_version": 99}))
    result = apply(demo_sandbox, tmp_path, "--plan", str(saved))
    assert result.returncode == 1 and "format_version 99 is not supported" in result.stderr


def test_plan_errors_refuse_apply(demo_sandbox: SandboxServer, tmp_path: Path) -> None:
    manifest = tmp_path / "m.yaml"
    manifest.write_text("version: 1\nprojects:\n  - id: 23456792\n    delete: [{status: failed}]\n    backtests:\n      - id: " + "b" * 32 + "\n")
    before = ids(demo_sandbox.store)
    result = apply(demo_sandbox, tmp_path, str(manifest), "--strict", "--yes")
    assert result.returncode == 1 and "the plan has 1 error(s) (shown above); nothing was applied" in result.stderr
    saved = tmp_path / "plan.json"
    run_cli("plan", str(manifest), "--strict", "--out", str(saved), env=cli_env(demo_sandbox.url))
    calls = demo_sandbox.app.request_count
    result = apply(demo_sandbox, tmp_path, "--plan", str(saved))
    assert result.returncode == 1 and "nothing was applied" in result.stderr
    assert demo_sandbox.app.request_count == calls and ids(demo_sandbox.store) == before
