"""Plan-level guards: shapes of a plan that can only be a mistake (docs/design.md, "Guards")."""

from __future__ import annotations

from typing import Iterable, Protocol

from reconciler.manifest.model import ProjectSpec
from reconciler.models import COMPLETED


class _Record(Protocol):
    id: str
    status: str


def leaves_nothing_completed(records: Iterable[_Record], deleting: set[str]) -> bool:
    """True when deleting these ids leaves the project without one completed backtest.

    In-progress and failed backtests do not count as something kept: a project whose
    every completed run is deleted has been emptied, whatever is still running.
    """
    if not deleting:
        return False
    return not any(r.status == COMPLETED and r.id not in deleting for r in records)


EMPTY_MESSAGE = (
    "this plan would leave the project without a single completed backtest ({deletes:,} to delete); set allow_empty: true on the project if that is intended"
)
DELETE_ALL_MESSAGE = (
    'prune: true with no keep, protect or declared backtests can only mean "delete everything"; '
    "add rules, or set allow_empty: true on the project if that is intended"
)


def can_only_delete_all(spec: ProjectSpec) -> bool:
    return spec.prune and not spec.keep and not spec.protect and not spec.backtests
