"""The planner: live state + manifest + reference time -> Plan. Pure; the fetching lives in reconciler.live."""

from __future__ import annotations

import gc
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Iterator, Sequence

from reconciler.engine.retention import DELETE, KEEP, Decision, decide
from reconciler.manifest.model import ProjectSpec
from reconciler.models import Backtest
from reconciler.plan.model import Entry, FieldChange, Plan, ProjectPlan
from reconciler.timeutil import format_iso, utcnow


@dataclass
class ProjectState:
    """One manifest project resolved to its live id, with the backtests planning needs."""

    spec: ProjectSpec
    project_id: int
    name: str
    backtests: list[Backtest]


def build_plan(states: Sequence[ProjectState], now: datetime, *, manifest_digest: str, api_url: str, strict: bool = False,
               state_source: dict | None = None) -> Plan:
    with gc_paused():
        projects = [plan_project(state, now, strict) for state in states]
    return Plan(reference_time=format_iso(now), manifest_digest=manifest_digest, api_url=api_url, projects=projects,
                created_at=format_iso(utcnow()), state=state_source)


@contextmanager
def gc_paused() -> Iterator[None]:
    """Planning allocates one short-lived acyclic record per backtest; the cyclic GC only slows that down."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def plan_project(state: ProjectState, now: datetime, strict: bool = False) -> ProjectPlan:
    spec = state.spec
    decisions = decide(spec, state.backtests, now)
    managed_notes = spec.managed_notes
    entries = [_entry(d, managed_notes) for d in decisions]
    project = ProjectPlan(project_id=state.project_id, name=state.name, entries=entries, protect_tags=spec.protecting_tags,
                          declared=tuple(d.id for d in spec.backtests), allow_empty=spec.allow_empty)
    live_ids = {b.id for b in state.backtests}
    for declared in spec.backtests:
        if declared.id not in live_ids:
            project.warnings.append(f"declared backtest {declared.id} does not exist in this project (apply cannot create it)")
    deletes = project.count(DELETE)
    if deletes and deletes == len(entries) and not spec.allow_empty:
        project.errors.append(f"this plan would delete every one of its {deletes} backtests; set allow_empty: true on the project if that is intended")
    if strict:
        project.errors.extend(f"{w} (--strict)" for w in project.warnings)
        project.warnings = []
    return project


def _entry(decision: Decision, managed_notes: frozenset[str]) -> Entry:
    b = decision.backtest
    observed = None
    if decision.action != KEEP:
        observed = {"name": b.name, "tags": list(b.tags), "status": b.status}
        if b.id in managed_notes:
            observed["note"] = b.note or ""
    changes = tuple(FieldChange(c.field, c.before, c.after) for c in decision.changes) if decision.changes else ()
    return Entry(b.id, b.name, b.created, b.status, b.tags, decision.action, decision.reasons, changes, observed)

