"""`reconciler revert --journal FILE`: a plan that puts back the names, notes and tags apply's updates changed.

It is a plan like any other: review it (`show`), apply it with `apply --plan` (without the manifest: it was not made
from one). Deletes cannot be undone: the plan lists them, with their archive files, as warnings.
"""

from __future__ import annotations

from pathlib import Path

from reconciler import exit_codes
from reconciler.apply.history import read_history, revert_plan, revert_set
from reconciler.commands.history import since_time
from reconciler.commands.plan import emit
from reconciler.commands.runtime import Runtime
from reconciler.fsutil import write_atomic
from reconciler.live import Fetch, fetch_backtests
from reconciler.plan.untrusted import lines_safe


def run(rt: Runtime, journal: Path, since: str | None, out: Path | None, fmt: str, parallelism: int) -> int:
    revert = revert_set(read_history(journal, since=since_time(since)))
    projects = sorted({item.project for item in revert.restores})
    live: dict[int, dict] = {}
    names: dict[int, str] = {}
    if projects:
        client = rt.client(parallelism)
        names = {p.id: p.name for p in client.list_projects()}
        notes = {(item.project, item.backtest) for item in revert.restores if item.field == "note"}
        fetches = [Fetch(pid, read_note=lambda b, pid=pid: (pid, b.id) in notes) for pid in projects if pid in names]
        fetched = fetch_backtests(client, fetches, parallelism=parallelism, progress=rt.progress("reading backtests"))
        live = {pid: {b.id: b for b in backtests} for pid, backtests in fetched.items()}
    plan = revert_plan(revert, live, api_url=rt.api_identity, journal=str(journal), project_names=names)
    if plan.projects or fmt != "text":
        emit(rt, plan, fmt)
    else:  # the plan view would say "the manifest selects no project": a revert has no manifest
        for warning in plan.warnings:
            rt.out(f"! warning: {lines_safe(warning)}")
        window = f" since {since}" if since else ""
        rt.out(f"Nothing to revert: no update in {journal}{window} left a name, note or tags that still holds and differs from before.")
    if out is not None:
        write_atomic(out, plan.to_json() + "\n")
        flags = "--sandbox " if rt.options.sandbox else ""
        rt.err(f"Saved the revert plan to {out}; review it, then apply exactly this plan with: reconciler {flags}apply --plan {out}")
    return exit_codes.OK
