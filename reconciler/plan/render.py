"""Render a plan for people: Terraform-like text, a versioned JSON document, or Markdown for a PR comment."""

from __future__ import annotations

import json
import shlex
from datetime import date, datetime
from functools import lru_cache
from pathlib import PurePath
from typing import Callable, Iterable

from reconciler.models import Action, Reason
from reconciler.plan.model import Entry, Plan, ProjectPlan
from reconciler.plan.untrusted import markdown_safe, terminal_safe

MARKDOWN_BUDGET = 64_000  # characters; GitHub comments stop at 65,536 (the recipes add a one-line marker)
_COLORS = {"update": "33", "delete": "31", "keep": "2", "warn": "33", "error": "1;31", "bold": "1", "dim": "2"}
SYMBOLS = {"update": "~", "delete": "-", "keep": "=", "mark": "-", "unmark": "~", "marked": "="}  # per row kind (Entry.kind)
_STYLES = {"update": "update", "delete": "delete", "keep": "keep", "mark": "delete", "unmark": "update", "marked": "warn"}


def _painter(color: bool) -> Callable[[str, str], str]:
    if not color:
        return lambda text, style: text
    return lambda text, style: f"\033[{_COLORS[style]}m{text}\033[0m"


def _value(value: object) -> str:
    """A value as the text view shows it; anything from the account comes out terminal-safe."""
    if isinstance(value, list):
        return terminal_safe("[" + ", ".join(str(v) for v in value) + "]")
    if type(value) is str and value.isprintable() and '"' not in value and "\\" not in value:
        return f'"{value}"'  # the common case, without json.dumps (95,000 names in a large plan)
    return terminal_safe(json.dumps(value, ensure_ascii=False))


def counts_text(counts: dict[str, int]) -> str:
    """`2 to update, 5 to delete, 3 to mark, 370 unchanged`: marks and unmarks only when there are some."""
    graced = "".join(f", {counts[k]:,} to {k}" for k in ("mark", "unmark") if counts.get(k))
    return f"{counts['update']:,} to update, {counts['delete']:,} to delete{graced}, {counts['unchanged']:,} unchanged"


def summary_line(plan: Plan) -> str:
    return f"Plan: {counts_text(plan.totals())}."


def source_line(plan: Plan, *, shared: bool = False) -> str:
    """What the plan was made against. A view meant to be shared (a PR comment, the HTML) names no local path."""
    if plan.state:
        path = str(plan.state.get("path"))
        return (f"Planned against the RECORDED STATE {PurePath(path).name if shared else path} "
                f"(recorded {plan.state.get('recorded_at') or 'at an unknown time'}, {plan.state.get('age') or 'age unknown'}), not the live API.")
    if plan.api_url.startswith("sandbox:"):
        return "Planned against the embedded sandbox." if shared else f"Planned against the embedded sandbox (database {plan.api_url[len('sandbox:'):]})."
    return f"Planned against {plan.api_url}."


NOTABLE_SHOWN = 50  # in the text views; the markdown comment shows fewer (its budget), the plan file has them all


def notable_lines(plan: Plan, escape: Callable[[str], str], limit: int = NOTABLE_SHOWN, code: Callable[[str], str] = str) -> list[str]:
    """The "notable deletes" block every view shows first: each delete a reviewer must not miss, and why."""
    notable = plan.notable
    if not notable:
        return []
    lines = [f"Notable deletes ({len(notable):,}): tagged, noted, among their project's best, or cited by a kept backtest's note."]
    for project, entry in notable[:limit]:
        lines.append(f"{code(entry.id)} {escape(_value(entry.name))} in {escape(project.title)}: {escape('; '.join(entry.notable))}")
    if len(notable) > limit:
        lines.append(f"… and {len(notable) - limit:,} more: every one is marked `notable` in the plan file, and `plan` lists them.")
    return lines


def marked_lines(plan: Plan, escape: Callable[[str], str], limit: int = NOTABLE_SHOWN, code: Callable[[str], str] = str) -> list[str]:
    """What grace has marked (now, or by an earlier apply) and the day each goes (docs/design.md, "Grace")."""
    marked = [(p, e) for p in plan.projects for e in p.entries if e.kind in ("mark", "marked")]
    if not marked:
        return []
    lines = [f"Marked for deletion ({len(marked):,}): each goes on or after its day, unless someone tags it `protected` in QuantConnect "
             "or the manifest comes to keep it."]
    for project, entry in sorted(marked, key=lambda pe: str(pe[1].grace_day))[:limit]:
        when = "marked by this apply" if entry.kind == "mark" else "marked earlier"
        lines.append(f"{code(entry.id)} {escape(_value(entry.name))} in {escape(project.title)}: {when}, deleted on or after {entry.grace_day}")
    if len(marked) > limit:
        lines.append(f"… and {len(marked) - limit:,} more in the plan file.")
    return lines


