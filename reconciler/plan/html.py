"""A picture of a plan for reviewers: one self-contained HTML document (no script, no network resource).

First the notable deletes; then per project: a timeline of every backtest (created
date across; kept, updated, in progress and deleted in lanes of their own; the rule
that decided, and an update's before and after, on hover), a scatter of each
statistic the project's `best` rules rank by, the counts per reason, and a table of
every row that radio buttons filter by action and by reason (CSS only: rows carry
the classes `row a-ACTION r-N`). Marks are SVG elements with the classes
`mark keep|update|progress|delete`, so a browser (or a test) can count them against
the plan. No local path, and the same picture in every time zone.
(docs/design.md, "Reviewing a plan")
"""

from __future__ import annotations

import html
import zlib
from datetime import datetime, timezone
from typing import Iterable

from reconciler.models import Action
from reconciler.plan.model import Entry, Plan, ProjectPlan
from reconciler.plan.render import changes_of, counts_text, notable_lines, reason_counts, reason_key, reasons_of, source_line, summary_line
from reconciler.plan.untrusted import terminal_safe

WIDTH, LANE, PAD = 1000, 34, 110
KINDS = (("keep", "kept"), ("update", "updated"), ("progress", "in progress"), ("mark", "marked (grace)"), ("delete", "deleted"))
COLORS = {"keep": "#2e7d32", "update": "#f9a825", "progress": "#1565c0", "mark": "#8d6e63", "delete": "#c62828"}
_STYLE = """
body{font:14px/1.4 system-ui,-apple-system,Segoe UI,sans-serif;margin:24px;color:#222;background:#fff}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 6px}.meta{color:#555;margin:0 0 12px}
table.reasons{border-collapse:collapse;margin:6px 0 10px}table.reasons td,table.reasons th{border:1px solid #ddd;padding:2px 8px;text-align:left}
td.n{text-align:right}table.rows{border-collapse:collapse;margin:6px 0 10px;font-size:12px}
table.rows td,table.rows th{border-bottom:1px solid #eee;padding:1px 6px;text-align:left;vertical-align:top}
.filters{margin:8px 0 2px}.filters label{margin-right:10px;cursor:pointer}.notable{border-left:4px solid #c62828;padding:2px 10px;margin:10px 0}
svg{display:block;border:1px solid #eee;margin:4px 0;background:#fcfcfc}
.lane{font-size:11px;fill:#555}.axis{stroke:#bbb}.tick{font-size:10px;fill:#777}
.legend span{display:inline-block;margin-right:14px}.legend i{display:inline-block;width:10px;height:10px;border-radius:5px;margin-right:4px}
""" + "".join(f".{kind}{{fill:{color}}}.legend i.{kind}{{background:{color}}}" for kind, color in COLORS.items())


def kind_of(entry: Entry) -> str:
    kind = entry.kind
    if kind != "keep":
        return {"marked": "mark", "unmark": "update"}.get(kind, kind)
    return "progress" if entry.reasons and entry.reasons[0].rule == "in-progress" else "keep"


def render_html(plan: Plan, *, color: bool = False, show_kept: bool = False) -> str:
    e = _escape
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>backtest-reconciler plan</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>{e(summary_line(plan))}</h1>",
        f'<p class="meta">{e(source_line(plan, shared=True))} Reference time {e(plan.reference_time)}; manifest {e(plan.manifest_digest[:19])}.</p>',
        '<p class="legend">'
        + "".join(f'<span><i class="{kind}"></i>{label}</span>' for kind, label in KINDS)
        + "<span>Hover over a mark for the backtest and the rule that decided.</span></p>",
    ]
    for problem in plan.errors:
        parts.append(f'<p class="error"><b>Error:</b> {e(problem)}</p>')
    for problem in plan.warnings:
        parts.append(f'<p class="warning"><b>Warning:</b> {e(problem)}</p>')
    notable = notable_lines(plan, _escape, limit=len(plan.notable))
    if notable:
        parts.append(f'<div class="notable"><p><b>{notable[0]}</b></p><ul>' + "".join(f"<li>{line}</li>" for line in notable[1:]) + "</ul></div>")
    for project in plan.projects:
        parts.extend(_project(project))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _escape(text: str) -> str:
    return html.escape(terminal_safe(text), quote=True)


