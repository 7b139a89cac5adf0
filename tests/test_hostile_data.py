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
