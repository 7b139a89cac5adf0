"""`reconciler snapshot`: record the live state in the sandbox seed format, for offline plans and bug reports."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Sequence

from reconciler import exit_codes
from reconciler.commands.runtime import Runtime
from reconciler.defaults import PARALLELISM
from reconciler.errors import ConfigError
from reconciler.live import Fetch, fetch_backtests
from reconciler.manifest.load import load_manifest
from reconciler.manifest.model import ProjectSpec
from reconciler.models import Project
from reconciler.projects import pick_projects, resolve_projects
from reconciler.statefile import (
    RecordedProject,
    RecordedState,
    dumps_state,
    write_state,
)
from reconciler.timeutil import format_iso, utcnow


def run(rt: Runtime, paths: Sequence[Path], wanted: Sequence[str], output: str, with_notes: bool = False, parallelism: int = PARALLELISM) -> int:
    specs = load_manifest(paths).projects if paths else ()
    if not specs and not wanted:
        raise ConfigError("say what to record: --project ID_OR_NAME (repeatable) and/or manifest PATHS")
    client = rt.client(parallelism)
    projects = client.list_projects()
    chosen = _choose(projects, specs, wanted)
    managed = {backtest_id for spec in specs for backtest_id in spec.managed_notes}
    recorded_at = format_iso(utcnow())
    read_note = (lambda b: True) if with_notes else (lambda b: b.id in managed)
    fetched = fetch_backtests(
        client, [Fetch(p.id, statistics=True, read_note=read_note) for p in chosen], parallelism=parallelism, progress=rt.progress("recording")
    )
    recorded = [RecordedProject(p.id, p.name, [replace(b, note=b.note or "") for b in fetched[p.id]]) for p in chosen]
    state = RecordedState(recorded, recorded_at, rt.api_identity)
    if output == "-":
        rt.stdout.write(dumps_state(state) + "\n")
    else:
        write_state(state, output)
    total = sum(len(p.backtests) for p in recorded)
    notes_text = "all notes" if with_notes else f"managed notes: {len(managed)}"
    rt.err(
        f"Recorded {len(recorded)} project{'s' if len(recorded) != 1 else ''} ({total:,} backtests, statistics, {notes_text}) at {recorded_at}"
        f"{'' if output == '-' else ' to ' + output}. Plan against it offline with: reconciler plan MANIFEST --state {output}"
    )
    return exit_codes.OK


def _choose(projects: Sequence[Project], specs: Sequence[ProjectSpec], wanted: Sequence[str]) -> list[Project]:
    """The manifest's projects, then those named with --project."""
    from_manifest = [str(entry.project_id) for entry in resolve_projects(specs, projects)]
    return pick_projects(projects, [*from_manifest, *wanted])
