"""Manual conformance check: QuantConnect's own lean-cli API client against the sandbox.

lean-cli is heavy (docker, pydantic, quantconnect-stubs), so it is not a test
dependency. To run the check (seen passing with lean 1.0.230):

    python3 -m venv /tmp/lean && /tmp/lean/bin/pip install lean==1.0.230 -e .
    echo '{"modules": []}' > "$(/tmp/lean/bin/python -c 'import lean, pathlib; print(pathlib.Path(lean.__file__).parent.parent)')/modules-1.14.json"
    /tmp/lean/bin/python tools/check_lean_cli.py

It starts a sandbox on 127.0.0.1:5612 (lean-cli's QC_API=local address) with a
throw-away demo database and exercises authenticate, projects/read (GET),
backtests/list, backtests/read (GET, lean's pydantic model) and backtests/delete.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ["QC_API"] = "local"

from lean.components.api.api_client import APIClient  # noqa: E402
from lean.components.util.http_client import HTTPClient  # noqa: E402
from lean.components.util.logger import Logger  # noqa: E402

from reconciler.sandbox.embedded import open_store  # noqa: E402
from reconciler.sandbox.server import DEFAULT_API_TOKEN, DEFAULT_USER_ID, SandboxConfig, SandboxServer  # noqa: E402


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        store, _ = open_store(Path(tmp) / "lean.sqlite")
        server = SandboxServer(store, SandboxConfig(port=5612)).start()
        try:
            logger = Logger()
            api = APIClient(logger, HTTPClient(logger), DEFAULT_USER_ID, DEFAULT_API_TOKEN)
            assert api.is_authenticated(), "lean-cli could not authenticate"
            projects = api.projects.get_all(None)
            assert {p.name for p in projects} >= {"Momentum v2", "Scratch"}
            listed = api.backtests.list(23456792)
            backtest = api.backtests.get(23456792, listed[0]["backtestId"])
            api.backtests.delete(23456792, backtest.backtestId)
            assert len(api.backtests.list(23456792)) == len(listed) - 1
            assert not APIClient(logger, HTTPClient(logger), DEFAULT_USER_ID, "wrong-token").is_authenticated()
            print(f"lean-cli agrees: {len(projects)} projects, {len(listed)} backtests listed, read {backtest.backtestId} "
                  f"({backtest.status}), deleted it; a wrong token is refused.")
        finally:
            server.stop()
            store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
