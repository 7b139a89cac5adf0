"""Does a backtest match a selector? Every field given must hold."""

from __future__ import annotations

import fnmatch
from datetime import datetime
from typing import Iterable

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


def first_match(selectors: Iterable[Selector], backtest: Backtest, now: datetime) -> int | None:
    for index, selector in enumerate(selectors):
        if matches(selector, backtest, now):
            return index
    return None
