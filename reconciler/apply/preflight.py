"""Check a plan against the live state before any change, and turn it into tasks.

Stale: a backtest an action touches changed, since planning, in a field the action
depends on (and not to the value the action wants). Unsafe: a delete that targets an
in-progress, declared or protected backtest, whatever the plan says. Either refuses
the whole plan. A delete whose backtest is already gone, and an update whose target
already matches, are simply done.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping

from reconciler.models import PROTECTED_TAG, Backtest
from reconciler.plan.model import DELETE, UPDATE, Entry, FieldChange, Plan, ProjectPlan

@dataclass
class Task:
    """The remaining work for one backtest: deletes, or ordered updates (name/note, then tags)."""

    project_id: int
    entry: Entry
    changes: tuple[FieldChange, ...] = ()

    @property
    def action(self) -> str:
        return self.entry.action

    @property
    def backtest_id(self) -> str:
        return self.entry.id


@dataclass
class Preflight:
    tasks: list[Task] = field(default_factory=list)
    already_gone: list[tuple[int, Entry]] = field(default_factory=list)
    already_match: list[tuple[int, Entry]] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    unsafe: list[str] = field(default_factory=list)

    @property
    def deletes(self) -> int:
        return sum(1 for t in self.tasks if t.action == DELETE)


def _show(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(map(str, value)) + "]"
    return json.dumps(value, ensure_ascii=False)


def _live_value(backtest: Backtest, name: str) -> Any:
    if name == "tags":
        return list(backtest.tags)
    if name == "note":
        return backtest.note or ""
    return getattr(backtest, name)


def _same(name: str, a: Any, b: Any) -> bool:
    return sorted(set(a)) == sorted(set(b)) if name == "tags" else a == b


def unsafe_reason(backtest: Backtest, project: ProjectPlan) -> str | None:
    """Why this live backtest must never be deleted, or None."""
    if backtest.in_progress or not backtest.known_status:
        return f"it is {backtest.raw_status or backtest.status!r} (in progress or unknown status)"
    if backtest.id in project.declared:
        return "it is declared in the manifest"
    hits = sorted(set(backtest.tags) & (set(project.protect_tags) | {PROTECTED_TAG}))  # a tampered plan cannot drop it
    if hits:
        return f"it carries the protect tag {', '.join(hits)}"
    return None


def preflight(plan: Plan, live: Mapping[int, Mapping[str, Backtest]]) -> Preflight:
    result = Preflight()
    for project in plan.projects:
        current = live.get(project.project_id, {})
        for entry in project.actions:
            backtest = current.get(entry.id)
            if backtest is None:
                if entry.action == DELETE:
                    result.already_gone.append((project.project_id, entry))
                else:
                    result.stale.append(f"{entry.id}: was {_show(entry.name)}, is now gone (project {project.project_id})")
                continue
            changed_by_action = {c.field: c.after for c in entry.changes}
            for name, observed in (entry.observed or {}).items():
                now_value = _live_value(backtest, name)
                if _same(name, observed, now_value):
                    continue
                if name in changed_by_action and _same(name, changed_by_action[name], now_value):
                    continue  # already what the action wants: done, not stale
                result.stale.append(f"{entry.id}: {name} was {_show(observed)}, is now {_show(now_value)}")
            if entry.action == DELETE:
                reason = unsafe_reason(backtest, project)
                if reason:
                    result.unsafe.append(f"{entry.id}: refusing to delete: {reason}")
                else:
                    result.tasks.append(Task(project.project_id, entry))
            elif entry.action == UPDATE:
                remaining = tuple(c for c in entry.changes if not _same(c.field, c.after, _live_value(backtest, c.field)))
                if remaining:
                    result.tasks.append(Task(project.project_id, entry, remaining))
                else:
                    result.already_match.append((project.project_id, entry))
    return result
