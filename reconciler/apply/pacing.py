"""Pacing and progress shared by every apply worker."""

from __future__ import annotations

import threading
import time
from typing import Callable, TextIO


class Pacer:
    """At most `rate` call starts per second across all workers (None: unpaced)."""

    def __init__(self, rate: float | None, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        self.interval = 1.0 / rate if rate else 0.0
        self._next = 0.0
        self._lock = threading.Lock()
        self._clock = clock
        self._sleep = sleep

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = self._clock()
            slot = max(now, self._next)
            self._next = slot + self.interval
        if slot > now:
            self._sleep(slot - now)


class Progress:
    """A bar on a terminal; plain periodic lines otherwise (CI logs)."""

    def __init__(self, total: int, stream: TextIO, interactive: bool, every: float = 5.0) -> None:
        self.total = total
        self.done = 0
        self.failed = 0
        self.stream = stream
        self.interactive = interactive
        self.every = every
        self.started = time.monotonic()
        self._last_print = self.started
        self._lock = threading.Lock()

    def tick(self, failed: bool) -> None:
        with self._lock:
            self.done += 1
            self.failed += failed
            now = time.monotonic()
            if self.interactive:
                self._bar(now)
            elif now - self._last_print >= self.every or self.done == self.total:
                self._last_print = now
                self.stream.write(f"apply: {self.done}/{self.total} done, {self.failed} failed, {self._rate(now):.1f} actions/s\n")
                self.stream.flush()

    def _rate(self, now: float) -> float:
        return self.done / max(now - self.started, 1e-9)

    def _bar(self, now: float) -> None:
        width = 30
        filled = int(width * self.done / max(self.total, 1))
        self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total}  {self.failed} failed  {self._rate(now):.1f}/s ")
        if self.done == self.total:
            self.stream.write("\n")
        self.stream.flush()

    def finish(self) -> None:
        with self._lock:
            if self.interactive and self.done != self.total:
                self.stream.write("\n")
                self.stream.flush()
