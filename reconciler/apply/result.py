"""The result of one apply, as a value, with a human and a JSON renderer (like the plan's views)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler import exit_codes
from reconciler.apply.executor import Execution, TaskResult
from reconciler.apply.preflight import Preflight
from reconciler.models import Action, Grace, Outcome
from reconciler.plan.model import Plan
from reconciler.plan.untrusted import lines_safe

RESULT_FORMAT_VERSION = 1


@dataclass
class ApplyResult:
    plan: Plan
    preflight: Preflight
    execution: Execution
    journal: Path
    archive_dir: Path | None

    @property
    def results(self) -> list[TaskResult]:
        """Every planned action: what ran, and what preflight found already done."""
        done_before = [TaskResult(pid, e.id, Action.DELETE, Outcome.ALREADY_GONE, calls=0) for pid, e in self.preflight.already_gone]
        matching = [TaskResult(pid, e.id, e.action, Outcome.ALREADY_MATCHING, calls=0) for pid, e in self.preflight.already_matching]
        return self.execution.results + done_before + matching

    def counts(self) -> dict[str, int]:
        by_outcome = Counter(r.outcome for r in self.results)
        counts = {outcome.value: by_outcome[outcome] for outcome in Outcome}
        counts["archived"] = sum(1 for r in self.results if r.archive and r.outcome == Outcome.DELETED)
        return counts

    @property
    def exit_code(self) -> int:
        if self.execution.interrupted_by == "SIGTERM":
            return exit_codes.TERMINATED
        if self.execution.interrupted_by:
            return exit_codes.INTERRUPTED
        if self.execution.bug:
            return exit_codes.INTERNAL
        return exit_codes.ERROR if self.execution.halted or any(r.outcome.unfinished for r in self.results) else exit_codes.OK


def render_text(result: ApplyResult) -> str:
    c = result.counts()
    execution = result.execution
    head = "Apply interrupted" if execution.interrupted_by else ("Apply stopped" if execution.halted else "Apply complete")
    lines = [f"{head}: {c['updated']:,} updated, {c['deleted']:,} deleted ({c['archived']:,} archived), {c['failed']:,} failed."]
    if execution.halted:
        lines.append(f"No new call was started after: {execution.halted}.")
    if execution.bug:
        lines.append("This is a bug in reconciler, not your input: please report it with this output and the same command's output with --verbose.")
    if execution.interrupted_by:
        lines.append(f"{execution.interrupted_by} received: no new call was started; the calls in flight finished and are journaled.")
    graced = {e.id: e.grace for p in result.plan.projects for e in p.actions if e.grace in (Grace.MARK, Grace.UNMARK)}
    marked = sum(1 for r in result.results if r.outcome == Outcome.UPDATED and graced.get(r.backtest_id) == Grace.MARK)
    unmarked = sum(1 for r in result.results if r.outcome == Outcome.UPDATED and graced.get(r.backtest_id) == Grace.UNMARK)
    if marked or unmarked:
        lines.append(f"Of the updates, {marked:,} marked backtests for deletion (trash:DAY: an apply on or after that day deletes them; "
                     f"tag one `protected` in QuantConnect to keep it) and {unmarked:,} removed a mark.")
    if c["partly-updated"]:
        lines.append(f"{c['partly-updated']:,} updates were partly applied (see below); run apply again to finish them.")
    if c["not-started"]:
        lines.append(f"{c['not-started']:,} actions were not started; run plan to see what remains, and apply again to finish.")
    if c["skipped"]:
        lines.append(f"{c['skipped']:,} deletes were skipped: the backtest changed since planning and is now kept (see below).")
    if c["already-gone"]:
        lines.append(f"{c['already-gone']:,} backtests were already gone.")
    if c["already-matching"]:
        lines.append(f"{c['already-matching']:,} updates were already made (already-matching): nothing to send.")
    for r in result.results:
        if r.outcome.listed:
            lines.append(f"  {r.outcome.value}: {r.action.value} {r.backtest_id} in project {r.project_id}: {r.skip_reason or r.error}")
    where = f"Journal: {result.journal}" + (f"; archives under {result.archive_dir}/" if result.archive_dir else "; archiving was off (--no-archive)")
    lines.append(where)
    return lines_safe("\n".join(lines))  # errors carry the server's words


def render_json(result: ApplyResult) -> str:
    document: dict[str, Any] = {
        "format_version": RESULT_FORMAT_VERSION, "api_url": result.plan.api_url, "reference_time": result.plan.reference_time,
        "manifest_digest": result.plan.manifest_digest, "interrupted_by": result.execution.interrupted_by, "halted": result.execution.halted,
        "summary": result.counts(), "actions": [r.to_dict() for r in result.results],
    }
    return json.dumps(document, ensure_ascii=False)