def _project(project: ProjectPlan) -> list[str]:
    e = _escape
    summary = project.summary()
    parts = [f'<section class="project" data-project="{project.project_id}">', f"<h2>{e(project.title)}</h2>", f'<p class="meta">{e(counts_text(summary))}</p>']
    rows = reason_counts(project) + reason_counts(project, (entry for entry in project.entries if entry.action == Action.KEEP))
    parts.append(
        '<table class="reasons"><tr><th>Action</th><th>Reason</th><th>Backtests</th></tr>'
        + "".join(f'<tr><td>{e(a)}</td><td>{e(r)}</td><td class="n">{n:,}</td></tr>' for a, r, n in rows)
        + "</table>"
    )
    if project.entries:
        parts.append(_timeline(project.entries))
        for statistic in sorted({key for entry in project.entries for key in (entry.ranked or {})}):
            parts.append(_scatter(project.entries, statistic))
        parts.append(_table(project))
    return parts + ["</section>"]


def _table(project: ProjectPlan) -> str:
    """Every row of the project, with radio buttons that filter by action and by reason (CSS only, no script)."""
    e, pid = _escape, project.project_id
    reasons: dict[str, int] = {}
    for entry in project.entries:
        reasons.setdefault(reason_key(entry), len(reasons))
    actions = list(dict.fromkeys(entry.kind for entry in project.entries))
    rules = [f"#a{pid}-{kind}:checked~table tr.row:not(.a-{kind})" for kind in actions]
    rules += [f"#r{pid}-{number}:checked~table tr.row:not(.r-{number})" for number in reasons.values()]
    # Closed until opened: a browser lays out no row of a closed <details>, so 100,000 rows cost nothing until asked for.
    parts = [
        f'<details class="rows"><summary>Every row ({len(project.entries):,}), filtered by action and reason</summary>',
        f"<style>{','.join(rules)}{{display:none}}</style>" if rules else "",
        f'<div class="filters" data-project="{pid}">',
        f'<input type="radio" name="a{pid}" id="a{pid}-all" checked><label for="a{pid}-all">every action</label>',
    ]
    parts += [f'<input type="radio" name="a{pid}" id="a{pid}-{kind}"><label for="a{pid}-{kind}">{kind}</label>' for kind in actions]
    parts.append(f'<br><input type="radio" name="r{pid}" id="r{pid}-all" checked><label for="r{pid}-all">every reason</label>')
    parts += [f'<input type="radio" name="r{pid}" id="r{pid}-{n}"><label for="r{pid}-{n}">{e(key)}</label>' for key, n in reasons.items()]
    parts.append(
        '<table class="rows"><tr><th>Action</th><th>Backtest</th><th>Name</th><th>Created (UTC)</th><th>Status</th><th>Tags</th>'
        "<th>Before and after</th><th>Reason</th></tr>"
    )
    for entry in project.entries:
        # closing </td> and </tr> are optional in HTML: a third less to read for 100,000 rows
        parts.append(
            f'<tr class="row a-{entry.kind} r-{reasons[reason_key(entry)]}"><td>{entry.kind}<td>{entry.id}'
            f"<td>{e(entry.name)}<td>{entry.created:%Y-%m-%d %H:%M}<td>{e(entry.status)}<td>{e(', '.join(entry.tags))}"
            f"<td>{e(changes_of(entry, '; '))}<td>{e(reasons_of(entry))}"
        )
    parts.append("</table></div></details>")
    return "".join(parts)


def _x(created: datetime, start: float, span: float) -> float:
    return PAD + (created.timestamp() - start) / span * (WIDTH - PAD - 20)


