"""The planner: live state + manifest + reference time -> Plan. Pure; the fetching lives in reconciler.live."""

from __future__ import annotations

from datetime import datetime
from typing import Mapping, Sequence

from reconciler.engine.grace import strip_marks, with_grace
from reconciler.engine.guards import (
    DELETE_ALL_MESSAGE,
    EMPTY_MESSAGE,
    can_only_delete_all,
    leaves_nothing_completed,
)
from reconciler.engine.labels import after_apply, label, unsettled
from reconciler.engine.notable import citations, notable_deletes
from reconciler.engine.retention import Decision, decide, idle_selectors
from reconciler.gc_control import gc_paused
from reconciler.models import Action, Grace, project_title, without_marks
from reconciler.plan.model import Entry, Plan, ProjectPlan, observed_fields
from reconciler.projects import ProjectState
from reconciler.timeutil import format_iso, utcnow


def build_plan(states: Sequence[ProjectState], now: datetime, *, manifest_digest: str, api_url: str, declared_anywhere: Mapping[str, str] | None = None,
               strict: bool = False, state_source: dict | None = None, warnings: Sequence[str] = (), grace: bool = True) -> Plan:
    """declared_anywhere: every backtest the whole manifest declares (id -> project), not only the planned projects'.
    grace=False (--no-grace): deletes happen at once, whatever the projects' `grace` rules say."""
    declared = dict(declared_anywhere) if declared_anywhere is not None else {d.id: s.spec.reference for s in states for d in s.spec.backtests}
    where_live = {b.id: state for state in states for b in state.backtests if b.id in declared}
    with gc_paused():
        projects = [plan_project(state, now, declared, where_live, strict, grace) for state in states]
        _mark_notable(states, projects)
    plan = Plan(reference_time=format_iso(now), manifest_digest=manifest_digest, api_url=api_url, projects=projects,
                declared_anywhere=declared, created_at=format_iso(utcnow()), state=state_source)
    if strict and warnings and projects:  # --strict: a warning fails the plan like a project's own
        projects[0].errors.extend(f"{w} (--strict)" for w in warnings)
    else:
        plan.general_warnings.extend(warnings)
    return plan


def plan_project(state: ProjectState, now: datetime, declared_anywhere: Mapping[str, str] | None = None,
                 where_live: Mapping[str, ProjectState] | None = None, strict: bool = False, grace: bool = True) -> ProjectPlan:
    spec = state.spec
    seen, marked = strip_marks(state.backtests)  # the engine decides as if no mark were there
    decisions, label_errors, labelled = label(spec, decide(spec, seen, now, declared_anywhere), now, state.name, state.project_id)
    if labelled:  # the project as apply will leave it, planned again: labels never change a decision, and settle at once
        second, _, _ = label(spec, decide(spec, after_apply(decisions), now, declared_anywhere), now, state.name, state.project_id)
        label_errors += unsettled(spec, decisions, labelled, second)
    if spec.grace is not None or marked:
        decisions, grace_errors = with_grace(spec, decisions, marked, now, enabled=grace)
        label_errors += grace_errors
    managed_notes = spec.managed_notes
    ranked_by = tuple(dict.fromkeys(p.by for p in spec.keep if p.kind == "best"))
    entries = [_entry(d, managed_notes, ranked_by) for d in decisions]
    project = ProjectPlan(project_id=state.project_id, name=state.name, entries=entries, spec=spec, errors=label_errors)
    live_ids = {b.id for b in state.backtests}
    for declared in spec.backtests:
        if declared.id in live_ids:
            continue
        home = (where_live or {}).get(declared.id)
        if home is not None:
            where = project_title(home.name, home.project_id)
            project.warnings.append(f"declared backtest {declared.id} lives in project {where}, "
                                    "not in this one: it is kept there and not reconciled; move the declaration to that project")
        else:
            project.warnings.append(f"declared backtest {declared.id} does not exist in this project (apply cannot create it)")
    deleting = {e.id for e in entries if e.action == Action.DELETE}
    if not spec.allow_empty:
        if can_only_delete_all(spec):
            project.errors.append(DELETE_ALL_MESSAGE)
        elif leaves_nothing_completed(entries, deleting):
            project.errors.append(EMPTY_MESSAGE.format(deletes=len(deleting)))
    if strict:
        project.errors.extend(f"{w} (--strict)" for w in project.warnings)
        project.warnings = []
    if state.backtests:  # never made errors by --strict: once apply has run, a delete rule has nothing left to match
        project.warnings.extend(idle_selectors(spec, decisions, seen, now))
    return project


def _entry(decision: Decision, managed_notes: frozenset[str], ranked_by: tuple[str, ...]) -> Entry:
    """One row (100,000 a large plan): positional arguments, and no work for what the row does not need."""
    b = decision.backtest
    action = decision.action
    observed = None
    if action is not KEEP:
        observed = observed_fields(b, note=b.id in managed_notes or any(c.field == "note" for c in decision.changes))
    ranked = None
    if ranked_by:
        statistics = b.statistics
        if len(ranked_by) == 1:  # the usual manifest: one `best` statistic (no comprehension frame per row)
            value = statistics.get(ranked_by[0])
            ranked = {ranked_by[0]: value} if value is not None else None
        else:
            ranked = {key: statistics[key] for key in ranked_by if key in statistics} or None
    return Entry(b.id, b.name, b.created, b.status, b.tags, action, decision.reasons, decision.changes, observed, ranked, (), 0, decision.grace)


KEEP = Action.KEEP


def _mark_notable(states: Sequence[ProjectState], projects: Sequence[ProjectPlan]) -> None:
    """Mark the deletes a reviewer must not miss (engine.notable); citations count across the whole plan."""
    deleting = [{e.id for e in project.entries if e.action is Action.DELETE or e.grace is Grace.MARK} for project in projects]
    if not any(deleting):
        return
    notes = [(b.id, b.note) for state in states for b in state.backtests if b.note]
    notes += [(d.id, d.note) for state in states for d in state.spec.backtests if d.note]
    cited = citations(notes, frozenset().union(*deleting)) if notes else {}
    protected = frozenset(tag for state in states for tag in (*state.spec.protecting_tags, *(t for s in state.spec.protect for t in s.tag_set)))
    for state, project, ids in zip(states, projects, deleting):
        seen = [without_marks(b)[0] if b.tags else b for b in state.backtests]  # a grace mark is not what makes a delete notable
        why = notable_deletes(seen, [b for b in seen if b.id in ids], cited, protected)
        if why:
            for entry in project.entries:
                if entry.id in why:
                    entry.notable_weight, entry.notable = why[entry.id]
