"""`reconciler import --project ...`: a manifest that declares today's backtests (or those the filters pick), so plan
shows no changes.

Each declaration carries a comment (created, status, the main statistics, the parameters and the optimization) so a
user can decide which ones to drop before turning retention on. The backtests the filters leave out are not declared:
with prune off they stay, as `unmanaged`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Callable, Sequence

from reconciler import exit_codes
from reconciler.commands.runtime import Runtime
from reconciler.defaults import PARALLELISM
from reconciler.errors import ConfigError
from reconciler.live import Fetch, fetch_backtests
from reconciler.models import KNOWN_STATUSES, Backtest, tag_keys
from reconciler.plan.untrusted import terminal_safe
from reconciler.projects import pick_projects
from reconciler.timeutil import format_iso, parse_datetime, utcnow

SCHEMA_COMMENT = (
    "# yaml-language-server: $schema=./manifest.schema.json\n# (editor help: write the schema beside this file with `reconciler schema > manifest.schema.json`)"
)
#: Statistics worth a glance when deciding what to keep: (key, label, as a percentage).
_SHOWN = (("sharpeRatio", "Sharpe", False), ("netProfit", "net profit", True), ("drawdown", "drawdown", True), ("trades", "trades", False))


@dataclass(frozen=True)
class ImportFilters:
    """Which backtests to declare: all of them, or those created since a time, with a status, a tag or in an optimization."""

    since: str | None = None
    statuses: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    optimization: str | None = None

    def described(self) -> str:
        parts = [f"--since {self.since}"] if self.since else []
        parts += [f"--status {s}" for s in self.statuses] + [f"--tag {t}" for t in self.tags]
        parts += [f"--optimization {self.optimization}"] if self.optimization else []
        return " ".join(parts)

    def picker(self) -> Callable[[Backtest], bool]:
        since = None
        if self.since is not None:
            try:
                since = parse_datetime(self.since)
            except ValueError:
                raise ConfigError(f"--since {self.since!r} is not a date or time; use ISO 8601 such as 2026-11-01 or 2026-11-01T09:00:00Z") from None
        unknown = [s for s in self.statuses if s not in KNOWN_STATUSES]
        if unknown:
            raise ConfigError(f"--status {unknown[0]!r} is not a status; use {', '.join(KNOWN_STATUSES)}")
        wanted_tags = tag_keys(self.tags) if self.tags else frozenset()

        def pick(b: Backtest, since: datetime | None = since) -> bool:
            return ((since is None or b.created >= since) and (not self.statuses or b.status in self.statuses)
                    and (not wanted_tags or bool(b.tag_set & wanted_tags)) and (self.optimization is None or b.optimization_id == self.optimization))

        return pick


def run(rt: Runtime, wanted: Sequence[str], with_notes: bool = False, parallelism: int = PARALLELISM, filters: ImportFilters = ImportFilters()) -> int:
    pick = filters.picker()  # bad filters fail before any call
    client = rt.client(parallelism)
    chosen = pick_projects(client.list_projects(), wanted)
    fetched = fetch_backtests(
        client, [Fetch(p.id, statistics=True, read_note=lambda b: with_notes and pick(b)) for p in chosen], parallelism=parallelism,
        progress=rt.progress("importing")
    )
    described = filters.described()
    lines = [
        SCHEMA_COMMENT,
        f"# Imported by `reconciler import` at {format_iso(utcnow())} from {client.api_url}.",
        f"# Declares the backtests that {terminal_safe(described)} picks (declared backtests are never deleted); the others are not declared, "
        "and with prune off they stay (unmanaged)." if described else
        "# Declares every backtest as it is today (declared backtests are never deleted); prune is off.",
        "# Drop the declarations you do not need, add protect, delete and keep rules, and read the plan before turning prune on.",
        "version: 1",
        "projects:",
    ]
    picked_total = 0
    for project in chosen:
        everything = fetched[project.id]
        backtests = sorted((b for b in everything if pick(b)), key=lambda b: (b.created, b.id))
        picked_total += len(backtests)
        picked = f"; {len(backtests):,} of {len(everything):,} backtests picked" if described else ""
        lines += [f"  - id: {project.id}  # {terminal_safe(project.name)}{picked}", "    prune: false", "    backtests:"]
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
    rt.err(f"Declared {picked_total:,} backtest{'s' if picked_total != 1 else ''} of {len(chosen)} project{'s' if len(chosen) != 1 else ''}"
           + (f" ({described})" if described else "") + ".")
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
    if b.parameters:
        parts.append("parameters " + " ".join(f"{terminal_safe(str(k))}={terminal_safe(_parameter(v))}" for k, v in sorted(b.parameters.items())))
    if b.optimization_id:
        parts.append(f"optimization {terminal_safe(b.optimization_id)}")
    return ", ".join(parts).replace("\n", " ").replace("\r", " ")


def _parameter(value: object) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else f"{value:g}" if isinstance(value, float) else str(value)
