"""The journal read back (docs/design.md, "Records"): what apply did, per run and per backtest, and the plan that undoes
its updates.

The journal is JSON lines that apply appends: a `start` line per run, an `intent` line before each call and a
`done` line after it, an `end` line with the counts. It is read as untrusted input: a line that is not a record
(a torn write, an edit) is counted and skipped, never fatal. Lines from before runs were recorded carry no run
id; they form one run of their own, `(no run id)`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Mapping

from reconciler.errors import ReconcilerError
from reconciler.manifest.build import DEFAULT_RULES, build_project
from reconciler.models import MANAGED_FIELDS, Action, Backtest, Change, Outcome, Reason, is_backtest_id
from reconciler.plan.model import Entry, Plan, ProjectPlan, observed_fields
from reconciler.timeutil import format_iso, parse_datetime, utcnow

HISTORY_FORMAT_VERSION = 1
UNRECORDED = "unrecorded"  # an intent line without its done line: the process stopped before it could write the outcome


class JournalError(ReconcilerError):
    pass


@dataclass
class Step:
    """One call apply made (or meant to make) on one backtest, with its outcome."""

    time: str
    project: int
    backtest: str
    action: str
    step: str
    outcome: str = UNRECORDED
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    archive: str | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"time": self.time, "project": self.project, "backtest": self.backtest, "action": self.action, "step": self.step,
                "outcome": self.outcome, "before": self.before, "after": self.after, "archive": self.archive, "error": self.error}


@dataclass
class Run:
    run: str
    started_at: str = ""
    ended_at: str = ""
    start: dict[str, Any] = field(default_factory=dict)  # plan and manifest digests, API, reference time, plan file
    summary: dict[str, int] | None = None  # None: no end line (stopped hard)
    steps: list[Step] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Counts per outcome: the end line's when there is one, else counted from the steps."""
        if self.summary is not None:
            return {key: value for key, value in self.summary.items() if value}
        counted: dict[str, int] = {}
        for step in self.steps:
            counted[step.outcome] = counted.get(step.outcome, 0) + 1
        return counted

    def to_dict(self) -> dict[str, Any]:
        return {"run": self.run, "started_at": self.started_at, "ended_at": self.ended_at or None,
                "plan_digest": self.start.get("plan_digest"), "manifest_digest": self.start.get("manifest_digest"),
                "api_url": self.start.get("api_url"), "reference_time": self.start.get("reference_time"), "plan_file": self.start.get("plan_file"),
                "summary": self.counts(), "finished": self.summary is not None, "steps": [s.to_dict() for s in self.steps]}


@dataclass
class History:
    runs: list[Run]
    skipped_lines: int = 0


def _text(value: Any, limit: int = 2000) -> str | None:
    return value[:limit] if isinstance(value, str) else None


def _fields(value: Any) -> dict[str, Any] | None:
    """A before/after record: only the fields apply manages, with values of their own type."""
    if not isinstance(value, dict):
        return None
    kept: dict[str, Any] = {}
    for key, item in value.items():
        if key in ("name", "note") and isinstance(item, str):
            kept[key] = item
        elif key == "tags" and isinstance(item, list) and all(isinstance(tag, str) for tag in item):
            kept[key] = list(item)
    return kept


def read_history(path: Path, *, project: int | None = None, since: datetime | None = None) -> History:
    """Every run of the journal, oldest first; `project` and `since` keep the steps (and the runs) they select."""
    runs: dict[str, Run] = {}
    open_steps: dict[tuple[str, int, str, str], Step] = {}
    skipped = 0
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        raise JournalError(f"no journal at {path}: apply writes one there (apply --journal PATH); pass --journal to read another") from None
    except OSError as exc:
        raise JournalError(f"cannot read the journal {path}: {exc.strerror or exc}") from None
    with handle:  # line by line: a journal grows with every apply, memory holds one line at a time
        for raw_line in handle:
            line = raw_line.decode("utf-8", errors="replace")
            skipped += not _read_line(line, runs, open_steps)
    return _select(runs, skipped, project, since)


def _read_line(line: str, runs: dict[str, Run], open_steps: dict[tuple[str, int, str, str], Step]) -> bool:
    """One journal line into its run; False when the line is not a record (counted and skipped by the caller)."""
    if not line.strip():
        return True  # a blank line: nothing to read, nothing wrong
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):
        return False
    if not isinstance(record, dict) or not isinstance(record.get("time"), str):
        return False
    run_id = _text(record.get("run"), 64) or "(no run id)"
    phase, time = record.get("phase"), record["time"][:40]
    pid, bid = record.get("project"), record.get("backtest")
    if phase not in ("start", "end") and (phase not in ("intent", "done") or type(pid) is not int or not is_backtest_id(bid)):
        return False
    run = runs.setdefault(run_id, Run(run_id))
    if phase == "start":
        run.started_at, run.start = time, {k: _text(v, 300) for k, v in record.items() if k not in ("time", "phase", "run")}
        return True
    if phase == "end":
        summary = record.get("summary")
        run.ended_at, run.summary = time, {str(k): v for k, v in summary.items() if type(v) is int} if isinstance(summary, dict) else {}
        return True
    run.started_at = run.started_at or time
    key = (run_id, pid, bid, str(record.get("step")))
    step = open_steps.pop(key, None)
    if step is None:
        step = Step(time=time, project=pid, backtest=bid, action=_text(record.get("action"), 20) or "?", step=_text(record.get("step"), 20) or "?")
        run.steps.append(step)
    if phase == "intent":
        open_steps[key] = step
    else:
        step.outcome = _text(record.get("outcome"), 40) or "?"
    step.before = _fields(record.get("before")) if "before" in record else step.before
    step.after = _fields(record.get("after")) if "after" in record else step.after
    step.archive = _text(record.get("archive"), 1000) or step.archive
    step.error = _text(record.get("error")) or step.error
    return True


