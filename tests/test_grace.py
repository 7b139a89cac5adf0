"""Grace: marked in QuantConnect before it is gone (docs/design.md, "Grace").

Mark, rescue, delete on or after the day, a second apply before the day that does nothing new, kill -9 between
mark and delete, the caps; and the property that the mark decides nothing."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.manifest.model import ProjectSpec
from reconciler.models import Action, Backtest, Grace, trash_day, trash_mark
from reconciler.plan.planner import plan_project
from reconciler.projects import ProjectState
from reconciler.sandbox.server import Faults, SandboxServer
from reconciler.timeutil import duration

from helpers import cli_env, run_cli
from strategies import NOW, scenario

SCRATCH = 23456792
MANIFEST = """\
version: 1
projects:
  - name: Scratch
    prune: true
    grace: 7d
    delete: [{status: failed}]
    keep: [{last: 5}]
"""
MARK_DAY = "2026-12-05"  # --now 2026-11-28 plus 7 days


def plan(server: SandboxServer, manifest: Path, *args: str) -> dict:
    result = run_cli("plan", str(manifest), "--format", "json", *args, env=cli_env(server.url))
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


def apply(server: SandboxServer, tmp_path: Path, manifest: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli("apply", str(manifest), "--yes", "--journal", str(tmp_path / "j.jsonl"), "--archive-dir", str(tmp_path / "archive"),
                   "--archive", "summary", *args, env=cli_env(server.url), cwd=tmp_path)


def live(server: SandboxServer) -> dict[str, tuple[str, ...]]:
    return {b.backtest_id: tuple(b.tags) for b in server.store.backtests(SCRATCH)}


def marks(server: SandboxServer) -> dict[str, list[str]]:
    return {bid: [t for t in tags if trash_day(t)] for bid, tags in live(server).items() if any(trash_day(t) for t in tags)}


def test_mark_then_delete_on_or_after_the_day(demo_sandbox: SandboxServer, tmp_path: Path) -> None:
    manifest = tmp_path / "m.yaml"
    manifest.write_text(MANIFEST)
    before = live(demo_sandbox)
    first = plan(demo_sandbox, manifest, "--now", "2026-11-28T00:00:00Z")
    rows = first["projects"][0]["backtests"]
    marked = {b["id"] for b in rows if b.get("grace") == "mark"}
    assert marked and all(b["action"] == "update" for b in rows if b["id"] in marked)
    assert not [b for b in rows if b["action"] == "delete"]
    assert first["summary"] == {"update": 0, "delete": 0, "mark": len(marked), "unmark": 0, "unchanged": len(rows) - len(marked)}
    text = run_cli("plan", str(manifest), "--now", "2026-11-28T00:00:00Z", env=cli_env(demo_sandbox.url)).stdout
    assert (
        "to mark" in text
        and "  - mark   " in text
        and f"-> [trash:{MARK_DAY}]" in text
        and f"because grace (7d) marked: deleted on or after {MARK_DAY}" in text
    )
    comment = run_cli("plan", str(manifest), "--now", "2026-11-28T00:00:00Z", "--format", "markdown", env=cli_env(demo_sandbox.url)).stdout
    assert f"**Marked for deletion ({len(marked)}):" in comment and f"marked by this apply, deleted on or after {MARK_DAY}" in comment
    assert f"mark: grace (7d) {len(marked)}" in comment  # counts per reason, apart from updates and deletes
    page = run_cli("plan", str(manifest), "--now", "2026-11-28T00:00:00Z", "--format", "html", env=cli_env(demo_sandbox.url)).stdout
    assert page.count('<circle class="mark mark"') == len(marked) and page.count('<tr class="row a-mark ') == len(marked)

    # the first apply marks and deletes nothing: marks count as updates, not deletes (the default --max-deletes 100 is not reached)
    result = apply(demo_sandbox, tmp_path, manifest, "--now", "2026-11-28T00:00:00Z", "--max-deletes", "0")
    assert result.returncode == 0, result.stdout[-2000:]
    assert set(live(demo_sandbox)) == set(before)
    assert set(marks(demo_sandbox)) == marked and all(m == [f"trash:{MARK_DAY}"] for m in marks(demo_sandbox).values())
    assert all(set(before[b]) <= set(live(demo_sandbox)[b]) for b in marked)  # the mark is added; no tag is lost

    # a second apply before the day does nothing new
    again = apply(demo_sandbox, tmp_path, manifest, "--now", "2026-12-04T23:00:00Z")
    assert again.returncode == 0 and "No changes" in again.stdout, again.stdout[-2000:]
    waiting = plan(demo_sandbox, manifest, "--now", "2026-12-04T23:00:00Z")
    assert {b["id"] for b in waiting["projects"][0]["backtests"] if b.get("grace") == "marked"} == marked
    assert (
        f"marked earlier, deleted on or after {MARK_DAY}"
        in run_cli("plan", str(manifest), "--now", "2026-12-04T23:00:00Z", "--format", "markdown", env=cli_env(demo_sandbox.url)).stdout
    )

    # on the day: deleted, archived, with the reason
    due = plan(demo_sandbox, manifest, "--now", f"{MARK_DAY}T00:00:00Z")
    deletes = [b for b in due["projects"][0]["backtests"] if b["action"] == "delete"]
    assert {b["id"] for b in deletes} == marked and all(b["grace"] == "ended" for b in deletes)
    assert all(b["reasons"][0] == {"rule": "grace", "text": "7d", "detail": f"ended {MARK_DAY}"} for b in deletes)
    done = apply(demo_sandbox, tmp_path, manifest, "--now", f"{MARK_DAY}T00:00:00Z", "--max-deletes", str(len(marked)))
    assert done.returncode == 0, done.stdout[-2000:]
    assert not set(live(demo_sandbox)) & marked and set(live(demo_sandbox)) == set(before) - marked
    assert all((tmp_path / "archive" / str(SCRATCH) / f"{b}.json").exists() for b in marked)


def test_a_colleague_rescues_a_backtest_by_tagging_it_protected(demo_sandbox: SandboxServer, tmp_path: Path) -> None:
    manifest = tmp_path / "m.yaml"
    manifest.write_text(MANIFEST)
    assert apply(demo_sandbox, tmp_path, manifest, "--now", "2026-11-28T00:00:00Z").returncode == 0
    rescued = sorted(marks(demo_sandbox))[0]
    tags = live(demo_sandbox)[rescued]
    assert demo_sandbox.store.update_backtest(SCRATCH, rescued, tags=[*tags, "protected"])  # as in the web IDE
    due = plan(demo_sandbox, manifest, "--now", f"{MARK_DAY}T00:00:00Z")
    row = next(b for b in due["projects"][0]["backtests"] if b["id"] == rescued)
    assert row["action"] == "update" and row["grace"] == "unmark"
    assert row["changes"] == [{"field": "tags", "before": [*tags, "protected"], "after": [t for t in tags if not trash_day(t)] + ["protected"]}]
    assert row["reasons"][:2] == [{"rule": "grace", "detail": "unmarked: the plan keeps it"}, {"rule": "protect_tags", "text": "protected"}]
    text = run_cli("plan", str(manifest), "--now", f"{MARK_DAY}T00:00:00Z", env=cli_env(demo_sandbox.url)).stdout
    assert f"  ~ unmark {rescued}" in text and "1 to unmark" in text
    result = apply(demo_sandbox, tmp_path, manifest, "--now", f"{MARK_DAY}T00:00:00Z", "--max-deletes", "100")
    assert result.returncode == 0, result.stdout[-2000:]
    assert rescued in live(demo_sandbox) and not any(trash_day(t) for t in live(demo_sandbox)[rescued])
    assert "protected" in live(demo_sandbox)[rescued] and not marks(demo_sandbox)


def test_a_mark_removed_in_the_ide_before_the_day_is_marked_again_not_deleted(demo_sandbox: SandboxServer, tmp_path: Path) -> None:
    manifest = tmp_path / "m.yaml"
    manifest.write_text(MANIFEST)
    assert apply(demo_sandbox, tmp_path, manifest, "--now", "2026-11-28T00:00:00Z").returncode == 0
    target = sorted(marks(demo_sandbox))[0]
    demo_sandbox.store.update_backtest(SCRATCH, target, tags=[t for t in live(demo_sandbox)[target] if not trash_day(t)])
    row = next(b for b in plan(demo_sandbox, manifest, "--now", f"{MARK_DAY}T00:00:00Z")["projects"][0]["backtests"] if b["id"] == target)
    assert row["grace"] == "mark" and row["action"] == "update"  # its grace starts again: the mark is what people saw


def test_no_grace_deletes_at_once_and_a_saved_plan_refuses_it(demo_sandbox: SandboxServer, tmp_path: Path) -> None:
    manifest = tmp_path / "m.yaml"
    manifest.write_text(MANIFEST)
    planned = plan(demo_sandbox, manifest, "--now", "2026-11-28T00:00:00Z", "--no-grace")
    deletes = [b for b in planned["projects"][0]["backtests"] if b["action"] == "delete"]
    assert deletes and not any("grace" in b for b in planned["projects"][0]["backtests"])
    result = apply(demo_sandbox, tmp_path, manifest, "--now", "2026-11-28T00:00:00Z", "--no-grace", "--max-deletes", str(len(deletes)))
    assert result.returncode == 0 and not {b["id"] for b in deletes} & set(live(demo_sandbox))
    saved = tmp_path / "p.json"
    run_cli("plan", str(manifest), "--out", str(saved), env=cli_env(demo_sandbox.url))
    refused = run_cli("apply", "--plan", str(saved), str(manifest), "--no-grace", env=cli_env(demo_sandbox.url), cwd=tmp_path)
    assert refused.returncode != 0 and "--no-grace shape a new plan" in refused.stderr and "Traceback" not in refused.stderr


def test_marks_count_against_max_updates(demo_sandbox: SandboxServer, tmp_path: Path) -> None:
    manifest = tmp_path / "m.yaml"
    manifest.write_text(MANIFEST)
    marked = plan(demo_sandbox, manifest, "--now", "2026-11-28T00:00:00Z")["summary"]["mark"]
    refused = apply(demo_sandbox, tmp_path, manifest, "--now", "2026-11-28T00:00:00Z", "--max-updates", str(marked - 1))
    assert refused.returncode == 1 and f"this plan updates {marked} backtests, more than --max-updates {marked - 1}" in refused.stderr
    assert not marks(demo_sandbox)
    saved = tmp_path / "p.json"
    hint = run_cli("plan", str(manifest), "--now", "2026-11-28T00:00:00Z", "--out", str(saved), env=cli_env(demo_sandbox.url)).stderr
    assert "--max-deletes" not in hint  # nothing is deleted today


def test_kill_9_between_mark_and_delete_loses_nothing(start_sandbox: Callable[..., SandboxServer], demo_db: Path, tmp_path: Path) -> None:
    """kill -9 while marking, and again while deleting after the day: each rerun finishes the job, no backtest is marked twice,
    deleted before its day, or deleted without its archive."""
    server = start_sandbox(db=demo_db, faults=Faults(latency_ms=15))
    manifest = tmp_path / "m.yaml"
    manifest.write_text(MANIFEST)
    before = live(server)
    to_mark = {b["id"] for b in plan(server, manifest, "--now", "2026-11-28T00:00:00Z")["projects"][0]["backtests"] if b.get("grace") == "mark"}

    def killed_apply(now: str) -> None:
        journal = tmp_path / "j.jsonl"
        start = len(journal.read_text().splitlines()) if journal.exists() else 0
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "reconciler",
                "apply",
                str(manifest),
                "--yes",
                "--now",
                now,
                "--max-deletes",
                "100",
                "--parallelism",
                "1",
                "--journal",
                str(journal),
                "--archive-dir",
                str(tmp_path / "archive"),
                "--archive",
                "summary",
            ],
            env=cli_env(server.url),
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (not journal.exists() or len(journal.read_text().splitlines()) < start + 12):
            assert proc.poll() is None, "apply finished before it could be killed"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL

    killed_apply("2026-11-28T00:00:00Z")
    assert 0 < len(marks(server)) < len(to_mark) and set(live(server)) == set(before)  # marked some, deleted none
    assert apply(server, tmp_path, manifest, "--now", "2026-11-28T01:00:00Z").returncode == 0
    assert set(marks(server)) == to_mark and all(m == [f"trash:{MARK_DAY}"] for m in marks(server).values())  # once each, the first day kept

    killed_apply(f"{MARK_DAY}T00:00:00Z")
    gone = set(before) - set(live(server))
    assert gone and gone < to_mark  # only marked ones, and not all yet
    assert all((tmp_path / "archive" / str(SCRATCH) / f"{b}.json").exists() for b in gone)
    assert apply(server, tmp_path, manifest, "--now", f"{MARK_DAY}T01:00:00Z", "--max-deletes", "100").returncode == 0
    assert set(live(server)) == set(before) - to_mark and not marks(server)
    assert all((tmp_path / "archive" / str(SCRATCH) / f"{b}.json").exists() for b in to_mark)


# --- the mark decides nothing -----------------------------------------------------------------------


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario(labelled=True), st.data())
def test_the_mark_decides_nothing(case: tuple[ProjectSpec, list[Backtest]], data: st.DataObject) -> None:
    """For any state and manifest, the decisions with and without marks are the same: what goes, what stays, and why."""
    spec, backtests = case
    spec = replace(spec, grace=duration("7d"))
    days = st.dates(min_value=date(2026, 1, 1), max_value=date(2027, 12, 31))
    marked = [replace(b, tags=(*b.tags, trash_mark(data.draw(days)))) if data.draw(st.booleans()) else b for b in backtests]
    plain = plan_project(ProjectState(spec, 1, "P", backtests), NOW)
    graced = plan_project(ProjectState(spec, 1, "P", marked), NOW)
    going = {Grace.MARK, Grace.MARKED, Grace.ENDED}

    def outcome(entry) -> tuple[bool, tuple]:
        goes = entry.action == Action.DELETE or entry.grace in going
        reasons = tuple(str(r) for r in entry.reasons if r.rule != "grace")
        return goes, reasons

    assert {e.id: outcome(e) for e in plain.entries} == {e.id: outcome(e) for e in graced.entries}
    by_id = {b.id: b for b in marked}
    for entry in graced.entries:
        had = [trash_day(t) for t in by_id[entry.id].tags if trash_day(t)]
        if entry.grace == Grace.ENDED:
            assert had and max(had) <= NOW.date()  # deleted only on or after its day
        elif entry.grace == Grace.MARK:
            assert not had and entry.grace_day == (NOW + timedelta(days=7)).date()
        elif had and entry.action != Action.DELETE:
            assert entry.grace in (Grace.MARKED, Grace.UNMARK)
        if entry.grace == Grace.UNMARK:  # label and declared tag changes are kept; only the mark goes
            after = next(c.after for c in entry.changes if c.field == "tags")
            assert not any(trash_day(t) for t in after)
    assert not graced.errors or plain.errors or any("grace mark" in e for e in graced.errors)


def test_a_mark_removed_after_planning_makes_the_saved_plan_stale(demo_sandbox: SandboxServer, tmp_path: Path) -> None:
    """The staleness check and the last check treat the mark like any other tag: a plan that deletes because the day came
    is not applied to a backtest whose mark someone took away since."""
    manifest = tmp_path / "m.yaml"
    manifest.write_text(MANIFEST)
    assert apply(demo_sandbox, tmp_path, manifest, "--now", "2026-11-28T00:00:00Z").returncode == 0
    saved = tmp_path / "due.json"
    assert run_cli("plan", str(manifest), "--now", f"{MARK_DAY}T00:00:00Z", "--out", str(saved), env=cli_env(demo_sandbox.url)).returncode == 0
    target = sorted(marks(demo_sandbox))[0]
    demo_sandbox.store.update_backtest(SCRATCH, target, tags=[t for t in live(demo_sandbox)[target] if not trash_day(t)])
    before = live(demo_sandbox)
    refused = run_cli(
        "apply",
        "--plan",
        str(saved),
        str(manifest),
        "--max-deletes",
        "100",
        "--journal",
        str(tmp_path / "j2"),
        "--archive-dir",
        str(tmp_path / "a2"),
        env=cli_env(demo_sandbox.url),
        cwd=tmp_path,
    )
    assert refused.returncode == 1 and "the saved plan is stale" in refused.stderr and target in refused.stderr
    assert live(demo_sandbox) == before


def test_the_nightly_recipe_marks_first_and_a_rescue_holds(demo_sandbox: SandboxServer, tmp_path: Path) -> None:
    """The nightly retention job, as the GitHub recipe runs it, with the team manifest's `grace: 7d`: the first night marks,
    a colleague tags one `protected` in the IDE, a night after the day deletes the rest and unmarks the rescued one."""
    import yaml

    from test_ci_recipes import CAPS, github_steps, run_step

    team_defaults = yaml.safe_load((Path(__file__).parent.parent / "examples" / "team-manifest.yaml").read_text())["defaults"]
    assert team_defaults["grace"] == "7d"  # the recipes' example manifest marks first
    (tmp_path / "manifests").mkdir()
    (tmp_path / "manifests" / "scratch.yaml").write_text(MANIFEST)
    (tmp_path / "reconciler-caps.yaml").write_text(CAPS.read_text())
    line = next(script for script, _ in github_steps("retention") if " apply " in script)
    before = live(demo_sandbox)
    first = run_step(line, tmp_path, cli_env(demo_sandbox.url))
    assert first.returncode == 0, first.stdout[-2000:]
    marked = set(marks(demo_sandbox))
    assert marked and set(live(demo_sandbox)) == set(before)  # the first night deletes nothing
    rescued = sorted(marked)[0]
    demo_sandbox.store.update_backtest(SCRATCH, rescued, tags=[*live(demo_sandbox)[rescued], "protected"])
    day = max(trash_day(t) for t in live(demo_sandbox)[rescued] if trash_day(t))  # the first night ran on today's clock
    later = run_step(line.replace("apply ", f"apply --now {day}T05:17:00Z ", 1), tmp_path, cli_env(demo_sandbox.url))
    assert later.returncode == 0, later.stdout[-2000:]
    assert set(live(demo_sandbox)) == set(before) - (marked - {rescued}) and not marks(demo_sandbox)
