"""Plan against a recorded state file (`snapshot` output or a sandbox seed) with no network."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

from reconciler.api import parse
from reconciler.api.errors import ResponseFormatError
from reconciler.errors import StateFileError
from reconciler.manifest.model import ProjectSpec
from reconciler.models import Project
from reconciler.projects import ProjectState, resolve_projects, select_projects
from reconciler.statefile import load_state
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


def states_from_file(path: Path, specs: Sequence[ProjectSpec], wanted: Sequence[str], now: datetime) -> tuple[list[ProjectState], dict[str, Any]]:
    state = load_state(path)
    projects = [Project(p["projectId"], p["name"]) for p in state["projects"]]
    by_id = {p["projectId"]: p for p in state["projects"]}
    selected = select_projects(resolve_projects(specs, projects), wanted)
    states = []
    for entry in selected:
        spec, project_id, name = entry.spec, entry.project_id, entry.name
        if project_id not in by_id:
            raise StateFileError(f"project {project_id} ({spec.source}) is not in the recorded state {path}; record it with: reconciler snapshot --project {project_id}")
        try:
            backtests = [parse.backtest(item, project_id, "state file") for item in by_id[project_id]["backtests"]]
        except ResponseFormatError as exc:
            raise StateFileError(f"{path}: {exc}") from None
        states.append(ProjectState(spec, project_id, name, backtests))
    source: dict[str, Any] = {"path": str(path), "recorded_at": state.get("recordedAt"), "api_url": state.get("apiUrl", "")}
    if state.get("recordedAt"):
        try:
            source["age"] = describe_age(parse_datetime(state["recordedAt"]), utcnow())
        except ValueError:
            pass
    return states, source
