"""Tags for the last check before a delete: a /backtests/list of the project, at most a few seconds old.

A read carries no tags (docs/design.md, "The last check before a delete"), so the tags a
delete is checked against come from a list of its project fetched at most
`LAST_CHECK_LIST_AGE` seconds before the delete call. One list serves every delete of
the project in that window: workers of one project wait for the list in flight rather
than send their own.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable, Mapping

from reconciler.models import Backtest


@dataclass(frozen=True)
class RecentList:
    started: float  # monotonic time the list call was started: its answer is at least this fresh
    backtests: Mapping[str, Backtest]

    def age(self, clock: Callable[[], float] = time.monotonic) -> float:
        return clock() - self.started


class RecentLists:
    """A project's list, shared while it is younger than half the window (so a delete has the other half to happen in)."""

    def __init__(self, fetch: Callable[[int], list[Backtest]], max_age: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._fetch = fetch
        self.max_age = max_age
        self._clock = clock
        self._lists: dict[int, RecentList] = {}
        self._locks: dict[int, threading.Lock] = {}
        self._guard = threading.Lock()
        self.calls = 0

    def get(self, project_id: int) -> RecentList:
        with self._guard:
            lock = self._locks.setdefault(project_id, threading.Lock())
        with lock:
            recent = self._lists.get(project_id)
            if recent is not None and recent.age(self._clock) <= self.max_age / 2:
                return recent
            started = self._clock()
            backtests = self._fetch(project_id)
            with self._guard:
                self.calls += 1
            recent = RecentList(started, {b.id: b for b in backtests})
            self._lists[project_id] = recent
            return recent
