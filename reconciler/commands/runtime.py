"""What every command shares: global options, the API client, the embedded sandbox, output helpers."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from reconciler.api.credentials import Credentials, resolve_credentials
from reconciler.api.urls import DEFAULT_API_URL, check_api_url
from reconciler.defaults import DEFAULT_DB, PARALLELISM, REQUEST_DEADLINE, RETRIES

if TYPE_CHECKING:  # imported when used: `validate` in a pre-commit hook need not load requests
    from reconciler.api.client import QuantConnectClient
    from reconciler.progress import Progress
    from reconciler.sandbox.server import SandboxServer


@dataclass
class GlobalOptions:
    api_url: str | None = None
    user_id: str | None = None
    api_token: str | None = field(default=None, repr=False)
    sandbox: bool = False
    sandbox_db: Path = DEFAULT_DB
    retries: int = RETRIES
    request_timeout: float = REQUEST_DEADLINE
    verbose: bool = False
    no_color: bool = False
    #: The console script's process ends right after the command, without freeing what it built one object at a time
    #: (a 100,000-backtest plan: a tenth of an offline plan's CPU; mypy ends the same way). Off in-process (tests).
    exit_at_once: bool = False


class Runtime:
    """Created per invocation; builds the client (and the in-process sandbox) only when a command needs it."""

    def __init__(self, options: GlobalOptions, stdout: TextIO | None = None, stderr: TextIO | None = None) -> None:
        self.options = options
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self._client: QuantConnectClient | None = None
        self._sandbox: SandboxServer | None = None
        self._outliving: list[object] = []

    @property
    def api_url(self) -> str:
        if self.options.sandbox:
            return self._start_sandbox().url
        return check_api_url(self.options.api_url or DEFAULT_API_URL)  # click already read QC_API_URL

    @property
    def api_identity(self) -> str:
        """What a saved plan records as its target: the URL, or the embedded sandbox's database (its port changes)."""
        if self.options.sandbox:
            return f"sandbox:{Path(self.options.sandbox_db).resolve()}"
        return self.api_url

    def color(self, stream: TextIO) -> bool:
        if self.options.no_color or os.environ.get("NO_COLOR"):
            return False
        return hasattr(stream, "isatty") and stream.isatty()

    def credentials(self) -> Credentials:
        if self.options.sandbox:
            server = self._start_sandbox()
            return Credentials(server.config.user_id, server.config.api_token, "the embedded sandbox")
        return resolve_credentials(self.options.user_id, self.options.api_token)

    def client(self, parallelism: int = PARALLELISM) -> QuantConnectClient:
        from reconciler.api.client import QuantConnectClient, RetryPolicy

        if self._client is None:
            url = self.api_url  # checked before credentials: a bad URL is reported first
            retry = RetryPolicy(attempts=self.options.retries + 1)
            self._client = QuantConnectClient(self.credentials(), url, pool_size=max(parallelism * 2, 16), retry=retry,
                                              deadline=self.options.request_timeout, notify=self.err)
        return self._client

    def _start_sandbox(self) -> SandboxServer:
        from reconciler.sandbox.embedded import start_embedded

        if self._sandbox is None:
            self._sandbox = start_embedded(self.options.sandbox_db)
            self.err(f"Using the embedded sandbox at {self._sandbox.url} (database {self.options.sandbox_db}).")
        return self._sandbox

    def progress(self, activity: str) -> "Progress":
        """Feedback for a phase that may take a while: quiet for the first two seconds, then a bar or periodic lines."""
        from reconciler.progress import Progress

        return Progress(0, self.stderr, interactive=self.stderr.isatty(), activity=activity, every=5.0, quiet_for=2.0)

    def outlive(self, *objects: object) -> None:
        """Keep large results (a plan, its records) until the process ends: with exit_at_once they are never freed."""
        if self.options.exit_at_once:
            self._outliving.extend(objects)

    def out(self, text: str = "") -> None:
        print(text, file=self.stdout)

    def err(self, text: str) -> None:
        print(text, file=self.stderr)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        if self._sandbox is not None:
            self._sandbox.stop()
            self._sandbox.store.close()

    def __enter__(self) -> "Runtime":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
