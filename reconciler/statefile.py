"""The recorded-state format (docs/design.md, "The plan file" and the sandbox): sandbox seeds, snapshots and bug reports.

``{"projects": [{"projectId", "name", "backtests": [{"backtestId", "name", "note",
"created", "status", "tags", "optimizationId", "statistics": {...}}]}]}``, keys as
the API names them. This module only reads, checks and writes that document.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import yaml

from reconciler.errors import StateFileError
from reconciler.fsutil import write_atomic
from reconciler.models import STATISTICS, is_backtest_id
from reconciler.timeutil import parse_datetime

MAX_STATE_BYTES = 256 * 1024 * 1024
_STATUS_WORDS = {"completed": "Completed.", "failed": "Runtime Error", "running": "Running: 50%", "queued": "In Queue..."}


def load_state(path: str | Path) -> dict[str, Any]:
    """Read and check a JSON or YAML state file; every backtest comes back in canonical form."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_STATE_BYTES:
            raise StateFileError(f"{path}: larger than {MAX_STATE_BYTES // 2**20} MiB")
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise StateFileError(f"cannot read state file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise StateFileError(f"{path}: not UTF-8 text") from None
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
            data = yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader
        else:
            data = json.loads(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise StateFileError(f"{path}: not valid {'YAML' if path.suffix in ('.yaml', '.yml') else 'JSON'} ({(str(exc).splitlines() or ['?'])[0][:200]})") from None
    except RecursionError:
        raise StateFileError(f"{path}: nested too deeply to be a state file") from None
    return normalize_state(data, str(path))


def normalize_state(data: Any, origin: str = "state") -> dict[str, Any]:
    if not isinstance(data, dict) or not isinstance(data.get("projects"), list):
        raise StateFileError(f"{origin}: expected an object with a 'projects' list")
    projects = []
    seen_projects: set[int] = set()
    seen_backtests: set[str] = set()
    for p_index, project in enumerate(data["projects"]):
        where = f"{origin}: projects[{p_index}]"
        if not isinstance(project, dict):
            raise StateFileError(f"{where}: not an object")
        project_id = project.get("projectId")
        if isinstance(project_id, bool) or not isinstance(project_id, int) or project_id <= 0:
            raise StateFileError(f"{where}.projectId: must be a positive integer")
        if project_id in seen_projects:
            raise StateFileError(f"{where}.projectId: project {project_id} appears twice")
        seen_projects.add(project_id)
        backtests = project.get("backtests") or []
        if not isinstance(backtests, list):
            raise StateFileError(f"{where}.backtests: must be a list")
        canonical = []
        for b_index, item in enumerate(backtests):
            canonical.append(_backtest(item, f"{where}.backtests[{b_index}]", seen_backtests))
        projects.append({"projectId": project_id, "name": str(project.get("name") or f"Project {project_id}"), "backtests": canonical})
    result: dict[str, Any] = {"projects": projects}
    if isinstance(data.get("recordedAt"), str):
        result["recordedAt"] = data["recordedAt"]
    if isinstance(data.get("apiUrl"), str):
        result["apiUrl"] = data["apiUrl"]
    return result


def _backtest(item: Any, where: str, seen: set[str]) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise StateFileError(f"{where}: not an object")
    backtest_id = item.get("backtestId")
    if not is_backtest_id(backtest_id):
        raise StateFileError(f"{where}.backtestId: must be 32 lowercase hex characters")
    if backtest_id in seen:
        raise StateFileError(f"{where}.backtestId: {backtest_id} appears twice")
    seen.add(backtest_id)
    try:
        created = parse_datetime(item.get("created"))
    except ValueError:
        raise StateFileError(f"{where}.created: not a timestamp") from None
    status = item.get("status", "Completed.")
    if not isinstance(status, str):
        raise StateFileError(f"{where}.status: must be a string")
    tags = item.get("tags")
    tags = [] if tags is None else tags
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise StateFileError(f"{where}.tags: must be a list of strings")
    statistics = item.get("statistics") or {}
    if not isinstance(statistics, dict):
        raise StateFileError(f"{where}.statistics: must be an object")
    clean_stats = {}
    for key, value in statistics.items():
        if key not in STATISTICS:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise StateFileError(f"{where}.statistics.{key}: must be a finite number")
        clean_stats[key] = value
    optimization_id = item.get("optimizationId") or ""
    note = item.get("note") or ""
    name = item.get("name") or ""
    if not isinstance(optimization_id, str) or not isinstance(note, str) or not isinstance(name, str):
        raise StateFileError(f"{where}: name, note and optimizationId must be strings")
    return {
        "backtestId": backtest_id,
        "name": name,
        "note": note,
        "created": created.strftime("%Y-%m-%d %H:%M:%S"),
        "status": _STATUS_WORDS.get(status, status),
        "tags": list(tags),
        "optimizationId": optimization_id,
        "statistics": clean_stats,
    }


def dump_state(state: dict[str, Any], path: str | Path) -> None:
    """Write a state document atomically (temp file, fsync, rename)."""
    write_atomic(Path(path), json.dumps(state, ensure_ascii=False, separators=(",", ":")) + "\n")