def _notable_block(plan: Plan, paint: Callable[[str, str], str], limit: int = NOTABLE_SHOWN) -> list[str]:
    lines = notable_lines(plan, terminal_safe, limit)
    if not lines:
        return []
    return [paint(lines[0], "warn"), *(paint(f"  ! {line}", "warn") for line in lines[1:]), ""]


def render_text(plan: Plan, *, color: bool = False, show_kept: bool = False) -> str:
    paint = _painter(color)
    lines = [terminal_safe(source_line(plan)), f"Reference time {terminal_safe(plan.reference_time)}.", ""]
    lines += [paint(f"! warning: {terminal_safe(w)}", "warn") for w in plan.general_warnings] + ([""] if plan.general_warnings else [])
    lines += _notable_block(plan, paint)
    minutes = minutes_formatter()
    if not plan.projects:
        lines.append("The manifest selects no project.")
    for project in plan.projects:
        summary = project.summary()
        waiting = project.waiting
        lines.append(
            paint(
                f"Project {terminal_safe(project.title)}: {counts_text(summary)}"
                + (f" ({len(waiting):,} of them marked earlier, deleted on or after {min(str(e.grace_day) for e in waiting)})" if waiting else ""),
                "bold",
            )
        )
        actions = project.actions
        shown = project.entries if show_kept else [*actions, *waiting]
        rows = paint if color else None
        lines.extend([_text_entry(entry, rows, minutes) for entry in shown])
        for warning in project.warnings:
            lines.append(paint(f"  ! warning: {terminal_safe(warning)}", "warn"))
        for error in project.errors:
            lines.append(paint(f"  ! error: {terminal_safe(error)}", "error"))
        if not actions and not project.warnings and not project.errors:
            lines.append("  No changes.")
        lines.append("")
    lines.append(paint(summary_line(plan), "bold"))
    calls = calls_line(plan)
    if calls:
        lines.append(calls)
    if plan.errors:
        lines.append(paint(f"The plan has {len(plan.errors)} error(s); apply will refuse it.", "error"))
    return "\n".join(lines)


def calls_line(plan: Plan) -> str | None:
    """What the deletes will cost in API calls, per archive mode (docs/design.md, "Records")."""
    deletes = plan.totals()["delete"]
    if not deletes:
        return None
    projects = sum(1 for project in plan.projects if project.count(Action.DELETE))
    return (
        f"Deleting {deletes:,} backtests takes {2 * deletes:,} calls with --archive summary or --no-archive (a read and a delete each), "
        f"plus about one /backtests/list a second per project while it deletes ({projects:,} project{'s' if projects != 1 else ''}; "
        "the last check's tags); with --archive full, the default, also a second read, one call per chart and one per 99 orders "
        "and per 99 insights of each."
    )


def render_summary(plan: Plan, *, color: bool = False, saved: str | None = None) -> str:
    """What apply shows before it acts: per project the counts by action and reason, warnings and errors; not every row
    (a 20,000-backtest plan would be 37,000 lines). `plan` shows them all, and so does `apply --show-plan`."""
    paint = _painter(color)
    lines = [terminal_safe(source_line(plan)), f"Reference time {terminal_safe(plan.reference_time)}.", ""]
    lines += [paint(f"! warning: {terminal_safe(w)}", "warn") for w in plan.general_warnings] + ([""] if plan.general_warnings else [])
    lines += _notable_block(plan, paint, limit=10)  # apply's prompt stays short; `plan` and `show` list them all
    for project in plan.projects:
        summary = project.summary()
        reasons = reasons_text(project, terminal_safe)
        lines.append(paint(f"Project {terminal_safe(project.title)}: {counts_text(summary)}" + (f" ({reasons})" if reasons else ""), "bold"))
        lines += [paint(f"  ! warning: {terminal_safe(w)}", "warn") for w in project.warnings]
        lines += [paint(f"  ! error: {terminal_safe(e)}", "error") for e in project.errors]
    lines += ["", paint(summary_line(plan), "bold")]
    calls = calls_line(plan)
    if calls:
        lines.append(calls)
    if plan.has_changes:
        where = f"`reconciler show {shlex.quote(saved)}`" if saved else "`reconciler plan` with the same manifest, `--now` and `--project`"
        lines.append(f"Every row with its reasons: {where}, or `apply --show-plan`.")
    if plan.errors:
        lines.append(paint(f"The plan has {len(plan.errors)} error(s); apply will refuse it.", "error"))
    return "\n".join(lines)


