"""Plan against a recorded state file (`snapshot` output or a sandbox seed) with no network."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

from reconciler.errors import StateFileError
from reconciler.manifest.model import ProjectSpec
from reconciler.models import Project
from reconciler.projects import ProjectState, resolve_projects, select_projects
from reconciler.statefile import read_state
from reconciler.timeutil import parse_datetime, utcnow


def describe_age(recorded_at: datetime, now: datetime) -> str:
    seconds = int((now - recorded_at).total_seconds())
    if seconds < 0:
        return "recorded in the future: check the clock"
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days} d {hours} h old"
    if hours:
        return f"{hours} h {minutes} min old"
    return f"{minutes} min old"


def states_from_file(path: Path, specs: Sequence[ProjectSpec], wanted: Sequence[str]) -> tuple[list[ProjectState], dict[str, Any]]:
    """The recorded projects the manifest selects, and where they come from; the age is the clock's, whatever --now says."""
    state = read_state(path)
    by_id = {p.project_id: p for p in state.projects}
    selected = select_projects(resolve_projects(specs, [Project(p.project_id, p.name) for p in state.projects]), wanted)
    states = []
    for entry in selected:
        recorded = by_id.get(entry.project_id)
        if recorded is None:
            raise StateFileError(f"project {entry.project_id} ({entry.spec.source}) is not in the recorded state {path}; "
                                 f"record it with: reconciler snapshot --project {entry.project_id}")
        states.append(ProjectState(entry.spec, entry.project_id, entry.name, recorded.backtests))
    source: dict[str, Any] = {"path": str(path), "recorded_at": state.recorded_at, "api_url": state.api_url}
    if state.recorded_at:
        try:
            source["age"] = describe_age(parse_datetime(state.recorded_at), utcnow())
        except ValueError:
            pass
    return states, source
