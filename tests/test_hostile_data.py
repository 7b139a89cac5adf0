"""Hostile data, II (issue 17): what an account's data, a manifest line or a server can cost is bounded.

Each test reproduces one finding against our own hostile server on 127.0.0.1
(tests/hostile.py) or the sandbox, then shows the bound.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Callable

import pytest
from conftest import FAST_RETRY, SANDBOX_CREDENTIALS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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

from helpers import run_cli
from hostile import HostileServer, Reply, ok, summary

BID = "26c7bb06b8487cff1c7b3c44652b30f1"
NOW = parse_datetime("2026-11-28T00:00:00Z")


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


# --- 5 and 6. one output boundary: nothing from the account reaches a terminal, a comment or a page raw ---------

_HOSTILE_PIECES = ["\x1b]0;pwned\x07", "\x1b[2J", "\u202e", "\u2066", "\r", "\x00", "\x9b", "<script>alert(1)</script>", "<img src=x onerror=y>",
                   "[click](https://evil.invalid/phish)", "https://evil.invalid/phish", "www.evil.invalid/login", "@octocat", "#1", "{name}",
                   "| cell |", "`code`", "**bold**", "&amp;", "mail@evil.invalid", "\n# heading", "<!--", "-->"]
hostile_text = st.lists(st.one_of(st.sampled_from(_HOSTILE_PIECES), st.text(max_size=4)), min_size=1, max_size=5).map("".join)


def _plan_of(names: list[str], project_name: str, tag: str) -> Any:
    from datetime import timedelta

    from reconciler.manifest.build import DEFAULT_RULES, build_project
    from reconciler.manifest.model import DeclaredBacktest
    from reconciler.models import Backtest
    from reconciler.projects import ProjectState

    backtests = [Backtest(id=f"{n + 1:032x}", project_id=1, name=name, created=NOW - timedelta(days=n), status="completed", raw_status=name[:20],
                          tags=(tag, "x"), note=name) for n, name in enumerate(names)]
    spec = build_project({**DEFAULT_RULES, "prune": True, "keep": [{"last": 1}]}, id=1, name=None,
                         backtests=(DeclaredBacktest(id=backtests[0].id, name=names[-1] + "!", note=tag, tags=(tag,)),))
    return build_plan([ProjectState(spec, 1, project_name, backtests)], NOW, manifest_digest="sha256:x", api_url="https://www.quantconnect.com/api/v2")


def _visible(text: str) -> bool:
    return not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2069\ufeff]", text)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(names=st.lists(hostile_text, min_size=2, max_size=4), project_name=hostile_text, tag=hostile_text, error=hostile_text)
def test_every_view_neutralises_what_the_account_wrote(names: list[str], project_name: str, tag: str, error: str) -> None:
    """Names, notes, tags, project names and server errors pass one neutralising function per format in every view."""
    import cmarkgfm

    from reconciler.apply.executor import Execution, TaskResult
    from reconciler.apply.result import ApplyResult
    from reconciler.apply.result import render_text as render_apply
    from reconciler.models import Action
    from reconciler.plan.html import render_html
    from reconciler.plan.render import render_markdown, render_summary, render_text
    from reconciler.plan.untrusted import lines_safe

    plan = _plan_of(names, project_name, tag)
    checked = preflight(plan, {})
    failed = Execution(results=[TaskResult(1, f"{1:032x}", Action.DELETE, Outcome.FAILED, error), TaskResult(1, f"{2:032x}", Action.DELETE, Outcome.SKIPPED, error)])  # noqa: E501
    for text in (
        render_text(plan, show_kept=True),
        render_summary(plan),
        render_apply(ApplyResult(plan, checked, failed, Path("j"), None)),
        lines_safe(f"refused:\n  {error}\n  {project_name}"),
    ):
        assert _visible(text), repr(text)
    markdown = render_markdown(plan)
    assert _visible(markdown)
    html = cmarkgfm.github_flavored_markdown_to_html(markdown)  # GitHub's own renderer
    assert "<a " not in html and "<script" not in html and "<img" not in html, html
    assert not re.search(r"<h\d", html.split("<table>", 1)[-1])  # a name never opens a heading
    page = render_html(plan)
    assert "<script" not in page and "<img" not in page and "<!--" not in page.split("<body", 1)[-1]


def test_a_server_error_with_escape_sequences_reaches_the_terminal_neutralised(hostile: HostileServer) -> None:
    """`reconciler auth` against a server whose error holds an OSC sequence and a right-to-left override wrote both to stderr."""
    hostile.routes["authenticate"] = lambda p: Reply(
        200, {"success": False, "errors": ["\x1b]8;;https://evil.invalid\x07click here\x1b]8;;\x07 \u202egnp.exe"]}
    )
    from helpers import cli_env

    result = run_cli("auth", env=cli_env(hostile.url))
    assert result.returncode == 1 and "click here" in result.stderr
    assert "\x1b" not in result.stderr and "\u202e" not in result.stderr and "\\u001b]8;;https://evil.invalid\\u0007" in result.stderr


def test_import_writes_names_that_round_trip_and_show_nothing_raw(hostile: HostileServer) -> None:
    """A declared name keeps its exact text (so plan shows no change), yet no bidi override reaches the terminal."""
    name = "Alpha \u202eevil\x1b[2J"
    hostile.routes["projects/read"] = lambda p: ok(projects=[{"projectId": 1, "name": "P \u202e"}])
    hostile.routes["backtests/list"] = lambda p: ok(backtests=[summary(BID, name=name, tags=["t\u2066"])])
    import yaml

    from helpers import cli_env

    result = run_cli("import", "--project", "1", env=cli_env(hostile.url))
    assert result.returncode == 0, result.stderr
    assert _visible(result.stdout), result.stdout
    document = yaml.safe_load(result.stdout)
    declared = document["projects"][0]["backtests"][0]
    assert declared["name"] == name and declared["tags"] == ["t\u2066"]


# --- 9. the sandbox cannot be held by half-sent requests -----------------------------------------------


def test_half_sent_requests_are_dropped_and_threads_are_capped(start_sandbox: Callable[..., Any]) -> None:
    """3,000 half-sent requests held 3,000 threads. Now a request has a few seconds to arrive, and connections are capped."""
    import socket
    import threading
    import time

    from conftest import make_client

    server = start_sandbox(state={"projects": [{"projectId": 1, "name": "P", "backtests": []}]}, request_seconds=0.5, max_connections=8)
    host, port = "127.0.0.1", server.port
    sockets = []
    for _ in range(40):
        sock = socket.create_connection((host, port), timeout=5)
        sock.sendall(b"POST /api/v2/backtests/list HTTP/1.1\r\nHost: x\r\nContent-Len")  # and nothing more
        sockets.append(sock)
    time.sleep(0.2)
    handlers = [t for t in threading.enumerate() if t.name.startswith("Thread-") and t.is_alive()]
    assert len(handlers) <= 8 + 2, len(handlers)
    time.sleep(1.0)  # past request_seconds: every half-sent request was dropped
    for sock in sockets:
        sock.settimeout(2)
        assert sock.recv(100) == b""  # closed by the server
        sock.close()
    assert make_client(server).list_backtests(1) == []  # and the server serves again


# --- 2. template widths and precisions ---------------------------------------------------------------


@pytest.mark.parametrize("template", ["{statistics.sharpeRatio:.999999999f}", "{name:>999999999}", "{name:>99999999999999999999}", "{parameters.fast:0201}"])
def test_template_widths_and_precisions_are_capped_at_load(tmp_path: Path, template: str) -> None:
    """`.999999999f` took 6-13 s and 2 GB in validate; `>999999999` passed validate and cost 2 GB per labelled backtest."""
    manifest = tmp_path / "m.yaml"
    manifest.write_text(f"version: 1\nprojects:\n  - id: 1\n    label:\n      - match: {{name: '*'}}\n        name: '{template}'\n")
    result = run_cli("validate", str(manifest), timeout=30)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"{manifest}:6 projects[0].label[0].name: invalid template: {template}: width and precision are at most 200" in result.stderr
