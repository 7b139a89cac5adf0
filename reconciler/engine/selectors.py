"""Does a backtest match a selector? Every field given must hold."""

from __future__ import annotations

import fnmatch
from datetime import datetime
from typing import Sequence

from reconciler.manifest.model import Selector
from reconciler.models import Backtest


def matches(selector: Selector, backtest: Backtest, now: datetime) -> bool:
    if selector.names and not any(fnmatch.fnmatchcase(backtest.name, pattern) for pattern in selector.names):
        return False
    if selector.name_regex is not None and not selector.name_regex.search(backtest.name):
        return False
    if selector.tags and (not backtest.tags or selector.tag_set.isdisjoint(backtest.tag_set)):
        return False
    if selector.statuses and backtest.status not in selector.statuses:
        return False
    if selector.older_than is not None and not now - backtest.created > selector.older_than.delta:
        return False
    if selector.newer_than is not None and not now - backtest.created < selector.newer_than.delta:
        return False
    if selector.optimization is not None and (backtest.optimization_id is not None) != selector.optimization:
        return False
    for statistic, comparison in selector.stats:
        value = backtest.statistics.get(statistic)
        if value is None or not comparison.holds(value):
            return False
    for name, expected in selector.parameters:
        actual = backtest.parameters.get(name)
        if actual is None or not same_parameter(actual, expected):
            return False
    return True


def same_parameter(actual: str | float | bool, expected: str | float | bool) -> bool:
    """docs/design.md, "Labels": equal as numbers when both read as numbers (`10` and `10.0`); a boolean equals
    `true`/`false` in any case (the web IDE gives "True"); else equal as text."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return _as_bool(actual) is not None and _as_bool(actual) == _as_bool(expected)
    try:
        return float(actual) == float(expected)
    except (TypeError, ValueError, OverflowError):
        return str(actual) == str(expected)


def _as_bool(value: str | float | bool) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def select(selector: Selector, backtests: Sequence[Backtest], now: datetime) -> list[Backtest]:
    """The backtests `matches` accepts, in their order: one pass over the survivors per condition the selector sets
    (the same conditions as `matches`, which tests/test_engine_properties.py holds it to)."""
    found = list(backtests)
    if selector.names:
        names = selector.names
        found = [b for b in found if any(fnmatch.fnmatchcase(b.name, pattern) for pattern in names)]
    if selector.name_regex is not None:
        search = selector.name_regex.search
        found = [b for b in found if search(b.name)]
    if selector.tags:
        wanted = selector.tag_set
        found = [b for b in found if b.tags and not wanted.isdisjoint(b.tag_set)]
    if selector.statuses:
        statuses = selector.statuses
        found = [b for b in found if b.status in statuses]
    if selector.older_than is not None:
        delta = selector.older_than.delta
        found = [b for b in found if now - b.created > delta]
    if selector.newer_than is not None:
        delta = selector.newer_than.delta
        found = [b for b in found if now - b.created < delta]
    if selector.optimization is not None:
        optimization = selector.optimization
        found = [b for b in found if (b.optimization_id is not None) == optimization]
    for statistic, comparison in selector.stats:
        found = [b for b in found if (value := b.statistics.get(statistic)) is not None and comparison.holds(value)]
    for name, expected in selector.parameters:
        found = [b for b in found if (actual := b.parameters.get(name)) is not None and same_parameter(actual, expected)]
    return found


def first_matches(selectors: Sequence[Selector], backtests: Sequence[Backtest], now: datetime) -> list[tuple[Backtest, int]]:
    """Each backtest some selector matches, with the index of the first that does (in the backtests' order)."""
    index_of: dict[str, int] = {}
    rest = backtests
    for index, selector in enumerate(selectors):
        hits = select(selector, rest, now)
        if hits:
            index_of.update((b.id, index) for b in hits)
            rest = [b for b in rest if b.id not in index_of]
    return [(b, index_of[b.id]) for b in backtests if b.id in index_of] if index_of else []
