"""Hostile data, II (issue 17): what an account's data, a manifest line or a server can cost is bounded.

Each test reproduces one finding against our own hostile server on 127.0.0.1
(tests/hostile.py) or the sandbox, then shows the bound.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from reconciler.api.client import QuantConnectClient
from reconciler.apply.executor import ExecutionSettings, Executor
from reconciler.apply.preflight import preflight
from reconciler.apply.records import Archive, ArchiveBudget, Journal
from reconciler.commands.archive import spreadsheet_safe
from reconciler.live import fetch_states
from reconciler.manifest.load import load_manifest
from reconciler.models import Outcome
from reconciler.plan.planner import build_plan
from reconciler.timeutil import parse_datetime

from conftest import FAST_RETRY, SANDBOX_CREDENTIALS
from helpers import run_cli
from hostile import HostileServer, Reply, ok, summary

BID = "26c7bb06b8487cff1c7b3c44652b30f1"
NOW = parse_datetime("2026-11-28T00:00:00Z")


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
    server = HostileServer().start()
    yield server
    server.stop()


def archive_one(hostile: HostileServer, tmp_path: Path, orders: Callable[[dict], Reply], budget: ArchiveBudget, total: str | None = None) -> Any:
    """Plan and apply one delete of BID with a full archive, against the orders the test scripts."""
    read = {**summary(BID), "projectId": 1, "note": "", "statistics": {"Total Orders": total} if total else {}, "charts": {}}
    read.pop("tags")
    hostile.routes["backtests/list"] = lambda p: ok(backtests=[summary(BID)])
    hostile.routes["backtests/read"] = lambda p: ok(backtest=read)
    hostile.routes["backtests/orders/read"] = orders
    hostile.routes["backtests/read/insights"] = lambda p: Reply(200, {"success": True, "insights": [], "length": 0})
    hostile.routes["backtests/delete"] = lambda p: ok()
    manifest = tmp_path / "m.yaml"
    manifest.write_text("version: 1\nprojects:\n  - id: 1\n    delete: [{name: 'run*'}]\n    allow_empty: true\n")
    loaded = load_manifest([manifest])
    client = QuantConnectClient(SANDBOX_CREDENTIALS, hostile.url, retry=FAST_RETRY)
    journal = Journal(tmp_path / "journal.jsonl")
    try:
        states = fetch_states(client, loaded.projects)
        plan = build_plan(states, NOW, manifest_digest=loaded.digest, api_url=hostile.url)
        checked = preflight(plan, {s.project_id: {b.id: b for b in s.backtests} for s in states})
        settings = ExecutionSettings(parallelism=1, archive_budget=budget)
        (result,) = Executor(client, journal, Archive(tmp_path / "archive"), settings).run(plan, checked.tasks).results
    finally:
        journal.close()
        client.close()
    return result


def endless(size: int = 99, payload: int = 0) -> Callable[[dict], Reply]:
    """A server that never runs out of orders: every page full, each order new."""
    return lambda p: Reply(200, {"orders": [{"id": n + 1, "tag": "x" * payload} for n in range(p["start"], p["start"] + size)], "length": size})


def assert_not_deleted(hostile: HostileServer, tmp_path: Path, result: Any, fragment: str) -> None:
    assert result.outcome == Outcome.FAILED and "archive incomplete, not deleted" in (result.error or "") and fragment in (result.error or ""), result
    assert hostile.calls("backtests/delete") == []
    assert not [p for p in (tmp_path / "archive").rglob("*") if p.is_file() and p.name != "index.jsonl"]  # no archive, no partial file


def test_endless_large_pages_stop_at_the_byte_budget(hostile: HostileServer, tmp_path: Path) -> None:
    """Pages of 99 orders of 20 KB each, without end: 3 GB resident after 1,547 pages. Now they stream to the file, to the budget."""
    result = archive_one(hostile, tmp_path, endless(payload=20_000), ArchiveBudget(max_bytes=8 * 2**20))
    assert_not_deleted(hostile, tmp_path, result, "past the archive budget of 8 MiB per backtest (raise it with --archive-max-bytes)")
    assert len(hostile.calls("backtests/orders/read")) <= 6  # 8 MiB is about four pages of 2 MB


def test_endless_small_pages_stop_at_the_call_budget(hostile: HostileServer, tmp_path: Path) -> None:
    """Endless pages of one order: ~5,400 calls in 240 s, heading for 20,000 per backtest."""
    result = archive_one(hostile, tmp_path, endless(size=1), ArchiveBudget(max_calls=40))
    assert_not_deleted(hostile, tmp_path, result, "past the archive budget of 40 calls per backtest (raise it with --archive-max-calls)")
    assert len(hostile.calls("backtests/orders/read")) <= 40


def test_slow_pages_stop_at_the_time_budget(hostile: HostileServer, tmp_path: Path) -> None:
    result = archive_one(hostile, tmp_path, lambda p: Reply(200, {"orders": [{"id": p["start"] + 1}], "length": 1}, trickle=0.01),
                         ArchiveBudget(max_seconds=0.5))
    assert_not_deleted(hostile, tmp_path, result, "past the archive budget of 0.5 s per backtest (raise it with --archive-max-seconds)")


@pytest.mark.parametrize("how", ["repeats", "goes back"])
def test_a_page_that_repeats_or_goes_back_ends_the_fetch(hostile: HostileServer, tmp_path: Path, how: str) -> None:
    """A repeated page was dropped by id and the walk went on, to 20,000 pages."""
    first = [{"id": n} for n in range(1, 100)]
    again = first if how == "repeats" else [{"id": n} for n in range(50, 149)]
    result = archive_one(hostile, tmp_path, lambda p: Reply(200, {"orders": first if p["start"] == 0 else again, "length": 99}),
                         ArchiveBudget(), total="500")
    assert_not_deleted(hostile, tmp_path, result, "answered a page that repeats or goes back (at item 99); refused")
    assert len(hostile.calls("backtests/orders/read")) == 2


def test_a_full_archive_streams_every_page_to_its_file(hostile: HostileServer, tmp_path: Path) -> None:
    result = archive_one(hostile, tmp_path, lambda p: Reply(200, {"orders": [{"id": n + 1} for n in range(p["start"], min(p["end"], 1234))]}),
                         ArchiveBudget(), total="1234")
    assert result.outcome == Outcome.DELETED, result
    document = json.loads(Path(result.archive).read_text())
    assert [o["id"] for o in document["orders"]] == list(range(1, 1235)) and document["backtest"]["backtestId"] == BID
    assert set(document) == {"charts", "orders", "insights", "backtest", "archived_at", "tool_version"}
    index = [json.loads(line) for line in (tmp_path / "archive" / "index.jsonl").read_text().splitlines()]
    assert [(e["backtest"], e["orders"], e["full"]) for e in index] == [(BID, 1234, True)]


def test_archive_budgets_are_apply_options(tmp_path: Path) -> None:
    result = run_cli("apply", "--help")
    for option in ("--archive-max-bytes", "--archive-max-calls", "--archive-max-seconds"):
        assert option in result.stdout


# --- 3 and 4. the archive commands trust nothing in their files -------------------------------------

GOOD = "a" * 32


def write_archive(root: Path, backtest_id: str, document: Any, project: int = 5) -> Path:
    path = root / str(project) / f"{backtest_id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return path


def good_document(**parts: Any) -> dict[str, Any]:
    return {"backtest": {"backtestId": GOOD, "projectId": 5, "name": "good", "created": "2026-01-02 10:00:00", "status": "Completed.",
                         "statistics": {"Sharpe Ratio": "1.2"}},
            "charts": {"Strategy Equity": {"name": "Strategy Equity", "series": {"Equity": {"values": [[1700000000, 100.0], [1700086400, 101.0]]}}}},
            "orders": [], "insights": [], "archived_at": "2026-11-29T00:00:00Z", "tool_version": "0.2.0", **parts}


def test_csv_export_neutralises_cells_a_spreadsheet_would_run(tmp_path: Path) -> None:
    """Order tags come from the algorithm, so any collaborator sets them: `=cmd|' /C calc'!A0` was written as it was."""
    tags = ["=cmd|' /C calc'!A0", '=HYPERLINK("https://evil.invalid")', "+SUM(A1:A2)", "@SUM(A1)", "-2+3", "\tTAB", "plain", "-12.5", "+3"]
    orders = [{"id": n + 1, "time": "2026-01-02T14:30:00Z", "symbol": {"value": tag if n == 0 else "SPY"}, "quantity": -5, "price": 10.0, "tag": tag}
              for n, tag in enumerate(tags)]
    write_archive(tmp_path, GOOD, good_document(orders=orders))
    result = run_cli("archive", "export", GOOD, "--what", "orders", "--format", "csv", "--archive-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [row["tag"] for row in rows] == ["'=cmd|' /C calc'!A0", "'=HYPERLINK(\"https://evil.invalid\")", "'+SUM(A1:A2)", "'@SUM(A1)", "'-2+3",
                                            "'\tTAB", "plain", "-12.5", "+3"]
    assert rows[0]["symbol"] == "'=cmd|' /C calc'!A0" and rows[1]["quantity"] == "-5"  # numbers stay numbers
    assert not any(cell.startswith(("=", "@")) for row in rows for cell in row.values())
    assert spreadsheet_safe("\rCR") == "'\rCR" and spreadsheet_safe(-5) == -5  # a CR does not survive text-mode reading above


@pytest.mark.parametrize("damage", [
    "not json", "[1, 2]", {"backtest": "a string"},
    {"charts": ["Strategy Equity"]}, {"charts": "Strategy Equity"}, {"orders": 12}, {"insights": {"a": 1}},
    {"charts": {"Strategy Equity": {"series": {"Equity": {"values": [[1, float("nan")], [1e300, float("inf")], [2, 5.0]]}}}}},
    {"backtest": {"backtestId": "b" * 32, "name": "x", "created": "\x1b]0;pwned\x07\x1b[2J", "status": "\u202eCompleted", "statistics": [1]}},
])
def test_a_damaged_or_hostile_archive_is_skipped_or_one_line(tmp_path: Path, damage: Any) -> None:
    """One damaged file not in the index made `archive ls` fail entirely; odd shapes exited 3; an ESC reached the terminal."""
    write_archive(tmp_path, GOOD, good_document())
    bad_id = "b" * 32
    document = damage if isinstance(damage, str) else ({**good_document(), **damage} if isinstance(damage, dict) else damage)
    if isinstance(damage, dict) and "backtest" not in damage:
        document["backtest"] = {**document["backtest"], "backtestId": bad_id}
    bad = write_archive(tmp_path, bad_id, json.dumps(document) if not isinstance(document, str) else document)
    listed = run_cli("archive", "ls", "--archive-dir", str(tmp_path))
    assert listed.returncode == 0, listed.stderr
    assert GOOD in listed.stdout and "Traceback" not in listed.stderr
    assert "\x1b" not in listed.stdout + listed.stderr and "\u202e" not in listed.stdout + listed.stderr
    damaged = isinstance(damage, str) or isinstance(damage, list) or damage == {"backtest": "a string"}
    assert (f"warning: skipping {bad}" in listed.stderr) == damaged
    for command in (["show", bad_id], ["export", bad_id, "--what", "equity", "--format", "csv"], ["export", bad_id, "--what", "orders", "--format", "csv"]):
        result = run_cli("archive", *command, "--archive-dir", str(tmp_path))
        assert result.returncode in (0, 1), (command, result.stderr)
        assert "Traceback" not in result.stderr and "internal error" not in result.stderr, (command, result.stderr)
        assert "\x1b" not in result.stdout + result.stderr and "\u202e" not in result.stdout + result.stderr
        if result.returncode == 1:
            assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_a_damaged_index_line_is_not_believed(tmp_path: Path) -> None:
    """A wrong type in an index entry exited 3; now the line is passed over and the file read instead."""
    write_archive(tmp_path, GOOD, good_document())
    (tmp_path / "index.jsonl").write_text(json.dumps({"project": "5", "backtest": GOOD, "orders": "many", "size": None}) + "\n"
                                          + json.dumps({"project": 5, "backtest": "../../etc", "name": "x"}) + "\n")
    result = run_cli("archive", "ls", "--archive-dir", str(tmp_path))
    assert result.returncode == 0 and GOOD in result.stdout and "1 archive under" in result.stdout, result.stdout + result.stderr
