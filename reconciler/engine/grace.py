"""Grace: marked in QuantConnect before it is gone (docs/design.md, "Grace"). Pure.

The engine decides on backtests without their marks (`models.without_marks`: a mark is
no protect tag, fills no keep slot, matches no selector); this step then turns each
decision of a project with a `grace` rule into what apply does about the mark: a delete
of an unmarked backtest becomes an update adding `trash:DAY` (the UTC day the grace
ends), a marked one waits for its day and is deleted on or after it, and a marked
backtest the plan keeps has its mark removed. Without grace (or with --no-grace), a
delete is a delete and a kept backtest still loses a stale mark.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Mapping, Sequence

from reconciler.engine.retention import Decision
from reconciler.manifest.model import ProjectSpec
from reconciler.models import MAX_TAGS, Action, Backtest, Change, Grace, Reason, trash_day, trash_mark, without_marks


def strip_marks(backtests: Sequence[Backtest]) -> tuple[list[Backtest], dict[str, tuple[Backtest, date]]]:
    """The backtests as the engine sees them, and for each marked one (id) the live backtest and its mark's day."""
    seen, marked = list(backtests), {}
    for position, backtest in enumerate(seen):
        if backtest.tags:  # most backtests have no tag, and so no mark: looked at no further
            bare, day = without_marks(backtest)
            if day is not None:
                marked[backtest.id] = (backtest, day)
                seen[position] = bare
    return seen, marked


def with_grace(spec: ProjectSpec, decisions: Sequence[Decision], marked: Mapping[str, tuple[Backtest, date]], now: datetime,
               *, enabled: bool = True) -> tuple[list[Decision], list[str]]:
    """The decisions as apply carries them out under the project's grace, and the plan errors that causes."""
    grace = spec.grace if enabled else None
    today = now.date()
    result, errors = [], []
    for decision in decisions:
        live, day = marked.get(decision.backtest.id, (decision.backtest, None))
        if decision.action == Action.DELETE:
            if grace is None or (day is not None and day <= today):
                reasons = decision.reasons if grace is None else (Reason("grace", text=grace.text, detail=f"ended {day}"), *decision.reasons)
                result.append(Decision(live, Action.DELETE, reasons, grace=None if grace is None else Grace.ENDED))
            elif day is not None:
                result.append(Decision(live, Action.KEEP, (Reason("grace", text=grace.text, detail=f"marked: deleted on or after {day}"), *decision.reasons),
                                       grace=Grace.MARKED))
            else:
                ends = (now + grace.delta).date()
                tags = [*live.tags, trash_mark(ends)]
                if len(tags) > MAX_TAGS:
                    errors.append(f"backtest {live.id} has {len(live.tags)} tags: its grace mark would make {len(tags)}, and the API allows {MAX_TAGS}; "
                                  "remove a tag, or delete it at once with --no-grace")
                result.append(Decision(live, Action.UPDATE, (Reason("grace", text=grace.text, detail=f"marked: deleted on or after {ends}"),
                                                             *decision.reasons), (Change("tags", list(live.tags), tags),), Grace.MARK))
        elif day is not None:  # marked, and the plan keeps it: the mark goes (in progress, declared, protected or kept alike)
            kept = [tag for tag in live.tags if trash_day(tag) is None]
            changes = [c for c in decision.changes if c.field != "tags"]
            wanted = next((c.after for c in decision.changes if c.field == "tags"), kept)  # a label's or declaration's tags win
            changes.append(Change("tags", list(live.tags), list(wanted)))  # type: ignore[arg-type]
            result.append(Decision(live, Action.UPDATE, (Reason("grace", detail="unmarked: the plan keeps it"), *decision.reasons), tuple(changes),
                                   Grace.UNMARK))
        else:
            result.append(decision)
    return result, errors
