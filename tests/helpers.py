"""Helpers for tests that run the real CLI as a subprocess."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Callable

from reconciler.sandbox.server import DEFAULT_API_TOKEN, DEFAULT_USER_ID


def cli_env(url: str | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QC_")}
    env.update({"QC_USER_ID": DEFAULT_USER_ID, "QC_API_TOKEN": DEFAULT_API_TOKEN, "NO_COLOR": "1", "HOME": env.get("HOME", "/tmp")})
    if url:
        env["QC_API_URL"] = url
    env.update(extra)
    return env


def run_cli(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, input: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *args], cwd=cwd, env=env or cli_env(), input=input, capture_output=True, text=True, timeout=timeout
    )


class ServeProcess:
    """`reconciler sandbox serve --port 0 ...` in a subprocess; the URL is read from its first line."""

    def __init__(self, *args: str, cwd: Path | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "reconciler", "sandbox", "serve", "--port", "0", *args],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=cli_env(),
        )
        assert self.proc.stdout is not None
        self.lines: list[str] = []
        self.url = ""
        stdout: IO[str] = self.proc.stdout
        for line in stdout:
            self.lines.append(line)
            match = re.search(r"(http://127\.0\.0\.1:\d+/api/v2)", line)
            if match:
                self.url = match.group(1)
            if line.startswith("Press Ctrl-C"):
                break
        if not self.url:
            self.proc.kill()
            raise RuntimeError("sandbox did not start: " + "".join(self.lines) + (self.proc.stderr.read() if self.proc.stderr else ""))

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream:
                stream.close()

    def __enter__(self) -> "ServeProcess":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run_in_pty(args: list[str], env: dict[str, str], cwd: Path, answer: str | None = None, before_answer: Callable[[], None] | None = None) -> tuple[int, str]:
    """Run the CLI on a pseudo-terminal (stdin, stdout and stderr), answering its prompt once
    (after calling before_answer: the moment between the plan shown and the changes made)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "reconciler", *args], stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd, close_fds=True)
    os.close(slave)
    output = b""
    answered = False
    deadline = time.monotonic() + 60
    poller = select.poll()  # not select(): it cannot watch a descriptor numbered 1024 or more
    poller.register(master, select.POLLIN)
    while time.monotonic() < deadline:
        ready = poller.poll(200)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
        if answer is not None and not answered and b"Only 'yes' is accepted:" in output:
            if before_answer is not None:
                before_answer()
            os.write(master, answer.encode() + b"\n")
            answered = True
        if proc.poll() is not None and not ready:
            break
    proc.wait(timeout=30)
    os.close(master)
    return proc.returncode, output.decode(errors="replace")


def reason_texts(backtest: dict) -> list[str]:
    """A plan document's reasons for one backtest, as every view renders them."""
    from reconciler.models import Reason

    return [str(Reason.from_dict(reason)) for reason in backtest["reasons"]]
