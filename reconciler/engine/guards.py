"""Every guard, in one place (docs/design.md, "Guards"): shapes of a plan that can only be a mistake, checked by the planner,
and what apply refuses before its first call. Pure: the callers gather the facts, these functions say what is refused and why."""

from __future__ import annotations

from typing import Iterable, Protocol, Sequence

from reconciler.defaults import DEFAULT_MAX_DELETES, DEFAULT_MAX_UPDATES
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


def apply_refusal(*, stale: Sequence[str], unsafe: Sequence[str], deletes: int, updates: int, max_deletes: int, max_updates: int,
                  emptied: Sequence[str]) -> str | None:
    """Why apply must not start, or None: a stale saved plan, a delete of what must never be deleted, more deletes or updates
    than the caps (marks and unmarks are updates), a project left without a completed backtest."""
    if stale:
        lines = "\n".join(f"  {line}" for line in stale)
        return (f"the saved plan is stale: the live state changed since it was made; nothing was applied:\n{lines}\n"
                "Run plan again, review it, and apply the new plan.")
    if unsafe:
        lines = "\n".join(f"  {line}" for line in unsafe)
        return f"the plan deletes backtests that must never be deleted; nothing was applied:\n{lines}"
    if deletes > max_deletes:
        return (f"this plan deletes {deletes:,} backtests, more than --max-deletes {max_deletes:,} "
                f"(default {DEFAULT_MAX_DELETES}); nothing was applied. Review the plan, then re-run with --max-deletes {deletes}")
    if updates > max_updates:
        return (f"this plan updates {updates:,} backtests, more than --max-updates {max_updates:,} "
                f"(default {DEFAULT_MAX_UPDATES}); nothing was applied. Review the renames, then re-run with --max-updates {updates}")
    if emptied:
        return (f"the plan would leave project {emptied[0]} without a single completed backtest; nothing was applied "
                "(set allow_empty: true on the project if that is intended)")
    return None
