"""`history` and `revert` (issue 21): what apply did, read back from the journal, and a reviewable plan that undoes it."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import make_client
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.apply.history import JournalError, read_history, revert_set
from reconciler.sandbox.server import SandboxServer

from helpers import cli_env, run_cli

ROOT = Path(__file__).parent.parent
LABELS = ROOT / "examples" / "labels" / "sandbox.yaml"  # names and tags the 201 optimization runs of project 23456791
SANDBOX_DEMO = ROOT / "examples" / "sandbox-demo.yaml"
PAIRS = 23456791


def names_and_tags(server: SandboxServer) -> dict[str, tuple[str, tuple[str, ...]]]:
    return {b.id: (b.name, tuple(b.tags)) for b in make_client(server).list_backtests(PAIRS)}


def test_history_and_revert_of_a_label_run(demo_sandbox: SandboxServer, tmp_path: Path) -> None:
    env = cli_env(demo_sandbox.url)
    original = names_and_tags(demo_sandbox)
    applied = run_cli("apply", str(LABELS), "--yes", "--max-updates", "1000", env=env, cwd=tmp_path)
    assert applied.returncode == 0, applied.stderr
    labelled = names_and_tags(demo_sandbox)
    changed = {bid for bid in original if original[bid] != labelled[bid]}
    assert len(changed) == 201

    # history: the run with its digests and counts, each backtest's steps with before and after
    text = run_cli("history", env=env, cwd=tmp_path)
    assert text.returncode == 0, text.stderr
    some = next(iter(changed))
    assert "201 updated" in text.stdout and "plan sha256:" in text.stdout and "manifest sha256:" in text.stdout
    assert f'~ update {some} (project {PAIRS})' in text.stdout and f'name: {json.dumps(original[some][0])} -> {json.dumps(labelled[some][0])}' in text.stdout
    document = json.loads(run_cli("history", "--format", "json", env=env, cwd=tmp_path).stdout)
    assert document["format_version"] == 1 and len(document["runs"]) == 1
    (run,) = document["runs"]
    assert run["finished"] and run["summary"] == {"updated": 201} and run["plan_digest"].startswith("sha256:") and run["manifest_digest"].startswith("sha256:")
    assert {step["backtest"] for step in run["steps"]} == changed and all(step["outcome"] == "updated" for step in run["steps"])
    assert json.loads(run_cli("history", "--format", "json", "--project", "1", env=env, cwd=tmp_path).stdout)["runs"] == []
    assert "No apply run" in run_cli("history", "--since", "2999-01-01", env=env, cwd=tmp_path).stdout

    # someone renames one of them by hand after the run: the revert leaves that name alone, and says so
    by_hand = sorted(changed)[0]
    make_client(demo_sandbox).update_backtest(PAIRS, by_hand, name="renamed by hand")
    revert = run_cli("revert", "--out", "revert.plan.json", "--format", "json", env=env, cwd=tmp_path)
    assert revert.returncode == 0, revert.stderr
    plan = json.loads(revert.stdout)
    entries = {e["id"]: e for p in plan["projects"] for e in p["backtests"]}
    assert set(entries) == changed and all(e["action"] == "update" and e["reasons"][0]["rule"] == "revert" for e in entries.values())
    assert [c["field"] for c in entries[by_hand]["changes"]] == ["tags"]  # its tags still as the run left them: put back
    assert any(by_hand in w and "its name changed again since" in w for w in plan["warnings"])
    assert "apply --plan revert.plan.json" in revert.stderr
    # reviewed like any plan, applied like any plan: everything but the hand-made name is as it was
    undone = run_cli("apply", "--plan", "revert.plan.json", "--max-updates", "1000", env=env, cwd=tmp_path)
    assert undone.returncode == 0, undone.stderr
    after = names_and_tags(demo_sandbox)
    assert after[by_hand] == ("renamed by hand", original[by_hand][1])
    assert all(after[bid] == original[bid] for bid in original if bid != by_hand)
    assert len(json.loads(run_cli("history", "--format", "json", env=env, cwd=tmp_path).stdout)["runs"]) == 2
    # and a revert of everything since the first run now finds nothing left to put back
    again = json.loads(run_cli("revert", "--format", "json", env=env, cwd=tmp_path).stdout)
    assert again["projects"] == []


def test_revert_lists_deletes_with_their_archives(demo_sandbox: SandboxServer, tmp_path: Path) -> None:
    env = cli_env(demo_sandbox.url)
    applied = run_cli("apply", str(SANDBOX_DEMO), "--project", "Scratch", "--now", "2026-11-28T00:00:00Z", "--yes", env=env, cwd=tmp_path)
    assert applied.returncode == 0, applied.stderr
    steps = [s for run in read_history(tmp_path / ".reconciler" / "journal.jsonl").runs for s in run.steps if s.action == "delete"]
    assert steps and all(s.outcome == "deleted" and s.archive for s in steps)
    revert = run_cli("revert", "--format", "json", env=env, cwd=tmp_path)
    warnings = json.loads(revert.stdout)["warnings"]
    for step in steps:
        assert any(step.backtest in w and "cannot be reverted" in w and step.archive in w for w in warnings)
    assert "--sandbox" not in revert.stderr and "Saved" not in revert.stderr  # no --out: nothing written
    text = run_cli("revert", env=env, cwd=tmp_path)
    assert text.returncode == 0 and "Nothing to revert: no update in .reconciler/journal.jsonl" in text.stdout and "manifest" not in text.stdout


def test_a_run_stopped_hard_and_damaged_lines(tmp_path: Path) -> None:
    journal = tmp_path / "journal.jsonl"
    bid = "0" * 32
    journal.write_text("\n".join([
        json.dumps({"time": "2026-12-01T10:00:00Z", "run": "r1", "phase": "start", "plan_digest": "sha256:ab", "manifest_digest": "sha256:cd"}),
        json.dumps({"time": "2026-12-01T10:00:01Z", "run": "r1", "phase": "intent", "project": 7, "backtest": bid, "action": "delete", "step": "delete"}),
        '{"time": "2026-12-01T10:00:02Z", "run": "r1", "phase": "do',  # torn by kill -9
        "[1, 2, 3]",
        json.dumps({"time": "2026-12-01T10:00:03Z", "run": "r1", "phase": "done", "project": "7", "backtest": bid}),  # a project that is no id
    ]) + "\n")
    history = read_history(journal)
    (run,) = history.runs
    assert run.summary is None and run.steps[0].outcome == "unrecorded" and history.skipped_lines == 3
    shown = run_cli("history", "--journal", str(journal), cwd=tmp_path)
    assert shown.returncode == 0 and "no end line" in shown.stdout and "unrecorded" in shown.stdout
    assert "3 line(s)" in shown.stderr and "skipped" in shown.stderr
    missing = run_cli("history", "--journal", str(tmp_path / "none.jsonl"), cwd=tmp_path)
    assert missing.returncode == 1 and missing.stderr.startswith("error: no journal at") and "Traceback" not in missing.stderr
    bad_since = run_cli("history", "--journal", str(journal), "--since", "last week", cwd=tmp_path)
    assert bad_since.returncode == 1 and "--since 'last week' is not a timestamp" in bad_since.stderr


_json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8), lambda inner: st.lists(inner, max_size=3)
                            | st.dictionaries(st.sampled_from(["time", "run", "phase", "project", "backtest", "action", "step", "outcome", "before",
                                                               "after", "archive", "name", "tags", "note", "summary"]), inner, max_size=6), max_leaves=12)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(_json_values.map(json.dumps), st.text(max_size=40)), max_size=20))
def test_any_journal_reads_without_a_crash(tmp_path_factory, lines: list[str]) -> None:
    """A journal is untrusted input: whatever its lines, reading it and planning its revert never raise but JournalError."""
    journal = tmp_path_factory.mktemp("journal") / "journal.jsonl"
    journal.write_text("\n".join(lines) + "\n", errors="surrogatepass")
    try:
        history = read_history(journal)
    except JournalError:
        return
    for restore in revert_set(history).restores:
        assert restore.field in ("name", "note", "tags") and restore.restore != restore.expected