@lru_cache(maxsize=4096)  # a large plan repeats a few reasons (`prune`) and statuses 90,000 times
def _because(reasons: tuple[Reason, ...]) -> str:
    return "        because " + terminal_safe("; ".join(map(str, reasons)))


_safe_status = lru_cache(maxsize=256)(terminal_safe)
_LEADS = {kind: f"  {symbol} {kind:<6} " for kind, symbol in SYMBOLS.items()}  # `  - delete `: a format spec is parsed at each use


_HOURS_MINUTES = tuple(f"{hour:02d}:{minute:02d}" for hour in range(24) for minute in range(60))


def minutes_formatter() -> Callable[[datetime], str]:
    """`YYYY-MM-DD HH:MM` of a datetime, each day's text made once: isoformat() of an aware datetime asks its tzinfo
    every time, five times slower (96,000 rows)."""
    days: dict[int, str] = {}

    def minutes(moment: datetime) -> str:
        ordinal = moment.toordinal()
        day = days.get(ordinal)
        if day is None:
            day = days[ordinal] = date.fromordinal(ordinal).isoformat()
        return f"{day} {_HOURS_MINUTES[moment.hour * 60 + moment.minute]}"

    return minutes


def _text_entry(entry: Entry, paint: Callable[[str, str], str] | None, minutes: Callable[[datetime], str]) -> str:
    """One row, two lines or more; paint None: no colour (the usual case). 96,000 rows are a quarter of a large plan's
    time: what repeats (the lead, the day, the status, the reasons) is made once."""
    kind = entry.kind
    head = f"{_LEADS[kind]}{entry.id}  {_value(entry.name)}  created {minutes(entry.created)}, {_safe_status(entry.status)}"
    if entry.tags:
        head += f", tags {_value(list(entry.tags))}"
    because = _because(entry.reasons)
    if paint is None:
        if not entry.changes:
            return f"{head}\n{because}"
        return "\n".join((head, *_change_lines(entry), because))
    style = _STYLES[kind]
    return "\n".join((paint(head, style), *(paint(line, style) for line in _change_lines(entry)), paint(because, "dim" if kind == "keep" else style)))


def _change_lines(entry: Entry) -> list[str]:
    return [f"        {change.field}: {_value(change.before)} -> {_value(change.after)}" for change in entry.changes]


def render_json(plan: Plan, *, color: bool = False, show_kept: bool = False) -> str:
    return plan.to_json() + "\n"


def reasons_of(entry: Entry) -> str:
    """Every reason of one row with its rule's text: `keep[0] (daily) 3/7; keep[1] (within 14d)`."""
    return "; ".join(map(str, entry.reasons))


def changes_of(entry: Entry, between: str = "; ") -> str:
    """An update's before and after: `name: "a" -> "b"; tags: [] -> [paper]`."""
    return between.join(f"{c.field}: {_value(c.before)} -> {_value(c.after)}" for c in entry.changes)


def reason_key(entry: Entry) -> str:
    """The rule a row comes from, for counts per reason: `prune`, `delete[0] (status failed)`, `label[1] (... -> name)`."""
    return entry.reasons[0].key if entry.reasons else "?"


def reason_counts(project: ProjectPlan, entries: Iterable[Entry] | None = None) -> list[tuple[str, str, int]]:
    """(row kind, rule, count) for the project's actions (or the entries given), largest first."""
    counts: dict[tuple[str, str], int] = {}
    for entry in project.actions if entries is None else entries:
        key = (entry.kind, reason_key(entry))
        counts[key] = counts.get(key, 0) + 1
    return sorted(((kind, key, n) for (kind, key), n in counts.items()), key=lambda item: (-item[2], item[0], item[1]))


def reasons_text(project: ProjectPlan, escape: Callable[[str], str], between: str = ", ") -> str:
    """Counts per reason grouped by action, largest first: `delete: prune 1,030, delete[0] (status failed) 31; update: declared 2`."""
    groups: dict[str, list[str]] = {}
    for kind, reason, count in reason_counts(project):
        groups.setdefault(kind, []).append(f"{escape(reason)} {count:,}")
    return "; ".join(f"{action}: {between.join(items)}" for action, items in groups.items())


