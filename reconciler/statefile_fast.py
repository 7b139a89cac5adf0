"""The state file's usual shape, decoded and type-checked in C (msgspec), for the offline plan of 100,000 backtests.

The checking reader (`statefile.parse_state`, with the API's parser) stays the reference: this path accepts only
files of exactly the shape `statefile.record` writes, builds the same records with the same helpers, and declines
(returns None) anything else (an unknown key, a type it does not expect, a value the reference would refuse), which
the reference then reads and words. tests/test_statefile_fast.py holds the two equal on generated files
(docs/design.md, "Recorded state").
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Optional

import msgspec

from reconciler.api import parse
from reconciler.api.errors import ResponseFormatError
from reconciler.models import BACKTEST_ID, STATISTICS, Backtest, normalize_status

_is_id = BACKTEST_ID.fullmatch
_MAX_ID = 2**63
_ENDPOINT = "state file"

#: The reference keeps a statistic that is a known key and a finite number, an integer as float(value) if within 2**63
#: (beyond, an error): here known keys and numbers within 2**63 (msgspec makes an integer a float as float() does).
_Statistics = dict[Literal[tuple(STATISTICS)], Annotated[float, msgspec.Meta(gt=-_MAX_ID, lt=_MAX_ID)]]  # type: ignore[misc]


class _Entry(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """One backtest entry, the keys `statefile.record` writes and no other (charts, orders, a list summary's top-level
    statistics: the reference reads those)."""

    backtestId: str
    created: str
    name: Optional[str] = None
    note: Optional[str] = None
    status: Optional[str] = "Completed."  # the reference's default status for a state file
    tags: Optional[list[str]] = None
    optimizationId: Optional[str] = None
    statistics: Optional[_Statistics] = None
    parameterSet: Any = None


class _Project(msgspec.Struct, gc=False):
    projectId: int
    name: Any = None
    backtests: Optional[list[_Entry]] = None


class _State(msgspec.Struct, gc=False):
    projects: list[_Project]
    format_version: Any = msgspec.UNSET  # absent: the version this reader reads
    recordedAt: Any = None
    apiUrl: Any = None


_DECODER = msgspec.json.Decoder(_State)


def decode(raw: bytes, format_version: int) -> tuple[list[tuple[int, Any, list[Backtest]]], Any, Any] | None:
    """(projects as (id, name as written, records), recordedAt, apiUrl) of a file of `format_version` (a file without
    one is of it), or None: the reference reads this file."""
    try:
        state = _DECODER.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        return None
    if state.format_version is not msgspec.UNSET and state.format_version != format_version:
        return None
    try:
        projects = _projects(state)
    except ResponseFormatError:
        return None
    return projects, state.recordedAt, state.apiUrl


def _projects(state: _State) -> list[tuple[int, Any, list[Backtest]]]:
    statuses: dict[str, str] = {}  # a handful of distinct strings: normalised once each
    seen_projects: set[int] = set()
    seen: set[str] = set()
    result = []
    from_fields = Backtest.from_fields
    creation_time, parameter_set = parse.creation_time, parse.parameter_set
    for project in state.projects:
        project_id = project.projectId
        if not 0 < project_id < _MAX_ID or project_id in seen_projects:
            raise ResponseFormatError("declined")
        seen_projects.add(project_id)
        records = []
        for entry in project.backtests or ():
            backtest_id = entry.backtestId
            created = creation_time(entry.created)
            if _is_id(backtest_id) is None or created is None or backtest_id in seen:
                raise ResponseFormatError("declined")
            seen.add(backtest_id)
            raw_status = entry.status or ""
            status = statuses.get(raw_status)
            if status is None:
                status = statuses[raw_status] = normalize_status(raw_status)
            parameters = entry.parameterSet
            records.append(from_fields({
                "id": backtest_id,
                "project_id": project_id,
                "name": entry.name or "",
                "created": created,
                "status": status,
                "raw_status": raw_status,
                "tags": tuple(entry.tags) if entry.tags else (),
                "optimization_id": entry.optimizationId or None,
                "progress": 0.0,
                "statistics": entry.statistics or {},
                "note": entry.note,
                "parameters": parameter_set(parameters, backtest_id, _ENDPOINT) if parameters else {},
            }))
        result.append((project_id, project.name, records))
    return result

