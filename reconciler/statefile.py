"""The recorded-state format: sandbox seeds, snapshots and bug reports (docs/design.md, "Recorded state").

``{"recordedAt", "apiUrl", "projects": [{"projectId", "name", "backtests": [{"backtestId",
"name", "note", "created", "status", "tags", "optimizationId", "statistics": {...}}]}]}``,
keys as the API names them. One reader (one validating pass that builds records
directly, with the API's own parser) and one writer (`record` is the only place the
shape of a backtest entry is written).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from reconciler.api import parse
from reconciler.api.errors import ResponseFormatError
from reconciler.errors import StateFileError
from reconciler.fsutil import write_atomic
from reconciler.gc_control import gc_paused
from reconciler.models import Backtest
from reconciler.timeutil import format_api_datetime

#: Local files the user gives us: large (a million backtests is about 300 MB), but bounded.
MAX_STATE_BYTES = 4 * 1024 * 1024 * 1024


@dataclass
class RecordedProject:
    project_id: int
    name: str
    backtests: list[Backtest]


@dataclass
class RecordedState:
    projects: list[RecordedProject] = field(default_factory=list)
    recorded_at: str | None = None
    api_url: str = ""
    #: backtest id -> what it produced, for seeds that carry it ({"charts": {...}, "orders": [...], "insights": [...]});
    #: the sandbox serves these instead of deriving them from the id.
    artifacts: dict[str, dict[str, Any]] = field(default_factory=dict)


def read_state(path: str | Path) -> RecordedState:
    """Read and check a JSON or YAML state file into records, in one pass."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_STATE_BYTES:
            raise StateFileError(f"{path}: larger than {MAX_STATE_BYTES // 2**30} GiB")
        raw = path.read_bytes()
    except OSError as exc:
        raise StateFileError(f"cannot read state file {path}: {exc.strerror or exc}") from None
    yaml_file = path.suffix.lower() in (".yaml", ".yml")
    try:
        with gc_paused():  # hundreds of thousands of small acyclic objects: the cyclic GC would only scan them
            if not yaml_file:
                fast = _read_usual_shape(raw)
                if fast is not None:
                    return fast
            data = yaml.load(raw, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) if yaml_file else json.loads(raw)  # noqa: S506 - safe loaders
            return parse_state(data, str(path))
    except UnicodeDecodeError:
        raise StateFileError(f"{path}: not UTF-8 text") from None
    except (ValueError, yaml.YAMLError) as exc:
        raise StateFileError(f"{path}: not valid {'YAML' if yaml_file else 'JSON'} ({(str(exc).splitlines() or ['?'])[0][:200]})") from None
    except RecursionError:
        raise StateFileError(f"{path}: nested too deeply to be a state file") from None


def _read_usual_shape(raw: bytes) -> RecordedState | None:
    """The usual file, decoded in C (statefile_fast); None for any other, which parse_state reads and words."""
    from reconciler import statefile_fast

    decoded = statefile_fast.decode(raw, STATE_FORMAT_VERSION)
    if decoded is None:
        return None
    projects, recorded_at, api_url = decoded
    return _recorded([RecordedProject(project_id, _project_name(name, project_id), backtests) for project_id, name, backtests in projects],
                     recorded_at, api_url)


def _project_name(name: Any, project_id: int) -> str:
    return name if isinstance(name, str) and name else f"Project {project_id}"


def _recorded(projects: list[RecordedProject], recorded_at: Any, api_url: Any, artifacts: dict[str, dict[str, Any]] | None = None) -> RecordedState:
    """The state both readers build: the file's own recordedAt and apiUrl when they are strings."""
    return RecordedState(projects, recorded_at if isinstance(recorded_at, str) else None, api_url if isinstance(api_url, str) else "", artifacts or {})


