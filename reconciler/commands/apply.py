"""`reconciler apply PATHS | --plan plan.json [PATHS]`: make the plan true, safely."""

from __future__ import annotations

import hashlib
import json
import secrets
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from reconciler import __version__, exit_codes
from reconciler.api.client import QuantConnectClient
from reconciler.apply.executor import Execution, ExecutionSettings, Executor
from reconciler.apply.preflight import Preflight, preflight
from reconciler.apply.records import Archive, ArchiveBudget, Journal, RecordsLock
from reconciler.apply.result import ApplyResult, render_json, render_text
from reconciler.commands.plan import PlanOptions, caps_of, distant_now, make_plan
from reconciler.commands.runtime import Runtime
from reconciler.defaults import (
    ARCHIVE_MAX_BYTES,
    ARCHIVE_MAX_CALLS,
    ARCHIVE_MAX_SECONDS,
    DEFAULT_ARCHIVE_DIR,
    DEFAULT_JOURNAL,
)
from reconciler.engine.guards import apply_refusal, leaves_nothing_completed
from reconciler.errors import ReconcilerError
from reconciler.live import reread_live
from reconciler.manifest.caps import Caps
from reconciler.manifest.load import load_manifest
from reconciler.manifest.model import Manifest
from reconciler.models import Action, Backtest
from reconciler.plan.model import Plan, load_plan
from reconciler.plan.render import render_summary
from reconciler.plan.render import render_text as render_plan_text
from reconciler.progress import Progress
from reconciler.projects import needs_project_list, resolve_projects

PROMPT = "Apply these changes? Only 'yes' is accepted: "


class ApplyRefused(ReconcilerError):
    """Refused before any change: nothing was applied."""


@dataclass
class ApplyOptions:
    plan_file: Path | None = None
    yes: bool = False
    archive_dir: Path | None = DEFAULT_ARCHIVE_DIR  # None: --no-archive
    archive_full: bool = True  # --archive full (charts, orders, insights) or summary (the read alone)
    archive_budget: tuple[int, int, float] = (ARCHIVE_MAX_BYTES, ARCHIVE_MAX_CALLS, ARCHIVE_MAX_SECONDS)  # bytes, calls, seconds per backtest
    journal: Path = DEFAULT_JOURNAL
    fail_fast: bool = False
    max_rps: float | None = None
    fmt: str = "text"
    show_plan: bool = False  # every row, as `plan` prints it, instead of the summary per project and reason


def run(rt: Runtime, planning: PlanOptions, options: ApplyOptions) -> int:
    # One apply at a time on the journal and on the archive directory, whatever the working directory: checked first.
    with RecordsLock(options.journal, options.archive_dir):
        return _run_locked(rt, planning, options)


def _run_locked(rt: Runtime, planning: PlanOptions, options: ApplyOptions) -> int:
    human = rt.stdout if options.fmt == "text" else rt.stderr  # with --format json, stdout carries only the result
    caps = caps_of(planning)  # a bad caps file is one line before any call
    if options.plan_file is not None:
        plan, manifest = _saved_plan(rt, planning, options)
        _show(plan, options, human, rt)
        _refuse_errors(plan)
        client = rt.client(planning.parallelism)
        if manifest is not None:
            _bind_rules(plan, manifest, client, options.plan_file)
        live = reread_live(client, plan, planning.parallelism, rt.progress("reading backtests"))
    else:
        plan, states = make_plan(rt, planning)
        distant = distant_now(planning)
        if distant:
            plan.general_warnings.append(distant)
        _show(plan, options, human, rt)
        _refuse_errors(plan)
        client = rt.client(planning.parallelism)
        live = {state.project_id: {b.id: b for b in state.backtests} for state in states}
    checked = preflight(plan, live)
    _guard(plan, checked, live, caps)
    if not checked.tasks:
        print(_nothing_to_do(checked), file=human)
        _emit(rt, options, ApplyResult(plan, checked, Execution(), options.journal, options.archive_dir), human, summary=False)
        return exit_codes.OK
    if options.plan_file is None and not options.yes:
        _confirm(human)
    settings = ExecutionSettings(parallelism=planning.parallelism, fail_fast=options.fail_fast, max_rps=options.max_rps,
                                 archive_budget=ArchiveBudget(*options.archive_budget))
    progress = Progress(len(checked.tasks), rt.stderr, interactive=rt.stderr.isatty())
    journal = Journal(options.journal, run=secrets.token_hex(8))
    try:
        journal.start(plan_digest=plan_digest(plan), manifest_digest=plan.manifest_digest, api_url=plan.api_url, reference_time=plan.reference_time,
                      plan_file=str(options.plan_file) if options.plan_file else None, actions=len(checked.tasks), tool_version=__version__)
        archive = Archive(options.archive_dir, full=options.archive_full) if options.archive_dir else None
        execution = Executor(client, journal, archive, settings, progress).run(plan, checked.tasks)
        result = ApplyResult(plan, checked, execution, options.journal, options.archive_dir)
        journal.end(summary=result.counts(), interrupted_by=execution.interrupted_by, halted=execution.halted)
    finally:
        journal.close()
    _emit(rt, options, result, human)
    return result.exit_code


