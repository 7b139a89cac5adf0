"""Render a plan for people: Terraform-like text, a versioned JSON document, or Markdown for a PR comment."""

from __future__ import annotations

import json
from typing import Callable

from reconciler.plan.model import DELETE, KEEP, UPDATE, Entry, Plan, ProjectPlan

MARKDOWN_BUDGET = 60_000  # characters; GitHub comments stop at 65,536
_COLORS = {"update": "33", "delete": "31", "keep": "2", "warn": "33", "error": "1;31", "bold": "1", "dim": "2"}
_SYMBOLS = {UPDATE: "~", DELETE: "-", KEEP: "="}


def _painter(color: bool) -> Callable[[str, str], str]:
    if not color:
        return lambda text, style: text
    return lambda text, style: f"\033[{_COLORS[style]}m{text}\033[0m"


def _value(value: object) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    if type(value) is str and value.isprintable() and '"' not in value and "\\" not in value:
        return f'"{value}"'  # the common case, without json.dumps (95,000 names in a large plan)
    return json.dumps(value, ensure_ascii=False)


def summary_line(plan: Plan) -> str:
    totals = plan.totals()
    return f"Plan: {totals['update']:,} to update, {totals['delete']:,} to delete, {totals['unchanged']:,} unchanged."


def source_line(plan: Plan) -> str:
    if plan.state:
        return (f"Planned against the RECORDED STATE {plan.state.get('path')} (recorded {plan.state.get('recorded_at') or 'at an unknown time'}, "
                f"{plan.state.get('age') or 'age unknown'}), not the live API.")
    if plan.api_url.startswith("sandbox:"):
        return f"Planned against the embedded sandbox (database {plan.api_url[len('sandbox:'):]})."
    return f"Planned against {plan.api_url}."


def render_text(plan: Plan, *, color: bool = False, show_kept: bool = False) -> str:
    paint = _painter(color)
    lines = [source_line(plan), f"Reference time {plan.reference_time}.", ""]
    if not plan.projects:
        lines.append("The manifest selects no project.")
    for project in plan.projects:
        summary = project.summary()
        lines.append(paint(f"Project {project.label}: {summary['update']:,} to update, {summary['delete']:,} to delete, "
                           f"{summary['unchanged']:,} unchanged", "bold"))
        shown = project.entries if show_kept else project.actions
        for entry in shown:
            lines.extend(_text_entry(entry, paint))
        for warning in project.warnings:
            lines.append(paint(f"  ! warning: {warning}", "warn"))
        for error in project.errors:
            lines.append(paint(f"  ! error: {error}", "error"))
        if not project.actions and not project.warnings and not project.errors:
            lines.append("  No changes.")
        lines.append("")
    lines.append(paint(summary_line(plan), "bold"))
    if plan.errors:
        lines.append(paint(f"The plan has {len(plan.errors)} error(s); apply will refuse it.", "error"))
    return "\n".join(lines)


def _text_entry(entry: Entry, paint: Callable[[str, str], str]) -> list[str]:
    style = entry.action
    head = f"  {_SYMBOLS[entry.action]} {entry.action:<6} {entry.id}  {_value(entry.name)}  created {entry.created:%Y-%m-%d %H:%M}, {entry.status}"
    if entry.tags:
        head += f", tags {_value(list(entry.tags))}"
    lines = [paint(head, style)]
    for change in entry.changes:
        lines.append(paint(f"        {change.field}: {_value(change.before)} -> {_value(change.after)}", style))
    lines.append(paint(f"        because {'; '.join(entry.reasons)}", "dim" if entry.action == KEEP else style))
    return lines


def render_json(plan: Plan, *, color: bool = False, show_kept: bool = False) -> str:
    return plan.to_json() + "\n"


def _md(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("|", "\\|").replace("`", "\\`").replace("<", "&lt;").replace(">", "&gt;")
    for char in "*_[]#~":
        escaped = escaped.replace(char, "\\" + char)
    return escaped.replace("\n", " ")


def render_markdown(plan: Plan, *, color: bool = False, show_kept: bool = False) -> str:
    totals = plan.totals()
    lines = ["### backtest-reconciler plan", "", f"**{summary_line(plan)}**", ""]
    lines.append(f"{_md(source_line(plan))} Reference time `{plan.reference_time}`, manifest `{plan.manifest_digest[:19]}`.")
    lines.append("")
    if plan.errors:
        lines += [f"> **Error:** {_md(error)}" for error in plan.errors] + [""]
    if plan.warnings:
        lines += [f"> **Warning:** {_md(warning)}" for warning in plan.warnings] + [""]
    lines += ["| Project | To update | To delete | Unchanged |", "| --- | ---: | ---: | ---: |"]
    for project in plan.projects:
        summary = project.summary()
        lines.append(f"| {_md(project.label)} | {summary['update']:,} | {summary['delete']:,} | {summary['unchanged']:,} |")
    lines.append(f"| **Total** | **{totals['update']:,}** | **{totals['delete']:,}** | **{totals['unchanged']:,}** |")
    used = sum(len(line) + 1 for line in lines)
    for project in plan.projects:
        if project.actions:
            details = _md_details(project, MARKDOWN_BUDGET - used)
            used += sum(len(line) + 1 for line in details) + 1
            lines += ["", *details]
    return "\n".join(lines) + "\n"


def _md_details(project: ProjectPlan, budget: int) -> list[str]:
    """One collapsible table; rows stop when the comment budget is spent (the JSON plan has them all)."""
    summary = project.summary()
    actions = project.actions
    lines = [f"<details><summary>{_md(project.label)}: {summary['update']:,} to update, {summary['delete']:,} to delete</summary>", "",
             "| | Backtest | Name | Created | Status | Change and reason |", "| --- | --- | --- | --- | --- | --- |"]
    budget -= sum(len(line) + 1 for line in lines) + 200
    shown = 0
    for entry in actions:
        changes = "; ".join(f"{c.field}: {_md(_value(c.before))} → {_md(_value(c.after))}" for c in entry.changes)
        reason = _md("; ".join(entry.reasons))
        detail = f"{changes}<br>{reason}" if changes else reason
        row = f"| `{_SYMBOLS[entry.action]}` {entry.action} | `{entry.id}` | {_md(entry.name)} | {entry.created:%Y-%m-%d %H:%M} | {entry.status} | {detail} |"
        budget -= len(row) + 1
        if budget < 0:
            break
        lines.append(row)
        shown += 1
    if shown < len(actions):
        lines.append(f"| | … | {len(actions) - shown:,} more not shown | | | see `reconciler plan --format json` |")
    lines += ["", "</details>"]
    return lines


def render_text_document(plan: Plan, *, color: bool = False, show_kept: bool = False) -> str:
    return render_text(plan, color=color, show_kept=show_kept) + "\n"


#: One renderer per --format, each a whole document for stdout (the text view shows warnings and errors in place).
RENDERERS: dict[str, Callable[..., str]] = {"text": render_text_document, "json": render_json, "markdown": render_markdown}
SHOWS_PROBLEMS = {"text"}
