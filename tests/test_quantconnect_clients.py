"""The sandbox as QuantConnect's own clients know it: lean-cli's API clients and QuantConnect's MCP server's tools drive a
backtest's whole life against it over real HTTP (docs/sandbox.md, "Fidelity"; the vendored clients: tests/vendor/README.md).

A project is created with its language's files, edited, patched, compiled (a build error first, then a build success),
backtested (queued, running with rising progress, completed with LEAN's statistics) with parameters, its orders, insights
and equity chart read, renamed and deleted.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import jsonschema
import pytest

from reconciler.sandbox.server import DEFAULT_API_TOKEN, DEFAULT_USER_ID, SandboxServer

VENDOR = Path(__file__).parent / "vendor"
RUN_SECONDS = 0.8  # long enough to see a created backtest queued and running, short enough for the suite
LEAN_STATISTICS = {"Total Orders", "Average Win", "Average Loss", "Compounding Annual Return", "Drawdown", "Expectancy", "Start Equity",
                   "End Equity", "Net Profit", "Sharpe Ratio", "Sortino Ratio", "Probabilistic Sharpe Ratio", "Loss Rate", "Win Rate",
                   "Profit-Loss Ratio", "Alpha", "Beta", "Annual Standard Deviation", "Annual Variance", "Information Ratio", "Tracking Error",
                   "Treynor Ratio", "Total Fees", "Estimated Strategy Capacity", "Lowest Capacity Asset", "Portfolio Turnover", "Drawdown Recovery"}
RUNTIME_STATISTICS = {"Equity", "Fees", "Holdings", "Net Profit", "Probabilistic Sharpe Ratio", "Return", "Unrealized", "Volume"}
GOOD_ALGORITHM = '''# region imports
from AlgorithmImports import *
# endregion

class Lifecycle(QCAlgorithm):
    def initialize(self):
        self.set_cash(100000)
        self.fast = int(self.get_parameter("fast", 10))
'''


@pytest.fixture
def lifecycle_sandbox(start_sandbox: Callable[..., SandboxServer]) -> SandboxServer:
    return start_sandbox(state={"projects": []}, run_seconds=RUN_SECONDS, compile_seconds=0.2)


def wait_for(read: Callable[[], Any], done: Callable[[Any], bool], seconds: float = 10.0) -> list[Any]:
    """Every answer until one is done (polled every 50 ms, as the clients' own loops do, only faster)."""
    seen, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        seen.append(read())
        if done(seen[-1]):
            return seen
        time.sleep(0.05)
    raise AssertionError(f"not done after {seconds} s: {seen[-1]!r}")


# --- lean-cli -------------------------------------------------------------------------


class _QuietLogger:
    """lean-cli's Logger prints through rich; its HTTP client only asks this much of it."""

    debug_logging_enabled = False

    def debug(self, message: Any) -> None:
        pass


@pytest.fixture
def lean_api(lifecycle_sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.syspath_prepend(str(VENDOR / "lean_cli"))
    from lean.components.api import api_client
    from lean.components.util.http_client import HTTPClient

    monkeypatch.setattr(api_client, "API_BASE_URL", lifecycle_sandbox.url + "/")  # lean-cli's QC_API=local is port 5612; ours is free
    logger = _QuietLogger()
    return api_client.APIClient(logger, HTTPClient(logger), DEFAULT_USER_ID, DEFAULT_API_TOKEN)  # type: ignore[arg-type]


def test_lean_cli_drives_a_backtests_whole_life(lean_api: Any) -> None:
    from lean.models.api import QCCompileState, QCLanguage
    from lean.models.errors import RequestFailedError

    assert lean_api.is_authenticated()
    assert lean_api.accounts.get_organization().organizationId  # `lean whoami` reads these two
    assert lean_api.users.get_info().name == "Sandbox User"
    project = lean_api.projects.create("Research/Lifecycle", QCLanguage.Python, None)
    pid = project.projectId
    assert lean_api.projects.get(pid, None).name == "Research/Lifecycle"
    assert {f.name for f in lean_api.files.get_all(pid)} == {"main.py", "research.ipynb"}  # what QuantConnect creates for Python

    # LEAN's own test: jibberish at the end of the file is a build error, with the error in the logs
    lean_api.files.update(pid, "main.py", GOOD_ALGORITHM + "[Jibberish at end of the file to cause a build error]")
    created = lean_api.compiles.create(pid)
    assert created.state == QCCompileState.InQueue
    broken = wait_for(lambda: lean_api.compiles.get(pid, created.compileId), lambda c: c.state != QCCompileState.InQueue)[-1]
    assert broken.state == QCCompileState.BuildError and any("main.py" in line and "Line: 9" in line for line in broken.logs)
    with pytest.raises(RequestFailedError, match="build error"):
        lean_api.backtests.create(pid, created.compileId, "from a broken build")

    lean_api.files.update(pid, "main.py", GOOD_ALGORITHM)
    lean_api.files.create(pid, "helpers.py", "SLOW = 50\n")
    assert lean_api.files.get(pid, "helpers.py").content == "SLOW = 50\n"
    compiled = lean_api.compiles.create(pid)
    good = wait_for(lambda: lean_api.compiles.get(pid, compiled.compileId), lambda c: c.state != QCCompileState.InQueue)[-1]
    assert good.state == QCCompileState.BuildSuccess and good.logs
    with pytest.raises(RequestFailedError, match="not issued for project"):  # any id of the documented form is not enough
        lean_api.backtests.create(pid, "0" * 32 + "-" + "0" * 32, "invented compile id")

    backtest = lean_api.backtests.create(pid, compiled.compileId, "lean-cli run", {"fast": "10"})
    assert backtest.status == "In Queue..." and backtest.error is None and not backtest.is_complete()
    reads = wait_for(lambda: lean_api.backtests.get(pid, backtest.backtestId), lambda b: b.is_complete())
    statuses = [b.status for b in reads]
    assert "In Queue..." in statuses and any(s.startswith("Running: ") for s in statuses) and statuses[-1] == "Completed."
    progress = [b.progress for b in reads]
    assert progress == sorted(progress) and progress[-1] == 1.0  # progress rises
    done = reads[-1]
    assert done.error is None and done.stacktrace is None and done.totalPerformance  # lean-cli's cloud runner waits for totalPerformance
    assert set(done.statistics) == LEAN_STATISTICS and set(done.runtimeStatistics) == RUNTIME_STATISTICS
    assert done.statistics["Total Orders"].isdigit() and done.runtimeStatistics["Equity"].startswith("$")

    orders = lean_api.backtests.read_orders(pid, backtest.backtestId, 0, 100)  # a 0..100 page, with success
    assert len(orders["orders"]) == min(100, int(done.statistics["Total Orders"]))
    chart = lean_api.backtests.read_chart(pid, backtest.backtestId, "Strategy Equity", 0, 2**31, 50)
    candles = chart["series"]["Equity"]["values"]
    assert 0 < len(candles) <= 50 and all(len(c) == 5 and c[3] <= min(c[1], c[4]) <= max(c[1], c[4]) <= c[2] for c in candles)

    # the same files and parameters give the same statistics; other parameters, others
    again = lean_api.backtests.create(pid, compiled.compileId, "same inputs", {"fast": "10"})
    other = lean_api.backtests.create(pid, compiled.compileId, "other inputs", {"fast": "20"})
    finished = {b: wait_for(lambda b=b: lean_api.backtests.get(pid, b), lambda r: r.is_complete())[-1] for b in (again.backtestId, other.backtestId)}
    assert finished[again.backtestId].statistics == done.statistics != finished[other.backtestId].statistics
    listed = {b["backtestId"] for b in lean_api.backtests.list(pid)}
    assert {backtest.backtestId, again.backtestId, other.backtestId} == listed

    lean_api.backtests.delete(pid, other.backtestId)
    lean_api.files.delete(pid, "helpers.py")
    assert {f.name for f in lean_api.files.get_all(pid)} == {"main.py", "research.ipynb"}
    lean_api.projects.update(pid, name="Research/Renamed", description="checked with lean-cli")
    assert lean_api.projects.get(pid, None).description == "checked with lean-cli"
    lean_api.projects.delete(pid)
    with pytest.raises(RequestFailedError, match="not found"):
        lean_api.projects.get(pid, None)


# --- QuantConnect's MCP server --------------------------------------------------------------


@pytest.fixture
def mcp_server(lifecycle_sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The MCP server's own tools, registered on FastMCP as the server does (tests/vendor/README.md), pointed at the sandbox."""
    monkeypatch.syspath_prepend(str(VENDOR / "mcp_server" / "src"))
    for name in [m for m in sys.modules if m in ("models", "api_connection", "code_source_id", "tools") or m.startswith("tools.")]:
        monkeypatch.delitem(sys.modules, name)
    import api_connection
    from mcp.server.fastmcp import FastMCP
    from tools.account import register_account_tools
    from tools.backtests import register_backtest_tools
    from tools.compile import register_compile_tools
    from tools.files import register_file_tools
    from tools.project import register_project_tools

    assert Path(api_connection.__file__).is_relative_to(VENDOR)
    monkeypatch.setattr(api_connection, "BASE_URL", lifecycle_sandbox.url)
    monkeypatch.setattr(api_connection, "USER_ID", DEFAULT_USER_ID)
    monkeypatch.setattr(api_connection, "API_TOKEN", DEFAULT_API_TOKEN)
    server = FastMCP("quantconnect")
    for register in (register_account_tools, register_project_tools, register_file_tools, register_compile_tools, register_backtest_tools):
        register(server)
    yield server


def call(server: Any, tool: str, arguments: dict[str, Any] | None = None, expect_success: bool = True) -> dict[str, Any]:
    """As the MCP server's own tests check a tool (tests/vendor/README.md): the answer's success, then its output schema."""
    unstructured, structured = asyncio.run(server.call_tool(tool, {"model": arguments} if arguments is not None else {}))
    assert json.loads(unstructured[0].text).get("success", True) is expect_success, structured
    if expect_success:
        jsonschema.validate(structured, server._tool_manager.get_tool(tool).fn_metadata.output_schema)
    return structured


PATCH = """diff --git a/main.py b/main.py
index 5a38b08..72c8d1e 100644
--- a/main.py
+++ b/main.py
@@ -2,4 +2,4 @@
 from AlgorithmImports import *
 # endregion

-a = 1
+a = 2
"""  # the MCP server's own patch test case (docs/sandbox.md, "Fidelity"), applied to its algorithm below


def test_mcp_server_tools_drive_a_backtests_whole_life(mcp_server: Any) -> None:
    assert call(mcp_server, "read_account")["organizationId"]
    project = call(mcp_server, "create_project", {"name": "MCP Lifecycle", "language": "Py"})["projects"][0]
    pid = project["projectId"]
    files = call(mcp_server, "read_file", {"projectId": pid})["files"]
    assert sorted(f["name"] for f in files) == ["main.py", "research.ipynb"]
    call(mcp_server, "create_file", {"projectId": pid, "name": "main.py"}, expect_success=False)  # the name is taken
    call(mcp_server, "create_file", {"projectId": pid, "name": "empty.py", "content": ""}, expect_success=False)  # as the MCP tests expect
    call(mcp_server, "create_file", {"projectId": pid, "name": "utils/empty.py"})

    file_patch_py = "# region imports\nfrom AlgorithmImports import *\n# endregion\n\na = 1\n"  # the algorithm that patch is for
    call(mcp_server, "update_file_contents", {"projectId": pid, "name": "main.py", "content": file_patch_py})
    call(mcp_server, "patch_file", {"projectId": pid, "patch": PATCH})
    patched = call(mcp_server, "read_file", {"projectId": pid, "name": "main.py"})["files"][0]["content"]
    assert patched.endswith("a = 2\n") and "a = 1" not in patched
    call(mcp_server, "patch_file", {"projectId": pid, "patch": PATCH}, expect_success=False)  # its context no longer matches

    compiled = call(mcp_server, "create_compile", {"projectId": pid})
    assert compiled["state"] == "InQueue" and compiled["projectId"] == pid
    states = wait_for(lambda: call(mcp_server, "read_compile", {"projectId": pid, "compileId": compiled["compileId"]}), lambda c: c["state"] != "InQueue")
    assert states[-1]["state"] == "BuildSuccess" and states[-1]["logs"]

    created = call(mcp_server, "create_backtest", {"projectId": pid, "compileId": compiled["compileId"], "backtestName": "MCP run",
                                                   "parameters": {"a": 0, "b": 0.0, "c": "foo"}})["backtest"]
    assert created["name"] == "MCP run" and created["projectId"] == pid and created["parameterSet"] == {"a": 0, "b": 0.0, "c": "foo"}
    bid = created["backtestId"]
    # The MCP server's models take `status` as the spec's enum, whose running value is the template "'Running: _%'": a read while
    # it runs fails the server's own output check (docs/sandbox.md, "Where the sources disagree"), so this waits it out.
    time.sleep(RUN_SECONDS)
    done = wait_for(lambda: call(mcp_server, "read_backtest", {"projectId": pid, "backtestId": bid})["backtest"], lambda b: b["completed"])[-1]
    # the MCP server's model of `statistics` is the spec's, which predates LEAN's "Drawdown Recovery": pydantic leaves it out
    assert done["status"] == "Completed." and done["error"] is None and set(done["statistics"]) == LEAN_STATISTICS - {"Drawdown Recovery"}
    summaries = call(mcp_server, "list_backtests", {"projectId": pid, "includeStatistics": True})["backtests"]
    assert [s["backtestId"] for s in summaries] == [bid] and summaries[0]["sharpeRatio"] is not None

    orders = call(mcp_server, "read_backtest_orders", {"projectId": pid, "backtestId": bid, "start": 0, "end": 100})
    assert len(orders["orders"]) == min(100, int(done["statistics"]["Total Orders"]))
    insights = call(mcp_server, "read_backtest_insights", {"projectId": pid, "backtestId": bid, "start": 0, "end": 100})
    assert insights["length"] == len(insights["insights"])
    chart = call(mcp_server, "read_backtest_chart", {"projectId": pid, "backtestId": bid, "name": "Strategy Equity", "count": 20,
                                                      "start": 0, "end": 2**31})["chart"]
    assert all(len(point) == 5 for point in chart["series"]["Equity"]["values"])

    call(mcp_server, "update_backtest", {"projectId": pid, "backtestId": bid, "name": "MCP run, renamed", "note": "via MCP"})
    assert call(mcp_server, "read_backtest", {"projectId": pid, "backtestId": bid})["backtest"]["note"] == "via MCP"
    call(mcp_server, "delete_backtest", {"projectId": pid, "backtestId": bid})
    call(mcp_server, "read_backtest", {"projectId": pid, "backtestId": bid}, expect_success=False)
    call(mcp_server, "delete_file", {"projectId": pid, "name": "utils/empty.py"})
    call(mcp_server, "update_project", {"projectId": pid, "name": "MCP Lifecycle (done)"})
    call(mcp_server, "delete_project", {"projectId": pid})
    call(mcp_server, "read_project", {"projectId": pid}, expect_success=False)
