"""Shared fixtures: real sandbox servers on 127.0.0.1 (in-process threads or subprocesses)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable, Iterator

import pytest

from reconciler.api.client import QuantConnectClient, RetryPolicy
from reconciler.api.credentials import Credentials
from reconciler.sandbox.seed import apply_seed, seed_from_data
from reconciler.sandbox.server import DEFAULT_API_TOKEN, DEFAULT_USER_ID, Faults, SandboxConfig, SandboxServer
from reconciler.sandbox.store import SandboxStore

from hostile import HostileServer

FAST_RETRY = RetryPolicy(attempts=10, base=0.005, cap=0.05)
SANDBOX_CREDENTIALS = Credentials(DEFAULT_USER_ID, DEFAULT_API_TOKEN, "test")


@pytest.fixture(scope="session")
def demo_db_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "demo.sqlite"
    store = SandboxStore(path)
    apply_seed(store, "demo")
    store.close()
    return path


@pytest.fixture
def demo_db(demo_db_template: Path, tmp_path: Path) -> Path:
    """A fresh copy of the seeded demo database for one test."""
    path = tmp_path / "sandbox.sqlite"
    shutil.copy(demo_db_template, path)
    return path


@pytest.fixture
def start_sandbox(tmp_path: Path) -> Iterator[Callable[..., SandboxServer]]:
    servers: list[SandboxServer] = []

    def start(db: Path | None = None, state: dict | None = None, faults: Faults | None = None, **config: object) -> SandboxServer:
        store = SandboxStore(db or tmp_path / f"sandbox-{len(servers)}.sqlite")
        if state is not None:
            seed_from_data(store, state)
        # Created backtests complete at the next call (run_seconds 0) unless a test asks for the lifecycle's timing.
        config = {"run_seconds": 0.0, "compile_seconds": 0.0, **config}
        server = SandboxServer(store, SandboxConfig(port=0, faults=faults or Faults(), **config)).start()  # type: ignore[arg-type]
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
        server.store.close()


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
    """A server of our own on 127.0.0.1 that answers whatever a test scripts (tests/hostile.py)."""
    server = HostileServer().start()
    yield server
    server.stop()


@pytest.fixture
def demo_sandbox(start_sandbox: Callable[..., SandboxServer], demo_db: Path) -> SandboxServer:
    return start_sandbox(db=demo_db)


_OPEN_CLIENTS: list[QuantConnectClient] = []


def make_client(server: SandboxServer, **kwargs: object) -> QuantConnectClient:
    kwargs.setdefault("retry", FAST_RETRY)
    client = QuantConnectClient(SANDBOX_CREDENTIALS, server.url, **kwargs)  # type: ignore[arg-type]
    _OPEN_CLIENTS.append(client)
    return client


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    """Every client a test made is closed after it: keep-alive sockets would otherwise pile up over the run."""
    yield
    while _OPEN_CLIENTS:
        _OPEN_CLIENTS.pop().close()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", help="Rewrite tests/golden/*.json from the current engine (then review the diff).")
    parser.addoption(
        "--update-readme", action="store_true", help="Rewrite the README's checked output blocks from what the commands print (then review the diff)."
    )


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


MERMAID_CLI = "@mermaid-js/mermaid-cli@11"


@pytest.fixture(scope="session")
def mermaid_cli(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Mermaid's own renderer (npm), driving the system's Chromium: the command that turns a chart into SVG.

    .ci/run installs it into .ci/node; elsewhere it is installed once into ~/.cache (npm's registry;
    PUPPETEER_SKIP_DOWNLOAD: it uses the system's Chromium, never downloads one)."""
    import json
    import os
    import subprocess

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "the chart test needs Chromium: apt-get install -y chromium (.ci/run does it)"
    found = [
        p
        for p in (
            Path(__file__).parent.parent / ".ci" / "node" / "node_modules" / ".bin" / "mmdc",
            Path.home() / ".cache" / "backtest-reconciler-tests" / "node_modules" / ".bin" / "mmdc",
        )
        if p.exists()
    ]
    if not found:
        prefix = Path.home() / ".cache" / "backtest-reconciler-tests"
        prefix.mkdir(parents=True, exist_ok=True)
        npm = shutil.which("npm")
        assert npm, "the chart test needs npm (apt-get install -y npm) to install " + MERMAID_CLI
        subprocess.run(
            [npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund", MERMAID_CLI],
            check=True,
            capture_output=True,
            env={**os.environ, "PUPPETEER_SKIP_DOWNLOAD": "1"},
            timeout=600,
        )
        found = [prefix / "node_modules" / ".bin" / "mmdc"]
    config = tmp_path_factory.mktemp("mermaid") / "puppeteer.json"
    config.write_text(json.dumps({"executablePath": chromium, "args": ["--no-sandbox"]}))
    return [str(found[0]), "--puppeteerConfigFile", str(config)]
