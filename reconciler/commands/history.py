"""`reconciler history`: what apply did, per run and per backtest, from the journal (docs/design.md, "Records")."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from reconciler import exit_codes
from reconciler.apply.history import History, Run, Step, history_document, read_history
from reconciler.commands.runtime import Runtime
from reconciler.errors import ConfigError
from reconciler.models import Action
from reconciler.plan.render import SYMBOLS
from reconciler.plan.untrusted import lines_safe
from reconciler.timeutil import parse_datetime


def since_time(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_datetime(text)
    except ValueError:
        raise ConfigError(f"--since {text!r} is not a timestamp; use ISO 8601 such as 2026-11-28 or 2026-11-28T00:00:00Z") from None


def run(rt: Runtime, journal: Path, project: int | None, since: str | None, fmt: str) -> int:
    history = read_history(journal, project=project, since=since_time(since))
    if fmt == "json":
        rt.stdout.write(json.dumps(history_document(history), ensure_ascii=False) + "\n")
    else:
        rt.stdout.write(render_text(history, journal))
    if history.skipped_lines:
        rt.err(f"warning: {history.skipped_lines:,} line(s) of {journal} are not journal records (a torn write or an edit); skipped")
    return exit_codes.OK


def render_text(history: History, journal: Path) -> str:
    if not history.runs:
        return f"No apply run in {journal} matches.\n"
    lines: list[str] = []
    for run in history.runs:
        lines += _run_lines(run)
        lines.append("")
    lines.append(f"{len(history.runs):,} run{'s' if len(history.runs) != 1 else ''} in {journal}. Undo the updates with "
                 f"`reconciler revert --journal {journal} --since TIME --out revert.plan.json`.")
    return lines_safe("\n".join(lines)) + "\n"  # names, notes and errors from the server: neutralised


def _run_lines(run: Run) -> list[str]:
    ended = run.ended_at or "no end line: stopped before it finished (kill -9, power loss)"
    start = run.start
    head = [f"Run {run.run}: {run.started_at or '?'} -> {ended}"]
    if start:
        head.append(f"  plan {str(start.get('plan_digest') or '?')[:19]}…, manifest {str(start.get('manifest_digest') or '?')[:19]}…, "
                    f"{start.get('api_url') or '?'}" + (f", from {start['plan_file']}" if start.get("plan_file") else ""))
    counts = run.counts()
    head.append("  " + (", ".join(f"{value:,} {key}" for key, value in sorted(counts.items())) or "no action"))
    return head + [_step_line(step) for step in run.steps]


def _step_line(step: Step) -> str:
    line = f"  {SYMBOLS.get(step.action, '?')} {step.action} {step.backtest} (project {step.project}) at {step.time}: {step.outcome}"
    if step.action == Action.UPDATE and step.before is not None and step.after is not None:
        changed = [f"{name}: {json.dumps(step.before.get(name), ensure_ascii=False)} -> {json.dumps(step.after.get(name), ensure_ascii=False)}"
                   for name in step.after]
        line += "  " + "; ".join(changed)
    if step.archive:
        line += f"  archive {step.archive}"
    if step.error:
        line += f"  ({step.error})"
    return line
