"""Check a plan against the live state before any change, and turn it into tasks.

Stale: a backtest an action touches changed, since planning, in a field the action
depends on (and not to the value the action wants). Unsafe: a delete that targets a
backtest the project's rules keep whatever else happens (in progress, declared
anywhere, protect tags, protect, keep match), whatever the plan says. Either refuses
the whole plan. A delete whose backtest is already gone, and an update whose target
already matches, are simply done.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from reconciler.engine.retention import kept_now
from reconciler.models import Action, Backtest, Change, tag_keys
from reconciler.plan.model import Entry, Plan, ProjectPlan


@dataclass
class Task:
    """The remaining work for one backtest: a delete, or ordered updates (name/note, then tags)."""

    project: ProjectPlan
    entry: Entry
    changes: tuple[Change, ...] = ()
    seen: Backtest | None = None  # the backtest as preflight saw it (statistics, parameters: what a read does not carry)

    @property
    def project_id(self) -> int:
        return self.project.project_id

    @property
    def action(self) -> Action:
        return self.entry.action

    @property
    def backtest_id(self) -> str:
        return self.entry.id


@dataclass
class Preflight:
    tasks: list[Task] = field(default_factory=list)
    already_gone: list[tuple[int, Entry]] = field(default_factory=list)
    already_matching: list[tuple[int, Entry]] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    unsafe: list[str] = field(default_factory=list)

    @property
    def deletes(self) -> int:
        return sum(1 for t in self.tasks if t.action == Action.DELETE)


def show_value(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(map(str, value)) + "]"
    return json.dumps(value, ensure_ascii=False)


def live_value(backtest: Backtest, name: str) -> Any:
    if name == "tags":
        return list(backtest.tags)
    if name == "note":
        return backtest.note or ""
    return getattr(backtest, name)


def same_value(name: str, a: Any, b: Any) -> bool:
    """Equal as the manifest means it: tags as a set of tag keys (case and surrounding spaces ignored)."""
    return tag_keys(a) == tag_keys(b) if name == "tags" else a == b


def drift(entry: Entry, backtest: Backtest) -> list[str]:
    """Fields the action depends on that changed since planning (and not to what the action wants)."""
    wanted = {c.field: c.after for c in entry.changes}
    changed = []
    for name, observed in (entry.observed or {}).items():
        now_value = live_value(backtest, name)
        if same_value(name, observed, now_value) or (name in wanted and same_value(name, wanted[name], now_value)):
            continue
        changed.append(f"{name} was {show_value(observed)}, is now {show_value(now_value)}")
    return changed


def refusal(plan: Plan, project: ProjectPlan, backtest: Backtest) -> str | None:
    """Why this live backtest must not be deleted under the plan's rules, or None."""
    return kept_now(project.spec, backtest, plan.now, plan.declared_anywhere)


def last_check(plan: Plan, task: Task, backtest: Backtest) -> str | None:
    """Run just before a delete on the backtest as read then: why it must not be deleted now, or None.

    Is it still what the reviewer saw (name, tags, status, note as planned)? Does the
    manifest keep it now (kept_now)? Either answer skips the delete. A read carries the
    fields people change; statistics and parameters (which never change once a backtest
    has run) come from the list preflight saw, so rules on them judge as the plan did.
    """
    if task.seen is not None:
        backtest = replace(task.seen, name=backtest.name, tags=backtest.tags, status=backtest.status, raw_status=backtest.raw_status,
                           note=backtest.note)
    changed = drift(task.entry, backtest)
    if changed:
        return "changed since planning: " + "; ".join(changed)
    reason = refusal(plan, task.project, backtest)
    return f"changed since planning: now kept by {reason}" if reason else None


def preflight(plan: Plan, live: Mapping[int, Mapping[str, Backtest]]) -> Preflight:
    result = Preflight()
    for project in plan.projects:
        current = live.get(project.project_id, {})
        for entry in project.actions:
            backtest = current.get(entry.id)
            if backtest is None:
                if entry.action == Action.DELETE:
                    result.already_gone.append((project.project_id, entry))
                else:
                    result.stale.append(f"{entry.id}: was {show_value(entry.name)}, is now gone (project {project.project_id})")
                continue
            result.stale.extend(f"{entry.id}: {change}" for change in drift(entry, backtest))
            if entry.action == Action.DELETE:
                reason = refusal(plan, project, backtest)
                if reason:
                    result.unsafe.append(f"{entry.id}: refusing to delete: it is kept by {reason}")
                else:
                    result.tasks.append(Task(project, entry, seen=backtest))
            elif entry.action == Action.UPDATE:
                remaining = tuple(c for c in entry.changes if not same_value(c.field, c.after, live_value(backtest, c.field)))
                if remaining:
                    result.tasks.append(Task(project, entry, remaining))
                else:
                    result.already_matching.append((project.project_id, entry))
    return result
