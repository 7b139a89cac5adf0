"""Records shared by every layer: what a project and a backtest are, once parsed."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Mapping

BACKTEST_ID = re.compile(r"^[0-9a-f]{32}$")

COMPLETED = "completed"
FAILED = "failed"
RUNNING = "running"
QUEUED = "queued"
KNOWN_STATUSES = (COMPLETED, FAILED, RUNNING, QUEUED)
IN_PROGRESS = (RUNNING, QUEUED)
#: Always protects, whatever a manifest's protect_tags say: the protection lives on the backtest.
PROTECTED_TAG = "protected"

#: Statistics that /backtests/list carries with includeStatistics=true.
STATISTICS = (
    "alpha",
    "beta",
    "compoundingAnnualReturn",
    "drawdown",
    "lossRate",
    "netProfit",
    "psr",
    "sharpeRatio",
    "sortinoRatio",
    "trades",
    "treynorRatio",
    "winRate",
)

_STATUS_PREFIXES = (
    ("completed", COMPLETED),
    ("in queue", QUEUED),
    ("queued", QUEUED),
    ("running", RUNNING),
    ("runtime error", FAILED),
)


def normalize_status(raw: str) -> str:
    """Map the service's status strings to completed/failed/running/queued.

    Unknown strings come back verbatim; the engine never deletes such a backtest.
    """
    text = raw.strip().lower().rstrip(".")
    for prefix, status in _STATUS_PREFIXES:
        if text == prefix or text.startswith(prefix + ":") or text.startswith(prefix + " ") or text.startswith(prefix + "."):
            return status
    return raw


def is_backtest_id(value: object) -> bool:
    return isinstance(value, str) and BACKTEST_ID.match(value) is not None


@dataclass(frozen=True)
class Project:
    id: int
    name: str


@dataclass(frozen=True)
class Backtest:
    id: str
    project_id: int
    name: str
    created: datetime
    status: str  # normalised; an unknown service string is kept verbatim
    raw_status: str = ""
    tags: tuple[str, ...] = ()
    optimization_id: str | None = None
    progress: float = 0.0
    statistics: Mapping[str, float] = field(default_factory=dict)
    note: str | None = None  # only /backtests/read carries it

    @property
    def in_progress(self) -> bool:
        return self.status in IN_PROGRESS

    @property
    def known_status(self) -> bool:
        return self.status in KNOWN_STATUSES
