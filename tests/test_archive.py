"""A lossless archive (issue 13): charts, orders and insights kept before every delete, readable offline."""

from __future__ import annotations

import csv
import io
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import jsonschema
import pytest
import yaml
from conftest import make_client

from reconciler.sandbox import artifacts
from reconciler.sandbox.server import Faults, SandboxServer

from helpers import cli_env, run_cli
from hostile import HostileServer, Reply, ok, summary

ROOT = Path(__file__).parent.parent
SPEC = yaml.safe_load((ROOT / "tests" / "data" / "QuantConnect-Platform-2.0.0.yaml").read_text())
SCRATCH = 23456792
MANIFEST = "version: 1\nprojects:\n  - id: 23456792\n    delete: [{status: completed, name: '*a*'}]\n"


def spec_validator(name: str) -> jsonschema.Draft4Validator:
    return jsonschema.Draft4Validator({**SPEC["components"]["schemas"][name], "components": SPEC["components"]})


def test_sandbox_answers_match_the_official_schemas(demo_sandbox: SandboxServer) -> None:
    client = make_client(demo_sandbox)
    row = next(b for b in demo_sandbox.store.backtests(SCRATCH) if b.status == "Completed." and b.statistics.get("trades", 0) > 100)
    chart = client.call("backtests/chart/read", {"projectId": SCRATCH, "backtestId": row.backtest_id, "name": "Strategy Equity",
                                                 "count": 50, "start": 0, "end": 2**31})
    spec_validator("ReadChartResponse").validate(chart)
    assert len(chart["chart"]["series"]["Equity"]["values"]) == 50  # downsampled to `count`
    orders = client.call("backtests/orders/read", {"projectId": SCRATCH, "backtestId": row.backtest_id, "start": 0, "end": 100}, envelope_free="orders")
    spec_validator("BacktestOrdersResponse").validate(orders)
    assert orders["success"] is True and len(orders["orders"]) == 100  # a 0..100 page with its envelope, as LEAN and lean-cli read it
    for order in orders["orders"][:5]:
        spec_validator("Order").validate(order)
    insights = client.call("backtests/read/insights", {"projectId": SCRATCH, "backtestId": row.backtest_id, "start": 0, "end": 99})
    spec_validator("BacktestInsightsResponse").validate(insights)
    for insight in insights["insights"][:5]:
        spec_validator("Insight").validate(insight)
    too_wide = demo_sandbox.app.orders_read
    with pytest.raises(Exception, match="between 0 and 100"):  # LEAN refuses only more than 100 (docs/sandbox.md, "Fidelity")
        too_wide({"projectId": SCRATCH, "backtestId": row.backtest_id, "start": 0, "end": 101})
    whole = client.call("backtests/chart/read", {"projectId": SCRATCH, "backtestId": row.backtest_id, "name": "Strategy Equity", "count": 10})
    assert len(whole["chart"]["series"]["Equity"]["values"]) == 10  # LEAN's client sends only `count`: no start or end needed