def parse_state(data: Any, origin: str = "state") -> RecordedState:
    if not isinstance(data, dict) or not isinstance(data.get("projects"), list):
        raise StateFileError(f"{origin}: expected an object with a 'projects' list")
    version = data.get("format_version", STATE_FORMAT_VERSION)
    if version != STATE_FORMAT_VERSION:
        raise StateFileError(f"{origin}: state format_version {str(version)[:20]} is not supported (this reconciler reads {STATE_FORMAT_VERSION}); "
                             "record it again with `reconciler snapshot`")
    projects: list[RecordedProject] = []
    artifacts: dict[str, dict[str, Any]] = {}
    seen_projects: set[int] = set()
    seen_backtests: set[str] = set()
    for p_index, project in enumerate(data["projects"]):
        where = f"{origin}: projects[{p_index}]"
        if not isinstance(project, dict):
            raise StateFileError(f"{where}: not an object")
        project_id = project.get("projectId")
        if type(project_id) is not int or not 0 < project_id < 2**63:
            raise StateFileError(f"{where}.projectId: must be a positive integer")
        if project_id in seen_projects:
            raise StateFileError(f"{where}.projectId: project {project_id} appears twice")
        seen_projects.add(project_id)
        items = project.get("backtests")
        items = [] if items is None else items
        if not isinstance(items, list):
            raise StateFileError(f"{where}.backtests: must be a list")
        backtests = []
        for b_index, item in enumerate(items):
            try:
                backtest = parse.backtest(item, project_id, "state file", default_status="Completed.")
            except ResponseFormatError as exc:
                field_hint = exc.args[0].split(": ", 1)[-1] if exc.args else "not a backtest"
                if "creation time" in field_hint:
                    field_hint = f"created: not a timestamp ({field_hint})"
                raise StateFileError(f"{where}.backtests[{b_index}]: {field_hint}") from None
            if backtest.id in seen_backtests:
                raise StateFileError(f"{where}.backtests[{b_index}].backtestId: {backtest.id} appears twice")
            seen_backtests.add(backtest.id)
            backtests.append(backtest)
            if "charts" in item or "orders" in item or "insights" in item:
                artifacts[backtest.id] = _artifacts(item, f"{where}.backtests[{b_index}]")
        projects.append(RecordedProject(project_id, _project_name(project.get("name"), project_id), backtests))
    return _recorded(projects, data.get("recordedAt"), data.get("apiUrl"), artifacts)


def _artifacts(item: dict[str, Any], where: str) -> dict[str, Any]:
    charts, orders, insights = item.get("charts", {}), item.get("orders", []), item.get("insights", [])
    if not isinstance(charts, dict) or not all(isinstance(c, dict) and isinstance(c.get("series", {}), dict) for c in charts.values()):
        raise StateFileError(f"{where}.charts: must be an object of charts (name -> {{name, series}})")
    for key, items in (("orders", orders), ("insights", insights)):
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise StateFileError(f"{where}.{key}: must be a list of objects")
    return {"charts": charts, "orders": orders, "insights": insights}


def record(*, backtest_id: str, name: str, note: str, created: str, status: str, tags: Iterable[str], optimization_id: str,
           statistics: Mapping[str, float], parameters: Mapping[str, str | float]) -> dict[str, Any]:
    """One backtest entry of a state file: the only place this shape is written."""
    return {"backtestId": backtest_id, "name": name, "note": note, "created": created, "status": status, "tags": list(tags),
            "optimizationId": optimization_id, "statistics": dict(statistics), "parameterSet": dict(parameters)}


def backtest_record(b: Backtest) -> dict[str, Any]:
    return record(backtest_id=b.id, name=b.name, note=b.note or "", created=format_api_datetime(b.created), status=b.raw_status or b.status,
                  tags=b.tags, optimization_id=b.optimization_id or "", statistics=b.statistics, parameters=b.parameters)


STATE_FORMAT_VERSION = 1  # a state file without one (a hand-written seed) reads as version 1


def state_document(state: RecordedState) -> dict[str, Any]:
    document: dict[str, Any] = {"format_version": STATE_FORMAT_VERSION}
    if state.recorded_at:
        document["recordedAt"] = state.recorded_at
    if state.api_url:
        document["apiUrl"] = state.api_url
    document["projects"] = [
        {
            "projectId": p.project_id,
            "name": p.name,
            "backtests": [{**backtest_record(b), **state.artifacts.get(b.id, {})} for b in sorted(p.backtests, key=lambda b: (b.created, b.id))],
        }
        for p in state.projects
    ]
    return document


def write_state(state: RecordedState, path: str | Path) -> None:
    """Write a state document atomically (temp file, fsync, rename); compact JSON (the C encoder)."""
    write_atomic(Path(path), dumps_state(state) + "\n")


def dumps_state(state: RecordedState) -> str:
    return json.dumps(state_document(state), ensure_ascii=False, separators=(",", ":"))
