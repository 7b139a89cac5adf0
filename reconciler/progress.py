"""Feedback on long work, on stderr: a bar on a terminal, a plain line at least every few seconds in CI logs.

Nothing is shown for work that ends within `quiet_for` seconds: short commands stay quiet.
"""

from __future__ import annotations

import threading
import time
from typing import TextIO


class Progress:
    """Counts done and failed items of one phase (`listing`, `reading notes`, `apply`) and reports them."""

    def __init__(self, total: int, stream: TextIO, interactive: bool, activity: str = "apply", every: float = 5.0, quiet_for: float = 0.0) -> None:
        self.total = total
        self.done = 0
        self.failed = 0
        self.stream = stream
        self.interactive = interactive
        self.activity = activity
        self.every = every
        self.quiet_for = quiet_for
        self.started = time.monotonic()
        self._last_print = self.started
        self._shown = False
        self._lock = threading.Lock()

    def add(self, more: int) -> None:
        with self._lock:
            self.total += more

    def tick(self, failed: bool = False) -> None:
        with self._lock:
            self.done += 1
            self.failed += failed
            now = time.monotonic()
            if not self._shown and now - self.started < self.quiet_for:
                return  # short work stays quiet
            if self.interactive:
                self._bar(now)
            elif not self._shown or now - self._last_print >= self.every or self.done == self.total:
                self._last_print = now
                self._shown = True
                self.stream.write(f"{self.activity}: {self.done:,}/{self.total:,} done, {self.failed:,} failed, {self._rate(now):.1f}/s\n")
                self.stream.flush()

    def _rate(self, now: float) -> float:
        return self.done / max(now - self.started, 1e-9)

    def _bar(self, now: float) -> None:
        self._shown = True
        width = 30
        filled = int(width * self.done / max(self.total, 1))
        self.stream.write(
            f"\r{self.activity}: [{'#' * filled}{'.' * (width - filled)}] {self.done:,}/{self.total:,}  {self.failed:,} failed  {self._rate(now):.1f}/s "
        )
        if self.done == self.total:
            self.stream.write("\n")
        self.stream.flush()

    def finish(self) -> None:
        with self._lock:
            if self.interactive and self._shown and self.done != self.total:
                self.stream.write("\n")
                self.stream.flush()
