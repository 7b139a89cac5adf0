"""Turn response bodies into records, tolerant of the real service and strict about what matters.

Anything we cannot place safely (no id, an id that is not 32 hex characters, no
creation time) raises ResponseFormatError: a response we do not understand is an
error, never a reason to act.
"""

from __future__ import annotations

import math
from typing import Any

from reconciler.api.errors import ResponseFormatError
from reconciler.models import STATISTICS, Backtest, Project, is_backtest_id, normalize_status
from reconciler.timeutil import parse_datetime


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


def backtest(item: Any, project_id: int, endpoint: str = "backtests/read") -> Backtest:
    if not isinstance(item, dict):
        raise _fail(endpoint, "a backtest entry is not an object")
    backtest_id = item.get("backtestId")
    if not is_backtest_id(backtest_id):
        raise _fail(endpoint, f"backtest id {str(backtest_id)[:80]!r} is not 32 hex characters")
    try:
        created = parse_datetime(item.get("created"))
    except ValueError:
        raise _fail(endpoint, f"backtest {backtest_id} has no readable creation time ({str(item.get('created'))[:40]!r})") from None
    raw_status = _text(item.get("status"))
    tags = item.get("tags")
    tags = [] if tags is None else tags
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        raise _fail(endpoint, f"backtest {backtest_id} has tags that are not a list of strings")
    optimization_id = item.get("optimizationId")
    note = item.get("note")
    return Backtest(
        id=backtest_id,
        project_id=_project_id(item.get("projectId"), project_id),
        name=_text(item.get("name")),
        created=created,
        status=normalize_status(raw_status),
        raw_status=raw_status,
        tags=tuple(tags),
        optimization_id=optimization_id if isinstance(optimization_id, str) and optimization_id else None,
        progress=_number(item.get("progress")) or 0.0,
        statistics=_statistics(item),
        note=note if isinstance(note, str) else None,
    )


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
        if isinstance(project_id, bool) or not isinstance(project_id, int) or not 0 < project_id < 2**63:
            raise _fail("projects/read", "a project has no positive integer projectId")
        result.append(Project(id=item["projectId"], name=_text(item.get("name"))))
    return result


def _project_id(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63 else default


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _statistics(item: dict[str, Any]) -> dict[str, float]:
    """Statistics sit at the top level of a summary; a seed or snapshot may nest them."""
    nested = item.get("statistics") if isinstance(item.get("statistics"), dict) else {}
    stats = {}
    for key in STATISTICS:
        value = _number(item.get(key, nested.get(key)))
        if value is not None:
            stats[key] = value
    return stats
