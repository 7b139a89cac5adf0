"""Which QuantConnect project each manifest entry means: pure, shared by live and offline plans.

A project is the same project whether the manifest names it by id or by name
(docs/design.md, "Project identity"): two entries that resolve to one id are an
error naming both places, never two plans for one project.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from reconciler.errors import ReconcilerError
from reconciler.manifest.model import ProjectSpec
from reconciler.models import Backtest, Project


class ResolveError(ReconcilerError):
    pass


@dataclass(frozen=True)
class Resolved:
    """A manifest project resolved to its live id, with the name to show."""

    spec: ProjectSpec
    project_id: int
    name: str


def resolve_projects(specs: Sequence[ProjectSpec], projects: Sequence[Project] | None) -> list[Resolved]:
    """Map each spec to its project id; names must match exactly one project; no project twice."""
    by_id = {p.id: p for p in projects or ()}
    resolved: list[Resolved] = []
    for spec in specs:
        if spec.id is not None:
            resolved.append(Resolved(spec, spec.id, by_id[spec.id].name if spec.id in by_id else ""))
            continue
        hits = [p for p in projects or () if p.name == spec.name]
        if not hits:
            close = [p.name for p in projects or () if p.name.lower() == (spec.name or "").lower()]
            hint = f"; did you mean {close[0]!r}?" if close else "; run with an id, or check the name in the QuantConnect IDE"
            raise ResolveError(f"project {spec.name!r} ({spec.source}) does not exist for this user{hint}")
        if len(hits) > 1:
            raise ResolveError(f"project name {spec.name!r} ({spec.source}) is ambiguous: ids {', '.join(str(p.id) for p in hits)}; use id: instead of name:")
        resolved.append(Resolved(spec, hits[0].id, hits[0].name))
    first: dict[int, Resolved] = {}
    for entry in resolved:
        earlier = first.setdefault(entry.project_id, entry)
        if earlier is not entry:
            raise ResolveError(f"project {entry.project_id} is listed twice in the manifest: as {earlier.spec.reference} at {earlier.spec.source} "
                               f"and as {entry.spec.reference} at {entry.spec.source}; keep one entry")
    return resolved


def pick_projects(projects: Sequence[Project], values: Sequence[str]) -> list[Project]:
    """Projects named on the command line by id or exact name, each once, in the order given."""
    chosen: list[Project] = []
    for value in values:
        hits = [p for p in projects if str(p.id) == value or p.name == value]
        if not hits:
            raise ResolveError(f"project {value!r} does not exist for this user; check the id or the exact name in the QuantConnect IDE")
        if len(hits) > 1:
            raise ResolveError(f"project name {value!r} is ambiguous: ids {', '.join(str(p.id) for p in hits)}; pass the id")
        if hits[0] not in chosen:
            chosen.append(hits[0])
    return chosen


def select_projects(resolved: list[Resolved], wanted: Sequence[str]) -> list[Resolved]:
    """--project ID_OR_NAME filters; a value that names no manifest project is an error."""
    if not wanted:
        return resolved
    chosen: list[Resolved] = []
    for value in wanted:
        hits = [r for r in resolved if str(r.project_id) == value or r.name == value or r.spec.name == value]
        if not hits:
            raise ResolveError(f"--project {value!r} is not a project of the manifest")
        chosen.extend(h for h in hits if h not in chosen)
    return chosen


def needs_project_list(specs: Sequence[ProjectSpec], wanted: Sequence[str]) -> bool:
    names = {s.name for s in specs if s.name is not None}
    return bool(names) or any(not value.isdigit() and value not in names for value in wanted)


@dataclass
class ProjectState:
    """One manifest project resolved to its live id, with the backtests planning needs."""

    spec: ProjectSpec
    project_id: int
    name: str
    backtests: list[Backtest]
