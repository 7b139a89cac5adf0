"""Notable deletes: the few a reviewer must not miss among hundreds (docs/design.md, "Reviewing a plan"). Pure.

A delete is notable when the backtest carries a tag or a note, ranks in the top 3 of
its project by `sharpeRatio` (when statistics were read), or is cited by id in the
note of a backtest the plan keeps. Each says why, in words made here. The list
carries no note; notes are known only for backtests that were read (declared ones
whose note is managed, labelled ones), and the manifest's declared notes count as
the notes they will be.
"""

from __future__ import annotations

import heapq
import re
from typing import Iterable, Mapping, Sequence

from reconciler.models import Backtest, tag_key

RANKED_BY = "sharpeRatio"
TOP = 3
_CITED_ID = re.compile(r"(?<![0-9a-f])[0-9a-f]{32}(?![0-9a-f])")
_ORDINALS = {1: "best", 2: "2nd best", 3: "3rd best"}


def citations(notes: Iterable[tuple[str, str]], deleted: frozenset[str]) -> dict[str, str]:
    """Backtest id -> the id of a kept backtest whose note cites it (the first found)."""
    cited: dict[str, str] = {}
    for citing, text in notes:
        if citing in deleted or not text:
            continue
        for match in _CITED_ID.finditer(text):
            if match.group(0) != citing:
                cited.setdefault(match.group(0), citing)
    return cited


#: How much each cause weighs when the views order the notable deletes (the heaviest first): a citation, then a note,
#: a tag some rule of the manifest protects, a top rank, any other tag.
WEIGHTS = {"cited": 16, "note": 8, "protected tag": 4, "rank": 2, "tag": 1}


def notable_deletes(backtests: Sequence[Backtest], deleting: Sequence[Backtest], cited: Mapping[str, str],
                    protected: frozenset[str] = frozenset()) -> dict[str, tuple[int, tuple[str, ...]]]:
    """Deleted id -> (weight, why it is notable), for those of `deleting` (the project's deletes) that are; `backtests` is
    the whole project, which the ranking is over; `protected`: tag keys that protect in some project of the manifest."""
    if not deleting:
        return {}
    scored = [(s[RANKED_BY], i) for i, s in enumerate([b.statistics for b in backtests]) if RANKED_BY in s]  # plain tuples: C comparisons
    rank_of = {backtests[i].id: position for position, (_, i) in enumerate(heapq.nlargest(TOP, scored), start=1)}
    result: dict[str, tuple[int, tuple[str, ...]]] = {}
    for b in deleting:
        if not (b.tags or b.note or b.id in rank_of or b.id in cited):
            continue
        why, weight = [], 0
        if b.tags:
            guarded = sorted({tag_key(tag) for tag in b.tags} & protected)
            why.append("tagged " + ", ".join(b.tags) + (f" ({', '.join(guarded)} protects elsewhere in the manifest)" if guarded else ""))
            weight += WEIGHTS["protected tag"] if guarded else WEIGHTS["tag"]
        if b.note:
            why.append("has a note")
            weight += WEIGHTS["note"]
        rank = rank_of.get(b.id)
        if rank is not None:
            why.append(f"{_ORDINALS[rank]} {RANKED_BY} of its project ({b.statistics[RANKED_BY]:g})")
            weight += WEIGHTS["rank"]
        citing = cited.get(b.id)
        if citing is not None:
            why.append(f"cited in the note of {citing}, which is kept")
            weight += WEIGHTS["cited"]
        result[b.id] = (weight, tuple(why))
    return result