def _ticks(start: float, end: float, height: int) -> Iterable[str]:
    """Month ticks in UTC (the same picture in every time zone), from any year the API can send (1 to 9999)."""
    first, last = _utc(start), _utc(end)
    months = (last.year - first.year) * 12 + last.month - first.month
    step = max(1, months // 8 + 1)
    year, month = first.year, first.month
    labelled = False
    for _ in range(0, months + 1, step):
        if year > 9999:
            return
        at = datetime(year, month, 1, tzinfo=timezone.utc).timestamp()
        if start <= at <= end:
            x = PAD + (at - start) / max(end - start, 1) * (WIDTH - PAD - 20)
            if not labelled and x - PAD > 70:  # the first period is labelled too: the start's own date at the left edge
                yield f'<text class="tick start" x="{PAD:.1f}" y="{height - 4}">{first:%Y-%m-%d}</text>'
            labelled = True
            yield (f'<line class="axis" x1="{x:.1f}" y1="4" x2="{x:.1f}" y2="{height - 16}"/>'
                   f'<text class="tick" x="{x:.1f}" y="{height - 4}">{year:04d}-{month:02d}</text>')
        month += step
        year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    if not labelled:
        yield f'<text class="tick start" x="{PAD:.1f}" y="{height - 4}">{first:%Y-%m-%d}</text>'


def _utc(timestamp: float) -> datetime:
    try:
        return datetime.fromtimestamp(timestamp, timezone.utc)
    except (OverflowError, OSError, ValueError):
        return datetime.max.replace(tzinfo=timezone.utc) if timestamp > 0 else datetime.min.replace(tzinfo=timezone.utc)


def _bounds(entries: list[Entry]) -> tuple[float, float]:
    times = [entry.created.timestamp() for entry in entries]
    start, end = min(times), max(times)
    return start, max(end - start, 3600.0)


def _title(entry: Entry) -> str:
    changes = f" ({changes_of(entry, '; ')})" if entry.changes else ""
    return _escape(f"{entry.id} {entry.name} ({entry.created:%Y-%m-%d %H:%M} UTC, {entry.status}): {entry.kind}{changes} because {reasons_of(entry)}")


def _timeline(entries: list[Entry]) -> str:
    start, span = _bounds(entries)
    height = LANE * len(KINDS) + 24
    lanes = {kind: index for index, (kind, _) in enumerate(KINDS)}
    parts = [f'<svg class="timeline" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" role="img" aria-label="backtests by creation date">']
    for kind, label in KINDS:
        parts.append(f'<text class="lane" x="6" y="{lanes[kind] * LANE + 21}">{label}</text>')
    parts.extend(_ticks(start, start + span, height))
    for entry in entries:
        kind = kind_of(entry)
        jitter = zlib.crc32(entry.id.encode()) % (LANE - 12)
        parts.append(
            f'<circle class="mark {kind}" cx="{_x(entry.created, start, span):.1f}" cy="{lanes[kind] * LANE + 6 + jitter}" r="3">'
            f"<title>{_title(entry)}</title></circle>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _scatter(entries: list[Entry], statistic: str) -> str:
    points = [(entry, (entry.ranked or {})[statistic]) for entry in entries if statistic in (entry.ranked or {})]
    start, span = _bounds(entries)
    low, high = min(v for _, v in points), max(v for _, v in points)
    height, spread = 160, max(high - low, 1e-9)
    parts = [
        f'<svg class="statistic" data-statistic="{_escape(statistic)}" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" role="img">',
        f'<text class="lane" x="6" y="16">{_escape(statistic)}</text><text class="tick" x="6" y="32">{high:.3g}</text>'
        f'<text class="tick" x="6" y="{height - 20}">{low:.3g}</text>',
    ]
    parts.extend(_ticks(start, start + span, height))
    for entry, value in points:
        y = 8 + (high - value) / spread * (height - 36)
        parts.append(
            f'<circle class="point {kind_of(entry)}" cx="{_x(entry.created, start, span):.1f}" cy="{y:.1f}" r="2.5">'
            f"<title>{_escape(statistic)} {value:.4g}: {_title(entry)}</title></circle>"
        )
    parts.append("</svg>")
    return "".join(parts)