def plan_digest(plan: Plan) -> str:
    """The plan's identity in the journal: its decisions as the plan file holds them, without when it was written."""
    document = plan.to_dict()
    document.pop("created_at", None)
    return "sha256:" + hashlib.sha256(json.dumps(document, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _saved_plan(rt: Runtime, planning: PlanOptions, options: ApplyOptions) -> tuple[Plan, Manifest | None]:
    assert options.plan_file is not None
    plan = load_plan(options.plan_file)
    if plan.state:
        raise ApplyRefused(f"{options.plan_file} was planned against a recorded state file; plan against the live API to apply")
    manifest = None
    if planning.paths:  # the manifest that was merged: the reviewed plan must have been made from it
        manifest = load_manifest(planning.paths)
        if manifest.digest != plan.manifest_digest:
            raise ApplyRefused(f"{options.plan_file} was made from another manifest ({plan.manifest_digest[:19]}…) than "
                               f"{', '.join(map(str, planning.paths))} ({manifest.digest[:19]}…); nothing was applied. "
                               "Plan this manifest, review that plan, and apply it")
    if plan.api_url != rt.api_identity:
        raise ApplyRefused(f"{options.plan_file} was planned against {plan.api_url}, not {rt.api_identity}; re-run plan against this API")
    return plan, manifest


def _bind_rules(plan: Plan, manifest: Manifest, client: QuantConnectClient, plan_file: Path) -> None:
    """docs/design.md, "Apply": with the manifest given, every delete is re-checked against the manifest's rules and
    declarations, never against the copies inside the plan file (whoever can write the file could edit those)."""
    projects = client.list_projects() if needs_project_list(manifest.projects, ()) else None
    specs = {entry.project_id: entry.spec for entry in resolve_projects(manifest.projects, projects)}
    for project in plan.projects:
        spec = specs.get(project.project_id)
        if spec is None:
            raise ApplyRefused(f"{plan_file} changes project {project.title}, which the manifest does not list; nothing was applied")
        project.spec = spec
    plan.declared_anywhere = dict(manifest.declared_anywhere)


def _show(plan: Plan, options: ApplyOptions, human: TextIO, rt: Runtime) -> None:
    if options.show_plan:
        print(render_plan_text(plan, color=rt.color(human)), file=human)
    else:
        print(render_summary(plan, color=rt.color(human), saved=str(options.plan_file) if options.plan_file else None), file=human)


def _refuse_errors(plan: Plan) -> None:
    if plan.errors:
        raise ApplyRefused(f"the plan has {len(plan.errors)} error(s) (shown above); nothing was applied")


def _guard(plan: Plan, checked: Preflight, live: dict[int, dict[str, Backtest]], caps: Caps) -> None:
    """Every guard apply runs before its first call, in engine/guards.py; a refusal applies nothing."""
    deleting: dict[int, set[str]] = defaultdict(set)
    for task in checked.tasks:
        if task.action == Action.DELETE:
            deleting[task.project_id].add(task.backtest_id)
    emptied = [project.title for project in plan.projects
               if not project.allow_empty and leaves_nothing_completed(live.get(project.project_id, {}).values(), deleting[project.project_id])]
    refusal = apply_refusal(stale=checked.stale, unsafe=checked.unsafe, deletes=checked.deletes,
                            updates=sum(1 for t in checked.tasks if t.action == Action.UPDATE), max_deletes=caps.max_deletes,
                            max_updates=caps.max_updates, emptied=emptied, caps_file=caps.file)
    if refusal:
        raise ApplyRefused(refusal)


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


def _nothing_to_do(checked: Preflight) -> str:
    if checked.already_gone or checked.already_matching:
        return (f"Nothing left to apply: every planned action is already done ({len(checked.already_gone)} backtests already gone, "
                f"{len(checked.already_matching)} updates already matching).")
    return "No changes. The live state already matches the manifest; nothing to apply."


def _emit(rt: Runtime, options: ApplyOptions, result: ApplyResult, human: TextIO, summary: bool = True) -> None:
    if summary:
        print(render_text(result), file=human)
    if options.fmt == "json":
        rt.stdout.write(render_json(result) + "\n")
