"""`reconciler apply PATHS | --plan plan.json`: make the plan true, safely."""

from __future__ import annotations

import json
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from reconciler.apply.executor import ALREADY_GONE, DELETED, FAILED, NOT_STARTED, UPDATED, Execution, ExecutionSettings, Executor, Outcome
from reconciler.apply.pacing import Progress
from reconciler.apply.preflight import Preflight, preflight
from reconciler.apply.records import Archive, Journal
from reconciler.commands.plan import PlanOptions, make_plan
from reconciler.commands.runtime import Runtime
from reconciler.defaults import DEFAULT_ARCHIVE_DIR, DEFAULT_JOURNAL, DEFAULT_MAX_DELETES
from reconciler.errors import ReconcilerError
from reconciler.live import reread_live
from reconciler.models import Backtest
from reconciler.plan.model import DELETE, Plan, load_plan
from reconciler.plan.render import render_text

EXIT_INTERRUPTED = 130
PROMPT = "Apply these changes? Only 'yes' is accepted: "


class ApplyRefused(ReconcilerError):
    """Refused before any change: nothing was applied."""


@dataclass
class ApplyOptions:
    plan_file: Path | None = None
    yes: bool = False
    max_deletes: int = DEFAULT_MAX_DELETES
    archive_dir: Path | None = DEFAULT_ARCHIVE_DIR  # None: --no-archive
    journal: Path = DEFAULT_JOURNAL
    fail_fast: bool = False
    max_rps: float | None = None
    fmt: str = "text"


def run(rt: Runtime, planning: PlanOptions, options: ApplyOptions) -> int:
    human = rt.stdout if options.fmt == "text" else rt.stderr  # with --format json, stdout carries only the result
    if options.plan_file is not None:
        plan = load_plan(options.plan_file)
        client = rt.client(planning.parallelism)
        if plan.state:
            raise ApplyRefused(f"{options.plan_file} was planned against a recorded state file; plan against the live API to apply")
        if plan.api_url != rt.api_identity:
            raise ApplyRefused(f"{options.plan_file} was planned against {plan.api_url}, not {rt.api_identity}; re-run plan against this API")
        print(render_text(plan, color=rt.color(human)), file=human)
        _refuse_errors(plan)
        live = reread_live(client, plan, planning.parallelism)
    else:
        plan, states = make_plan(rt, planning)
        print(render_text(plan, color=rt.color(human)), file=human)  # exactly what `plan` prints
        _refuse_errors(plan)
        client = rt.client(planning.parallelism)
        live = {state.project_id: {b.id: b for b in state.backtests} for state in states}
    checked = preflight(plan, live)
    _guard(plan, checked, live, options)
    if not checked.tasks:
        print(_nothing_to_do(checked), file=human)
        _emit_json(rt, options, plan, checked, Execution())
        return 0
    if options.plan_file is None and not options.yes:
        _confirm(human)
    settings = ExecutionSettings(parallelism=planning.parallelism, fail_fast=options.fail_fast, max_rps=options.max_rps)
    progress = Progress(len(checked.tasks), rt.stderr, interactive=rt.stderr.isatty())
    journal = Journal(options.journal)
    try:
        execution = Executor(client, journal, Archive(options.archive_dir) if options.archive_dir else None, settings, progress).run(
            checked.tasks, {p.project_id: p for p in plan.projects})
    finally:
        journal.close()
    print(_summary(checked, execution, options), file=human)
    _emit_json(rt, options, plan, checked, execution)
    if execution.interrupted:
        return EXIT_INTERRUPTED
    return 1 if any(o.outcome == FAILED for o in execution.outcomes) else 0


def _refuse_errors(plan: Plan) -> None:
    if plan.errors:
        raise ApplyRefused(f"the plan has {len(plan.errors)} error(s) (shown above); nothing was applied")