def test_apply_archives_every_point_order_and_insight(start_sandbox: Callable[..., SandboxServer], demo_db: Path, tmp_path: Path) -> None:
    """Apply, then compare each archive with what the sandbox served before the delete, point by point.
    The sandbox answers `loading` first for every chart and orders read: the client polls, never archives it."""
    server = start_sandbox(db=demo_db, faults=Faults(loading=True))
    rows = {b.backtest_id: b for b in server.store.backtests(SCRATCH)}
    manifest = tmp_path / "m.yaml"
    manifest.write_text(MANIFEST)
    result = run_cli("apply", str(manifest), "--yes", "--max-deletes", "60", "--archive-dir", str(tmp_path / "archive"),
                     "--journal", str(tmp_path / "j.jsonl"), env=cli_env(server.url), cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    archived = sorted((tmp_path / "archive" / str(SCRATCH)).glob("*.json"))
    assert archived and all(path.stem not in {b.backtest_id for b in server.store.backtests(SCRATCH)} for path in archived)
    for path in archived:
        document = json.loads(path.read_text())
        row = rows[path.stem]
        finished = row.progress >= 1
        assert set(document["charts"]) == set(artifacts.chart_names(finished))
        for name, chart in document["charts"].items():
            assert chart == artifacts.chart(row.backtest_id, row.statistics, finished, name)  # every point
            assert chart.get("status") != "loading"
        count = artifacts.order_count(row.statistics, finished)
        assert document["orders"] == artifacts.orders(row.backtest_id, count, 0, count)
        assert document["insights"] == artifacts.insights(row.backtest_id, artifacts.insight_count(row.statistics, finished), 0, count)
        assert document["backtest"]["backtestId"] == row.backtest_id and document["tool_version"] and document["archived_at"]
    index = [json.loads(line) for line in (tmp_path / "archive" / "index.jsonl").read_text().splitlines()]
    assert sorted(e["backtest"] for e in index) == [p.stem for p in archived]


def test_a_part_that_cannot_be_fetched_means_no_delete(tmp_path: Path) -> None:
    server = HostileServer().start()
    try:
        bid = "26c7bb06b8487cff1c7b3c44652b30f1"
        server.routes["backtests/list"] = lambda p: ok(backtests=[summary(bid)])
        server.routes["backtests/read"] = lambda p: ok(backtest={**summary(bid), "projectId": 1, "charts": {"Strategy Equity": {"name": "Strategy Equity"}}})
        server.routes["backtests/chart/read"] = lambda p: ok(chart={"name": "Strategy Equity", "chartType": 0, "series": {}})
        server.routes["backtests/orders/read"] = lambda p: Reply(500, {"success": False, "errors": ["orders are down"]})
        server.routes["backtests/delete"] = lambda p: ok()
        manifest = tmp_path / "m.yaml"
        manifest.write_text("version: 1\nprojects:\n  - id: 1\n    allow_empty: true\n    delete: [{name: 'run*'}]\n")
        result = run_cli("--retries", "1", "apply", str(manifest), "--yes", env=cli_env(server.url), cwd=tmp_path)
        assert result.returncode == 1
        assert f"failed: delete {bid} in project 1: archive incomplete, not deleted: /backtests/orders/read failed after 2 attempts" in result.stdout
        assert server.calls("backtests/delete") == [] and not list((tmp_path / ".reconciler" / "archive").rglob("*.json"))
    finally:
        server.stop()


def test_kill_9_during_archiving_leaves_no_partial_archive_and_no_delete_without_one(start_sandbox: Callable[..., SandboxServer], demo_db: Path,
                                                                                  tmp_path: Path) -> None:
    server = start_sandbox(db=demo_db, faults=Faults(latency_ms=15))
    before_rows = server.store.backtests(SCRATCH)
    before = {b.backtest_id for b in before_rows}
    manifest = tmp_path / "m.yaml"
    manifest.write_text(MANIFEST)
    proc = subprocess.Popen([sys.executable, "-m", "reconciler", "apply", str(manifest), "--yes", "--max-deletes", "60", "--parallelism", "3"],
                            cwd=tmp_path, env=cli_env(server.url), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    archive = tmp_path / ".reconciler" / "archive" / str(SCRATCH)
    deadline = time.monotonic() + 60
    while not (archive.exists() and len(list(archive.glob("*.json"))) >= 3 and server.store.backtests(SCRATCH) != before_rows) \
            and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    gone = before - {b.backtest_id for b in server.store.backtests(SCRATCH)}
    complete = set()
    for path in archive.glob("*.json"):
        document = json.loads(path.read_text())  # every file there is whole: written to a temp file, then renamed
        assert {"backtest", "charts", "orders", "insights"} <= set(document)
        complete.add(path.stem)
    assert gone and gone <= complete  # nothing was deleted without its complete archive


def test_archive_commands_read_it_back_offline(start_sandbox: Callable[..., SandboxServer], demo_db: Path, tmp_path: Path) -> None:
    server = start_sandbox(db=demo_db)
    row = next(b for b in server.store.backtests(SCRATCH) if b.status == "Completed." and "a" in b.name and b.statistics.get("trades", 0) > 10
               and "protected" not in b.tags)
    manifest = tmp_path / "m.yaml"
    manifest.write_text(MANIFEST)
    assert run_cli("apply", str(manifest), "--yes", "--max-deletes", "60", env=cli_env(server.url), cwd=tmp_path).returncode == 0
    offline = cli_env("http://127.0.0.1:9/api/v2")
    listed = run_cli("archive", "ls", "--project", str(SCRATCH), env=offline, cwd=tmp_path)
    assert listed.returncode == 0 and row.backtest_id in listed.stdout and "archives under .reconciler/archive" in listed.stdout
    shown = run_cli("archive", "show", row.backtest_id, env=offline, cwd=tmp_path)
    assert shown.returncode == 0 and f"{int(row.statistics['trades']):,} orders" in shown.stdout and "equity  " in shown.stdout
    equity = list(csv.reader(io.StringIO(run_cli("archive", "export", row.backtest_id, "--what", "equity", env=offline, cwd=tmp_path).stdout)))
    assert equity[0] == ["time", "equity"] and len(equity) == 1 + len(artifacts.trading_days())
    candles = artifacts.chart(row.backtest_id, row.statistics, True, "Strategy Equity")["series"]["Equity"]["values"]
    assert float(equity[-1][1]) == candles[-1][-1]  # a candle's close
    orders = list(csv.reader(io.StringIO(run_cli("archive", "export", row.backtest_id, "--what", "orders", env=offline, cwd=tmp_path).stdout)))
    assert orders[0][:3] == ["id", "time", "symbol"] and len(orders) == 1 + int(row.statistics["trades"])
    # LEAN's names, not its numbers: the sandbox's orders are market orders, filled, bought or sold
    columns = orders[0]
    assert {(o[columns.index("type")], o[columns.index("status")]) for o in orders[1:]} == {("Market", "Filled")}
    assert {o[columns.index("direction")] for o in orders[1:]} <= {"Buy", "Sell"} and len({o[columns.index("direction")] for o in orders[1:]}) == 2
    exported = json.loads(run_cli("archive", "export", row.backtest_id, "--what", "orders", "--format", "json", env=offline, cwd=tmp_path).stdout)
    assert exported["format_version"] == 1 and exported["rows"][0]["type"] == "Market" and exported["rows"][0]["status"] == "Filled"
    insights = list(csv.reader(io.StringIO(run_cli("archive", "export", row.backtest_id, "--what", "insights", env=offline, cwd=tmp_path).stdout)))
    assert insights[0][:3] == ["id", "generatedTime", "closeTime"] and len(insights) == 1 + int(row.statistics["trades"]) // 2
    assert {i[insights[0].index("direction")] for i in insights[1:]} <= {"Up", "Down", "Flat"}
    drawdown = list(csv.reader(io.StringIO(run_cli("archive", "export", row.backtest_id, "--what", "chart:Drawdown", env=offline, cwd=tmp_path).stdout)))
    assert drawdown[0] == ["series", "time", "value", "open", "high", "low"] and len(drawdown) > 1 and drawdown[1][0] == "Equity Drawdown"
    chart = json.loads(run_cli("archive", "export", row.backtest_id, "--what", "chart:Strategy Equity", "--format", "json", env=offline, cwd=tmp_path).stdout)
    assert chart["rows"][-1]["value"] == candles[-1][-1] and chart["rows"][-1]["open"] == candles[-1][1]
    nope = run_cli("archive", "export", row.backtest_id, "--what", "chart:Nope", env=offline, cwd=tmp_path)
    assert nope.returncode == 1 and "has no chart 'Nope'; its charts: Strategy Equity" in nope.stderr
    bogus = run_cli("archive", "export", row.backtest_id, "--what", "trades", env=offline, cwd=tmp_path)
    assert bogus.returncode == 1 and "say equity, orders, insights or chart:NAME" in bogus.stderr
    # ls for scripts and spreadsheets
    as_json = json.loads(run_cli("archive", "ls", "--format", "json", env=offline, cwd=tmp_path).stdout)
    assert as_json["format_version"] == 1 and row.backtest_id in {a["backtest"] for a in as_json["archives"]}
    as_csv = list(csv.reader(io.StringIO(run_cli("archive", "ls", "--format", "csv", env=offline, cwd=tmp_path).stdout)))
    assert as_csv[0][:2] == ["project", "backtest"] and len(as_csv) == 1 + len(as_json["archives"])
    # an index line lost (a crash between the file and its line): ls still finds the archive
    (tmp_path / ".reconciler" / "archive" / "index.jsonl").write_text("")
    assert row.backtest_id in run_cli("archive", "ls", env=offline, cwd=tmp_path).stdout
    # clear errors: a missing archive, a damaged one
    missing = run_cli("archive", "show", "f" * 32, env=offline, cwd=tmp_path)
    assert missing.returncode == 1 and "no archive of backtest ffff" in missing.stderr
    (tmp_path / ".reconciler" / "archive" / str(SCRATCH) / f"{row.backtest_id}.json").write_text("{not json")
    damaged = run_cli("archive", "show", row.backtest_id, env=offline, cwd=tmp_path)
    assert damaged.returncode == 1 and "is damaged" in damaged.stderr and "Traceback" not in damaged.stderr


def test_summary_archives_keep_the_read_alone(demo_sandbox: SandboxServer, tmp_path: Path) -> None:
    manifest = tmp_path / "m.yaml"
    manifest.write_text(MANIFEST)
    result = run_cli("apply", str(manifest), "--yes", "--max-deletes", "60", "--archive", "summary", env=cli_env(demo_sandbox.url), cwd=tmp_path)
    assert result.returncode == 0
    assert demo_sandbox.app.calls_by_endpoint["backtests/orders/read"] == 0 and demo_sandbox.app.calls_by_endpoint["backtests/chart/read"] == 0
    document = json.loads(next((tmp_path / ".reconciler" / "archive").rglob("*.json")).read_text())
    assert set(document) == {"backtest", "archived_at", "tool_version"}


def test_a_seed_may_carry_what_a_backtest_produced(start_sandbox: Callable[..., SandboxServer], tmp_path: Path) -> None:
    """Seed files may carry charts, orders and insights (a replayed bug report): served as they are, archived as they were."""
    bid = "ab" * 16
    chart = {"name": "My Chart", "chartType": 0, "series": {"Signal": {"name": "Signal", "unit": "", "index": 0, "seriesType": 0,
                                                                       "values": [[1700000000, 1.5], [1700086400, -0.25]]}}}
    orders = [{"id": n + 1, "time": "2023-11-15T14:30:00Z", "symbol": {"value": "SPY"}, "quantity": 1, "price": 450.0 + n} for n in range(250)]
    state = {"projects": [{"projectId": 1, "name": "P", "backtests": [
        {"backtestId": bid, "name": "recorded", "created": "2026-01-01 00:00:00", "status": "Completed.",
         "charts": {"My Chart": chart}, "orders": orders, "insights": []},
        {"backtestId": "cd" * 16, "name": "kept", "created": "2026-01-02 00:00:00", "status": "Completed."}]}]}
    server = start_sandbox(state=state)
    manifest = tmp_path / "m.yaml"
    manifest.write_text("version: 1\nprojects:\n  - id: 1\n    delete: [{name: recorded}]\n")
    result = run_cli("apply", str(manifest), "--yes", env=cli_env(server.url), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    document = json.loads((tmp_path / ".reconciler" / "archive" / "1" / f"{bid}.json").read_text())
    assert document["charts"] == {"My Chart": chart} and document["orders"] == orders and document["insights"] == []
    # and the client asked in the shapes the official spec documents
    for endpoint, schema in (("backtests/chart/read", "ReadBacktestChartRequest"), ("backtests/orders/read", "ReadBacktestOrdersRequest"),
                             ("backtests/read/insights", "ReadBacktestInsightsRequest")):
        asked = [params for name, params in server.app.recent_calls if name == endpoint]
        assert asked
        for params in asked:
            spec_validator(schema).validate(params)
            assert endpoint == "backtests/chart/read" or params["end"] - params["start"] < 100  # pages as the spec limits them


def test_lean_enum_names_and_what_is_not_one() -> None:
    from reconciler.commands.archive import ORDER_DIRECTIONS, ORDER_STATUSES, ORDER_TYPES, enum_name

    assert [enum_name(ORDER_TYPES, n) for n in (0, 1, 11)] == ["Market", "Limit", "TrailingStop"]
    assert [enum_name(ORDER_STATUSES, n) for n in (3, 5, 4)] == ["Filled", "Canceled", 4]  # LEAN has no status 4: the number stays
    assert [enum_name(ORDER_DIRECTIONS, n) for n in (1, -1, 99)] == ["Sell", -1, 99]
    assert enum_name(ORDER_TYPES, "limit") == "Limit" and enum_name(ORDER_TYPES, True) is True and enum_name(ORDER_STATUSES, None) is None
