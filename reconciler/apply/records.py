"""Append-only journal of mutating calls and durable archives of deleted backtests."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any, TextIO

from reconciler.fsutil import write_atomic
from reconciler.models import is_backtest_id
from reconciler.timeutil import format_iso, utcnow


class Journal:
    """One JSON line per mutating call, flushed as it happens (a kill -9 loses at most the calls in flight)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._handle: TextIO = path.open("a", encoding="utf-8")
        self._lock = threading.Lock()

    def record(self, *, project: int, backtest: str, action: str, before: Any, after: Any, outcome: str, error: str | None = None,
               archive: str | None = None) -> None:
        line = {"time": format_iso(utcnow()), "project": project, "backtest": backtest, "action": action, "before": before,
                "after": after, "outcome": outcome, "error": error}
        if archive:
            line["archive"] = archive
        text = json.dumps(line, ensure_ascii=False) + "\n"
        with self._lock:
            self._handle.write(text)
            self._handle.flush()

    def close(self) -> None:
        with self._lock:
            self._handle.close()


class Archive:
    """`<dir>/<projectId>/<backtestId>.json`: the /backtests/read body, written durably before the delete."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path_for(self, project_id: int, backtest_id: str) -> Path:
        if isinstance(project_id, bool) or not isinstance(project_id, int) or project_id <= 0 or not is_backtest_id(backtest_id):
            raise ValueError(f"refusing to archive under unsafe ids {project_id!r}/{backtest_id!r}")
        return self.directory / str(project_id) / f"{backtest_id}.json"

    def write(self, project_id: int, backtest_id: str, body: dict[str, Any]) -> Path:
        path = self.path_for(project_id, backtest_id)
        write_atomic(path, json.dumps(body, ensure_ascii=False) + "\n")  # compact: the C encoder
        return path