def _guard(plan: Plan, checked: Preflight, live: dict[int, dict[str, Backtest]], options: ApplyOptions) -> None:
    if checked.stale:
        lines = "\n".join(f"  {line}" for line in checked.stale)
        raise ApplyRefused(f"the saved plan is stale: the live state changed since it was made; nothing was applied:\n{lines}\n"
                           "Run plan again, review it, and apply the new plan.")
    if checked.unsafe:
        lines = "\n".join(f"  {line}" for line in checked.unsafe)
        raise ApplyRefused(f"the plan deletes backtests that must never be deleted; nothing was applied:\n{lines}")
    if checked.deletes > options.max_deletes:
        raise ApplyRefused(f"this plan deletes {checked.deletes:,} backtests, more than --max-deletes {options.max_deletes:,} "
                           f"(default {DEFAULT_MAX_DELETES}); nothing was applied. Review the plan, then re-run with --max-deletes {checked.deletes}")
    deletes = Counter(t.project_id for t in checked.tasks if t.action == DELETE)
    for project in plan.projects:
        remaining = len(live.get(project.project_id, {}))
        if deletes[project.project_id] and deletes[project.project_id] >= remaining and not project.allow_empty:
            raise ApplyRefused(f"the plan would delete every backtest of project {project.label}; nothing was applied "
                               "(set allow_empty: true on the project if that is intended)")


def _confirm(human: TextIO) -> None:
    stdin = sys.stdin
    if not (stdin and stdin.isatty()):
        raise ApplyRefused("refusing to apply without confirmation: standard input is not a terminal. "
                           "Pass --yes, or save a reviewed plan with `plan --out plan.json` and run `apply --plan plan.json`")
    human.write(PROMPT)
    human.flush()
    answer = stdin.readline().strip()
    if answer != "yes":
        raise ApplyRefused("Apply cancelled (only 'yes' is accepted); nothing was applied")


def _counts(checked: Preflight, execution: Execution) -> dict[str, int]:
    outcomes = Counter(o.outcome for o in execution.outcomes)
    gone = outcomes[ALREADY_GONE] + len(checked.already_gone)
    return {"updated": outcomes[UPDATED], "deleted": outcomes[DELETED] + gone, "archived": sum(1 for o in execution.outcomes if o.archive and o.outcome == DELETED),
            "failed": outcomes[FAILED], "already_gone": gone, "already_matching": len(checked.already_match), "not_started": outcomes[NOT_STARTED]}


def _summary(checked: Preflight, execution: Execution, options: ApplyOptions) -> str:
    c = _counts(checked, execution)
    head = "Apply interrupted" if execution.interrupted else "Apply complete"
    lines = [f"{head}: {c['updated']:,} updated, {c['deleted']:,} deleted ({c['archived']:,} archived), {c['failed']:,} failed."]
    if c["not_started"]:
        lines.append(f"{c['not_started']:,} actions were not started; run apply again to finish (plan shows what remains).")
    if c["already_gone"]:
        lines.append(f"{c['already_gone']:,} backtests were already gone (counted as deleted).")
    if c["already_matching"]:
        lines.append(f"{c['already_matching']:,} updates already matched the live state (skipped).")
    for outcome in execution.outcomes:
        if outcome.outcome == FAILED:
            lines.append(f"  failed: {outcome.action} {outcome.backtest_id} in project {outcome.project_id}: {outcome.error}")
    where = f"Journal: {options.journal}" + (f"; archives under {options.archive_dir}/" if options.archive_dir else "; archiving was off (--no-archive)")
    lines.append(where)
    return "\n".join(lines)


def _nothing_to_do(checked: Preflight) -> str:
    if checked.already_gone or checked.already_match:
        return (f"Nothing left to apply: every planned action is already done ({len(checked.already_gone)} backtests already gone, "
                f"{len(checked.already_match)} updates already matching).")
    return "No changes. The live state already matches the manifest; nothing to apply."


def _emit_json(rt: Runtime, options: ApplyOptions, plan: Plan, checked: Preflight, execution: Execution) -> None:
    if options.fmt != "json":
        return
    outcomes = execution.outcomes + [Outcome(pid, e.id, DELETE, ALREADY_GONE) for pid, e in checked.already_gone] + \
        [Outcome(pid, e.id, e.action, "already-matching") for pid, e in checked.already_match]
    document = {"format_version": 1, "api_url": plan.api_url, "reference_time": plan.reference_time, "interrupted": execution.interrupted,
                "summary": _counts(checked, execution), "actions": [o.to_dict() for o in outcomes]}
    rt.stdout.write(json.dumps(document, ensure_ascii=False) + "\n")