def render_markdown(plan: Plan, *, color: bool = False, show_kept: bool = False, budget: int = MARKDOWN_BUDGET) -> str:
    """One pull-request comment that always fits GitHub's 65,536 characters, whatever the account's size.

    Every project gets its summary line with counts per reason while they fit (the
    projects with the most changes first, then one line counting the rest); the rows
    left in the budget are shared fairly across projects, round-robin, updates first.
    The full plan is the saved plan file.
    """
    md = markdown_safe
    totals = plan.totals()
    verdict = plan.verdict
    head = [
        *([f"**{verdict.head}:** {md(verdict.why)}", ""] if verdict else []),
        "### backtest-reconciler plan",
        "",
        f"**{summary_line(plan)}**",
        "",
        f"{md(source_line(plan, shared=True))} Reference time `{plan.reference_time}`, manifest `{plan.manifest_digest[:19]}`. "
        "The complete plan, every backtest with its reasons, is the saved plan file (`plan --out plan.json`; the CI recipes keep it "
        "as the `reconciler-plan` artifact): `reconciler show plan.json` renders it.",
        "",
    ]
    problems = [f"> **Error:** {md(error)}" for error in plan.errors] + [f"> **Warning:** {md(warning)}" for warning in plan.warnings]
    if len(problems) > 20:
        problems = problems[:20] + [f"> … and {len(problems) - 20:,} more errors and warnings in the full plan."]
    head += problems + ([""] if problems else [])
    for block in (
        notable_lines(plan, markdown_safe, limit=30, code=lambda text: f"`{text}`"),
        marked_lines(plan, markdown_safe, limit=30, code=lambda text: f"`{text}`"),
    ):
        if block:
            head += [f"**{block[0]}**", "", *(f"- {line}" for line in block[1:]), ""]
    used = _size(head)
    ranked = sorted(plan.projects, key=lambda p: -len(p.actions))
    table = ["| Project | Update | Delete | Unchanged | Changes by reason |", "| --- | ---: | ---: | ---: | --- |"]
    total_row = f"| **Total** | **{totals['update']:,}** | **{totals['delete']:,}** | **{totals['unchanged']:,}** | |"
    summary_budget = max(0, budget * 7 // 10 - used - _size(table) - len(total_row) - 200)
    rows, omitted = [], []
    for project in ranked:
        row = _summary_row(project)
        if summary_budget - len(row) - 1 < 0:
            omitted.append(project)
            continue
        summary_budget -= len(row) + 1
        rows.append(row)
    if omitted:
        rows.append(
            f"| … {len(omitted):,} more projects | {sum(p.count(Action.UPDATE) for p in omitted):,} | {sum(p.count(Action.DELETE) for p in omitted):,} | "
            f"{sum(p.count(Action.KEEP) for p in omitted):,} | listed in the full plan |"
        )
    lines = head + table + rows + [total_row]
    chart = _mermaid(plan)
    if chart and _size(lines) + _size(chart) < budget * 3 // 4:
        lines += ["", *chart]
    lines += _detail_tables([p for p in ranked if p.actions and p not in omitted], budget - _size(lines) - 100)
    return "\n".join(lines) + "\n"


def _size(lines: list[str]) -> int:
    return sum(len(line) + 1 for line in lines)


def _summary_row(project: ProjectPlan) -> str:
    summary = project.summary()
    reasons = reasons_text(project, markdown_safe, " · ") or "no changes"
    return f"| {markdown_safe(project.title)} | {summary['update']:,} | {summary['delete']:,} | {summary['unchanged']:,} | {reasons} |"


_DETAIL_HEAD = ["| | Backtest | Name | Created | Status | Tags | Change and reason |", "| --- | --- | --- | --- | --- | --- | --- |"]


def _detail_row(entry: Entry) -> str:
    changes = "; ".join(f"{c.field}: {markdown_safe(_value(c.before))} → {markdown_safe(_value(c.after))}" for c in entry.changes)
    reason = markdown_safe(reasons_of(entry))
    detail = f"{changes}<br>{reason}" if changes else reason
    tags = markdown_safe(", ".join(entry.tags)) if entry.tags else ""
    return (
        f"| `{SYMBOLS[entry.kind]}` {entry.kind} | `{entry.id}` | {markdown_safe(entry.name)} | {entry.created:%Y-%m-%d %H:%M} | "
        f"{markdown_safe(entry.status)} | {tags} | {detail} |"
    )


def _detail_tables(projects: list[ProjectPlan], budget: int) -> list[str]:
    """Rows shared fairly: one row per project per round (most changes first; updates first within a project)
    while the budget lasts. A project's table is opened (and paid for) with its first row."""
    frames = {
        id(p): [
            f"<details><summary>{markdown_safe(p.title)}: {p.count(Action.UPDATE):,} to update, {p.count(Action.DELETE):,} to delete</summary>",
            "",
            *_DETAIL_HEAD,
        ]
        for p in projects
    }
    pending = {id(p): iter(p.actions) for p in projects}
    shown: dict[int, list[str]] = {id(p): [] for p in projects}
    while pending and budget > 0:
        for key in list(pending):
            entry = next(pending[key], None)
            if entry is None:
                del pending[key]
                continue
            row = _detail_row(entry)
            cost = len(row) + 1 + (0 if shown[key] else _size(frames[key]) + 60)  # 60: the closing lines and a "more" row
            if cost > budget:
                del pending[key]  # this project is full; the others may still take a row
                continue
            budget -= cost
            shown[key].append(row)
    lines: list[str] = []
    for project in projects:
        rows = shown[id(project)]
        if not rows:
            continue
        more = len(project.actions) - len(rows)
        lines += ["", *frames[id(project)], *rows]
        if more:
            lines.append(f"| | … | {more:,} more in the full plan | | | | |")
        lines += ["", "</details>"]
    return lines


CHART_MONTHS = 12  # bars in the comment's chart; older months are summed into the first bar
CHART_COLORS = ("#c62828", "#2e7d32")  # the first series (every backtest) red, the second (kept) green, drawn over it


def chart_months(plan: Plan) -> list[tuple[str, int, int]]:
    """(label, backtests, kept) per bar: the last months that have backtests, older ones summed into the first bar,
    so the bars add up to the plan's counts."""
    months: dict[str, list[int]] = {}
    for project in plan.projects:
        for entry in project.entries:
            counts = months.setdefault(entry.created.strftime("%Y-%m"), [0, 0])
            counts[0] += 1
            counts[1] += entry.action != Action.DELETE
    ordered = sorted(months)
    if len(ordered) <= CHART_MONTHS:
        return [(m, *months[m]) for m in ordered]  # type: ignore[misc]
    older, shown = ordered[: -CHART_MONTHS + 1], ordered[-CHART_MONTHS + 1 :]
    first = (f"≤{older[-1]}", sum(months[m][0] for m in older), sum(months[m][1] for m in older))
    return [first, *((m, *months[m]) for m in shown)]  # type: ignore[misc]


def _mermaid(plan: Plan) -> list[str]:
    """Backtests per month of creation as a chart GitHub draws (Mermaid 11's xychart): a bar of every backtest with the
    kept ones drawn over it, so the red that shows above the green is what gets deleted (a stacked bar)."""
    bars = chart_months(plan)
    if not bars:
        return []
    top = max(total for _, total, _ in bars)
    palette = ", ".join(CHART_COLORS)
    return [
        "```mermaid",
        f'%%{{init: {{"themeVariables": {{"xyChart": {{"plotColorPalette": "{palette}"}}}}}}}}%%',
        "xychart-beta",
        '    title "Backtests by month created: kept (green), deleted (red)"',
        f"    x-axis [{', '.join(chr(34) + label + chr(34) for label, _, _ in bars)}]",
        f'    y-axis "backtests" 0 --> {max(top, 1)}',
        f"    bar [{', '.join(str(total) for _, total, _ in bars)}]",
        f"    bar [{', '.join(str(kept) for _, _, kept in bars)}]",
        "```",
        "",
        f"The chart shows every backtest: {_months_shown(bars, plan)}; {plan.totals()['delete']:,} deleted (red, above) and "
        f"{sum(kept for _, _, kept in bars):,} kept or updated (green).",
    ]


def _months_shown(bars: list[tuple[str, int, int]], plan: Plan) -> str:
    first = plan_first_month(plan)
    if bars[0][0].startswith("≤"):
        return f"one bar per month with backtests from {bars[1][0]} to {bars[-1][0]}, and the first bar sums {first} to {bars[0][0][1:]}"
    return f"one bar per month with backtests from {bars[0][0]} to {bars[-1][0]}" if len(bars) > 1 else f"one bar for {bars[0][0]}"


def plan_first_month(plan: Plan) -> str:
    return min(entry.created for project in plan.projects for entry in project.entries).strftime("%Y-%m")
