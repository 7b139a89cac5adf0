"""`reconciler import --project ...`: a manifest that declares today's backtests, so plan shows no changes.

Each declaration carries a comment (created, status, the main statistics) so a user
can decide which ones to drop before turning retention on.
"""

from __future__ import annotations

import json
from typing import Sequence

from reconciler import exit_codes
from reconciler.commands.runtime import Runtime
from reconciler.defaults import PARALLELISM
from reconciler.live import Fetch, fetch_backtests
from reconciler.models import Backtest
from reconciler.plan.untrusted import terminal_safe
from reconciler.projects import pick_projects
from reconciler.timeutil import format_iso, utcnow

SCHEMA_COMMENT = (
    "# yaml-language-server: $schema=./manifest.schema.json\n# (editor help: write the schema beside this file with `reconciler schema > manifest.schema.json`)"
)
#: Statistics worth a glance when deciding what to keep: (key, label, as a percentage).
_SHOWN = (("sharpeRatio", "Sharpe", False), ("netProfit", "net profit", True), ("drawdown", "drawdown", True), ("trades", "trades", False))


def run(rt: Runtime, wanted: Sequence[str], with_notes: bool = False, parallelism: int = PARALLELISM) -> int:
    client = rt.client(parallelism)
    chosen = pick_projects(client.list_projects(), wanted)
    fetched = fetch_backtests(
        client, [Fetch(p.id, statistics=True, read_note=lambda b: with_notes) for p in chosen], parallelism=parallelism, progress=rt.progress("importing")
    )
    lines = [
        SCHEMA_COMMENT,
        f"# Imported by `reconciler import` at {format_iso(utcnow())} from {client.api_url}.",
        "# Declares every backtest as it is today (declared backtests are never deleted); prune is off.",
        "# Drop the declarations you do not need, add protect, delete and keep rules, and read the plan before turning prune on.",
        "version: 1",
        "projects:",
    ]
    for project in chosen:
        lines += [f"  - id: {project.id}  # {terminal_safe(project.name)}", "    prune: false", "    backtests:"]
        backtests = sorted(fetched[project.id], key=lambda b: (b.created, b.id))
        if not backtests:
            lines[-1] = "    backtests: []"
        for b in backtests:
            lines.append(f"      - id: {b.id}  # {_describe(b)}")
            if b.name:
                lines.append(f"        name: {_scalar(b.name)}")
            if with_notes:
                lines.append(f"        note: {_scalar(b.note or '')}")
            lines.append(f"        tags: [{', '.join(_scalar(tag) for tag in dict.fromkeys(b.tags))}]")
    rt.stdout.write("\n".join(lines) + "\n")
    return exit_codes.OK


def _scalar(text: str) -> str:
    """A YAML double-quoted scalar (JSON's string syntax is a subset of it): safe for any name or tag. Invisible and
    bidirectional characters are written as `\\uXXXX` escapes, which YAML reads back as the same characters."""
    return terminal_safe(json.dumps(text, ensure_ascii=False))


def _describe(b: Backtest) -> str:
    parts = [f"created {b.created:%Y-%m-%d %H:%M}", terminal_safe(b.raw_status or b.status)]
    for key, label, percent in _SHOWN:
        if key in b.statistics:
            value = b.statistics[key]
            parts.append(f"{label} {value:.1%}" if percent else f"{label} {value:,.2f}" if key != "trades" else f"{label} {value:,.0f}")
    if b.optimization_id:
        parts.append("optimization")
    return ", ".join(parts).replace("\n", " ")