def _select(runs: dict[str, Run], skipped: int, project: int | None, since: datetime | None) -> History:
    """The runs, oldest first, with the steps `project` and `since` keep; a run with none is left out."""
    selected = []
    for run in runs.values():
        run.steps = [s for s in run.steps if (project is None or s.project == project) and (since is None or _after(s.time, since))]
        if run.steps or (project is None and (since is None or _after(run.started_at, since))):
            selected.append(run)
    return History(selected, skipped)


def _after(time: str, since: datetime) -> bool:
    try:
        return parse_datetime(time) >= since
    except ValueError:
        return False


def history_document(history: History) -> dict[str, Any]:
    return {"format_version": HISTORY_FORMAT_VERSION, "runs": [run.to_dict() for run in history.runs], "skipped_lines": history.skipped_lines}


# --- revert ------------------------------------------------------------------------


@dataclass(frozen=True)
class Restore:
    """What undoing a field takes: the value before the first update in the window, and the value after the last one
    (what the field must still hold; otherwise it changed again since, and is left alone)."""

    project: int
    backtest: str
    field: str
    restore: Any
    expected: Any
    since: str  # when the first of those updates was made


@dataclass
class RevertSet:
    restores: list[Restore]
    deletes: list[Step]  # cannot be undone: listed with their archive files


def revert_set(history: History) -> RevertSet:
    """From the steps that changed something: per backtest and field, the oldest before and the newest after."""
    first: dict[tuple[int, str, str], tuple[Any, str]] = {}
    last: dict[tuple[int, str, str], Any] = {}
    deletes = []
    for run in history.runs:
        for step in run.steps:
            if step.action == Action.DELETE and step.outcome == Outcome.DELETED:
                deletes.append(step)
            if step.action != Action.UPDATE or step.outcome != Outcome.UPDATED or not step.before or not step.after:
                continue
            for name in MANAGED_FIELDS:
                if name in step.before and name in step.after:
                    key = (step.project, step.backtest, name)
                    first.setdefault(key, (step.before[name], step.time))
                    last[key] = step.after[name]
    restores = [Restore(pid, bid, name, before, last[(pid, bid, name)], when) for (pid, bid, name), (before, when) in first.items()
                if before != last[(pid, bid, name)]]
    return RevertSet(restores, deletes)


def _live_value(backtest: Backtest, name: str) -> Any:
    return list(backtest.tags) if name == "tags" else (backtest.note or "") if name == "note" else backtest.name


def revert_plan(revert: RevertSet, live: Mapping[int, Mapping[str, Backtest]], *, api_url: str, journal: str,
                project_names: Mapping[int, str] | None = None) -> Plan:
    """A plan of updates that put the fields back, reviewed and applied like any plan (`apply --plan`). A field whose
    live value is no longer what the journal's last update left is stale: left alone, with a warning; so is a
    backtest that is gone. Deletes are listed as warnings with their archive files: they cannot be undone."""
    warnings: list[str] = []
    by_project: dict[int, dict[str, list[Restore]]] = {}
    for item in revert.restores:
        by_project.setdefault(item.project, {}).setdefault(item.backtest, []).append(item)
    projects = []
    for pid in sorted(by_project):
        entries = []
        for bid, items in by_project[pid].items():
            backtest = live.get(pid, {}).get(bid)
            if backtest is None:
                warnings.append(f"{bid} (project {pid}) is gone: nothing to put back")
                continue
            changes = []
            for item in items:
                now = _live_value(backtest, item.field)
                if now != item.expected:
                    warnings.append(f"{bid} (project {pid}): its {item.field} changed again since the journal's last update "
                                    f"({_short(item.expected)} then, {_short(now)} now); left alone")
                elif now != item.restore:
                    changes.append(Change(item.field, now, item.restore))
            if not changes:
                continue
            observed = observed_fields(backtest, note=any(c.field == "note" for c in changes))
            when = min(item.since for item in items)
            entries.append(Entry(id=bid, name=backtest.name, created=backtest.created, status=backtest.status, tags=backtest.tags,
                                 action=Action.UPDATE, reasons=(Reason("revert", text=f"journal {Path(journal).name}", detail=f"since {when}"),),
                                 changes=tuple(changes), observed=observed))
        if entries:
            spec = build_project(dict(DEFAULT_RULES), id=pid, name=None, backtests=())  # the defaults (prune off): no delete can come from a revert
            projects.append(ProjectPlan(project_id=pid, name=(project_names or {}).get(pid, ""), entries=entries, spec=spec))
    for step in revert.deletes:
        where = f"its archive is {step.archive}" if step.archive else "it was deleted without an archive"
        warnings.append(f"{step.backtest} (project {step.project}) was deleted at {step.time} and cannot be reverted; {where}")
    now = format_iso(utcnow())
    return Plan(reference_time=now, manifest_digest="revert:" + Path(journal).name, api_url=api_url, projects=projects,
                created_at=now, general_warnings=warnings)


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."

