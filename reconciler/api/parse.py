"""Turn response bodies into records, tolerant of the real service and strict about what matters.

Anything we cannot place safely (no id, an id that is not 32 hex characters, no
creation time, tags that are not a list of strings) raises ResponseFormatError: a
response we do not understand is an error, never a reason to act. State files use
the same parser: their entries are API-shaped. This is the hot path of an offline
plan (100,000 entries), hence exact type checks and set intersections.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any

from reconciler.api.errors import ResponseFormatError
from reconciler.models import (
    BACKTEST_ID,
    STATISTICS,
    Backtest,
    Project,
    normalize_status,
)
from reconciler.timeutil import parse_datetime

_STATISTICS = frozenset(STATISTICS)
_is_id = BACKTEST_ID.fullmatch
_isfinite = math.isfinite
_fromisoformat = datetime.fromisoformat
_UTC = timezone.utc
_STR = {str}
_FLOAT = {float}


def _fail(endpoint: str, message: str) -> ResponseFormatError:
    return ResponseFormatError(f"unexpected response from /{endpoint}: {message}", endpoint=endpoint)


def backtest_list(body: dict[str, Any], project_id: int, endpoint: str = "backtests/list") -> list[Backtest]:
    """Some documentation versions name the key `backtest`: both are accepted, a missing list never is."""
    items = body.get("backtests", body.get("backtest"))
    if not isinstance(items, list):
        raise _fail(endpoint, "the answer carries no backtest list" if items is None else "the backtest list is not a list")
    result = [backtest(item, project_id, endpoint) for item in items]
    if len({b.id for b in result}) != len(result):
        raise _fail(endpoint, "the same backtest id appears twice in the list")
    return result


def backtest(item: Any, project_id: int, endpoint: str = "backtests/read", default_status: str = "") -> Backtest:
    if type(item) is not dict:
        raise _fail(endpoint, "a backtest entry is not an object")
    get = item.get
    backtest_id = get("backtestId")
    if type(backtest_id) is not str or _is_id(backtest_id) is None:
        raise _fail(endpoint, f"backtestId {str(backtest_id)[:80]!r} is not 32 hex characters")
    created = creation_time(get("created"))
    if created is None:
        raise _fail(endpoint, f"backtest {backtest_id} has no readable creation time ({str(get('created'))[:40]!r})")
    raw_status = get("status", default_status)
    if type(raw_status) is not str:
        raw_status = ""
    tags = get("tags")
    if not tags:
        if tags is not None and tags != []:
            raise _fail(endpoint, f"backtest {backtest_id} has tags that are not a list of strings")
        tags = ()
    elif type(tags) is not list or not _only_strings(tags):
        raise _fail(endpoint, f"backtest {backtest_id} has tags that are not a list of strings")
    optimization_id = get("optimizationId")
    note = get("note")
    name = get("name")
    progress = get("progress")
    parameters = get("parameterSet")
    answered_project = get("projectId")
    return Backtest.parsed(  # every field, checked here
        id=backtest_id,
        project_id=answered_project if type(answered_project) is int and 0 < answered_project < _MAX_INT else project_id,
        name=name if type(name) is str else "",
        created=created,
        status=normalize_status(raw_status),
        raw_status=raw_status,
        tags=tuple(tags),
        optimization_id=optimization_id if type(optimization_id) is str and optimization_id else None,
        progress=(_finite(progress, "progress", backtest_id, endpoint) or 0.0) if progress is not None else 0.0,
        statistics=statistics_of(item, backtest_id, endpoint),
        note=note if type(note) is str else None,
        parameters=parameter_set(parameters, backtest_id, endpoint) if parameters else {},
    )


def creation_time(value: Any) -> datetime | None:
    """A backtest's `created` as an aware UTC datetime, or None when it is not a timestamp. The service's and our files'
    form first, naive and so UTC (reading it with the offset appended is ten times cheaper than .replace(tzinfo=)), then
    with its own offset; parse_datetime reads every other form."""
    try:
        return _fromisoformat(value + "+00:00")
    except (TypeError, ValueError):
        pass
    try:
        created = _fromisoformat(value)
    except (TypeError, ValueError):
        try:
            return parse_datetime(value)
        except ValueError:
            return None
    if created.tzinfo is None:
        return created.replace(tzinfo=_UTC)
    return created.astimezone(_UTC) if created.utcoffset() else created


def _only_strings(values: list[Any]) -> bool:
    return set(map(type, values)) == _STR


def check_identity(body: dict[str, Any], project_id: int, backtest_id: str) -> None:
    """A read must be about the backtest asked for: an answer about another id is never archived or acted on."""
    item = body.get("backtest")
    if not isinstance(item, dict):
        raise _fail("backtests/read", "no backtest object")
    if item.get("backtestId") != backtest_id:
        raise _fail("backtests/read", f"asked for backtest {backtest_id}, the answer is about {str(item.get('backtestId'))[:40]!r}")
    answered_project = item.get("projectId")
    if type(answered_project) is not int or answered_project != project_id:
        raise _fail("backtests/read", f"asked for project {project_id}, the answer is about project {str(answered_project)[:20]!r}")


def projects(body: dict[str, Any]) -> list[Project]:
    items = body.get("projects")
    if not isinstance(items, list):
        raise _fail("projects/read", "the answer carries no project list" if items is None else "the project list is not a list")
    result = []
    for item in items:
        project_id = item.get("projectId") if isinstance(item, dict) else None
        if type(project_id) is not int or not 0 < project_id < 2**63:
            raise _fail("projects/read", "a project has no positive integer projectId")
        name = item.get("name")
        result.append(Project(id=project_id, name=name if type(name) is str else ""))
    return result


#: Integers beyond this are not believed (and would not convert to a float): a format error naming the backtest.
_MAX_INT = 2**63


def _finite(value: Any, what: str, backtest_id: str, endpoint: str) -> float | None:
    """A finite number as a float; None for anything else (NaN and infinities included, as absent). An integer too large
    for a float (10**400) is a format error, never a traceback."""
    kind = type(value)
    if kind is float:
        return value if _isfinite(value) else None
    if kind is int:
        if -_MAX_INT < value < _MAX_INT:
            return float(value)
        raise _fail(endpoint, f"backtest {backtest_id} has {what} {str(value)[:20]}… beyond any plausible value")
    return None


def parameter_set(value: Any, backtest_id: str, endpoint: str) -> dict[str, str | float | bool]:
    """`parameterSet`: an object of name -> value, or an empty list (or nothing) for none. Values stay as they were given
    at create: strings (the web IDE, optimizations, lean-cli), numbers or booleans (API clients)."""
    if value is None or value == [] or value == {}:
        return {}
    if type(value) is not dict:
        raise _fail(endpoint, f"backtest {backtest_id} has a parameterSet that is not an object")
    result: dict[str, str | float | bool] = {}
    for key, item in value.items():
        kind = type(item)
        if kind is str or kind is bool:
            result[str(key)] = item
            continue
        number = _finite(item, f"parameter {str(key)[:40]!r}", backtest_id, endpoint) if kind in (int, float) else None
        if number is None:
            raise _fail(endpoint, f"backtest {backtest_id} has a parameter {str(key)[:40]!r} that is not a string, a finite number or a boolean")
        result[str(key)] = item if kind is int else number
    return result


def statistics_of(item: dict[str, Any], backtest_id: str = "", endpoint: str = "backtests/list") -> dict[str, float]:
    """Statistics sit at the top level of a list summary; a state file nests them under `statistics`.

    Values that are not finite numbers (null included: LEAN declares them `decimal?`) are left out: a backtest
    without a statistic never matches a rule on it.
    """
    stats: dict[str, float] = {}
    nested = item.get("statistics")
    if type(nested) is dict and nested:
        values = nested.values()
        if _STATISTICS.issuperset(nested) and _STATISTICS.isdisjoint(item) and set(map(type, values)) == _FLOAT and _isfinite(sum(values)):
            return dict(nested)  # a state file's usual shape, checked in C: known keys, floats only, none of them NaN or infinite
        sources = [nested, item]
    else:
        sources = [item]
    for source in sources:
        for key in _STATISTICS.intersection(source):
            value = source[key]
            if type(value) is float:  # the hot path of a 100,000-backtest plan: no call
                if _isfinite(value):
                    stats[key] = value
            elif value is not None:
                number = _finite(value, f"statistic {key}", backtest_id, endpoint)
                if number is not None:
                    stats[key] = number
    return stats


def chart(body: dict[str, Any], name: str) -> dict[str, Any]:
    """A chart as /backtests/chart/read returns it: the one asked for, with its series."""
    item = body.get("chart")
    if type(item) is not dict or type(item.get("series")) is not dict:
        raise _fail("backtests/chart/read", "the answer carries no chart with series")
    if item.get("name") != name:
        raise _fail("backtests/chart/read", f"asked for chart {name[:80]!r}, the answer is about {str(item.get('name'))[:80]!r}")
    return item


def page(body: dict[str, Any], key: str, endpoint: str) -> list[dict[str, Any]]:
    items = body.get(key)
    if type(items) is not list or not all(type(item) is dict for item in items):
        raise _fail(endpoint, f"the answer carries no list of {key}")
    return items
