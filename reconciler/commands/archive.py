"""`reconciler archive ls|show|export`: read what apply archived, offline (docs/design.md, "Records").

A deleted backtest is gone from QuantConnect for good; its archive is the only copy.
`ls` reads the index apply keeps (`index.jsonl`) and adds any archive the index
missed (a crash between the file and its index line); `show` and `export` read one
archive file.
"""

from __future__ import annotations

import csv
import json
import math
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from reconciler import exit_codes
from reconciler.apply.records import ArchiveError, archive_entries, find, load_archive
from reconciler.commands.runtime import Runtime
from reconciler.plan.untrusted import terminal_safe

SPARKS = "▁▂▃▄▅▆▇█"
EQUITY = ("Strategy Equity", "Equity")


def ls(rt: Runtime, directory: Path, project: int | None = None, fmt: str = "text") -> int:
    rows = archive_entries(directory, project, warn=rt.err)
    if fmt == "json":
        rt.stdout.write(json.dumps({"archives": rows}, ensure_ascii=False) + "\n")
        return exit_codes.OK
    rt.out(f"{'PROJECT':>9}  {'BACKTEST':<32}  {'CREATED':<19}  {'SHARPE':>7}  {'NET PROFIT':>10}  {'ORDERS':>6}  {'SIZE':>8}  {'ARCHIVED':<20}  NAME")
    for row in rows:
        stats = row.get("statistics") or {}
        rt.out(
            f"{row['project']:>9}  {row['backtest']:<32}  {_text(row.get('created'))[:19]:<19}  {_text(stats.get('Sharpe Ratio'))[:7]:>7}  "
            f"{_text(stats.get('Net Profit'))[:10]:>10}  {row.get('orders', 0):>6,}  {_size(row.get('size', 0)):>8}  {_text(row.get('archived_at'))[:20]:<20}  "
            f"{_text(row.get('name'))}"
        )
    rt.out(f"{len(rows):,} archive{'s' if len(rows) != 1 else ''} under {directory}.")
    return exit_codes.OK


def _text(value: Any) -> str:
    """Whatever an archive holds, as one safe line (docs/design.md, "Reviewing a plan": untrusted text is neutralised)."""
    return terminal_safe("" if value is None else str(value))


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def show(rt: Runtime, directory: Path, backtest_id: str) -> int:
    path = find(directory, backtest_id)
    document = load_archive(path)
    backtest = document["backtest"]
    rt.out(f"{_text(backtest.get('name', ''))} ({backtest_id}), project {_text(path.parent.name)}")
    rt.out(
        f"  created {_text(backtest.get('created', '?'))}, status {_text(backtest.get('status', '?'))}, archived {_text(document.get('archived_at', '?'))}"
        f" by reconciler {_text(document.get('tool_version', '?'))}"
    )
    for key, value in _dict(backtest.get("statistics")).items():
        rt.out(f"  {_text(key):<28} {_text(value)}")
    values = [point[1] for point in _equity(document)]
    if values:
        rt.out(f"  equity  {sparkline(values)}  {values[0]:,.0f} -> {values[-1]:,.0f} over {len(values):,} points")
    if "orders" in document:
        rt.out(
            f"  {len(_list(document['orders'])):,} orders, {len(_list(document.get('insights'))):,} insights, charts: "
            f"{', '.join(_text(name) for name in _dict(document.get('charts')))}"
        )
    else:
        rt.out("  a summary archive (--archive summary): no charts, orders or insights were kept")
    return exit_codes.OK


def export(rt: Runtime, directory: Path, backtest_id: str, what: str) -> int:
    document = load_archive(find(directory, backtest_id))
    writer = csv.writer(rt.stdout, lineterminator="\n")
    if what == "equity":
        points = _equity(document)
        if not points:
            raise ArchiveError(f"the archive of {backtest_id} has no equity curve (a summary archive, or a backtest that never ran)")
        writer.writerow(["time", "equity"])
        for x, y in points:
            writer.writerow([_time(x), y])
        return exit_codes.OK
    if "orders" not in document:
        raise ArchiveError(f"the archive of {backtest_id} is a summary archive: it has no orders")
    if not isinstance(document["orders"], list):
        raise ArchiveError(f"the archive of {backtest_id} is damaged: its orders are not a list")
    columns = ["id", "time", "symbol", "type", "status", "direction", "quantity", "price", "value", "tag"]
    writer.writerow(columns)
    for order in document["orders"]:
        order = _dict(order)
        symbol = order.get("symbol")
        row = {**order, "symbol": symbol.get("value", "") if isinstance(symbol, dict) else symbol}
        writer.writerow([spreadsheet_safe(row.get(column, "")) for column in columns])
    return exit_codes.OK


_PLAIN_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: Any) -> Any:
    """A CSV cell a spreadsheet will not run (OWASP, CSV injection): text that starts with = + - @, a tab or a CR gets a
    leading apostrophe; numbers, and text that is a plain number, stay as they are."""
    if not isinstance(value, str) or not value.startswith(_FORMULA_START) or _PLAIN_NUMBER.fullmatch(value):
        return value
    return "'" + value


def _equity(document: dict[str, Any]) -> list[tuple[float, float]]:
    """The equity curve's points (LEAN writes candles `[t, o, h, l, c]`: the close), finite values only."""
    chart = _dict(_dict(document.get("charts")).get(EQUITY[0]))
    series = _dict(_dict(chart.get("series")).get(EQUITY[1]))
    points = []
    for point in _list(series.get("values")):
        if isinstance(point, list) and len(point) >= 2:
            points.append((point[0], point[-1]))
        elif isinstance(point, dict) and "x" in point and "y" in point:
            points.append((point["x"], point["y"]))
    return [(x, float(y)) for x, y in points if type(y) in (int, float) and math.isfinite(y) and abs(y) < 1e300]


def sparkline(values: list[float], width: int = 60) -> str:
    step = max(1, len(values) // width)
    sampled = values[::step][:width]
    low, high = min(sampled), max(sampled)
    span = (high - low) or 1.0
    return "".join(SPARKS[min(len(SPARKS) - 1, int((v - low) / span * len(SPARKS)))] for v in sampled)


def _time(x: Any) -> Any:
    if type(x) in (int, float):
        try:
            return datetime.fromtimestamp(x, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        except (OverflowError, OSError, ValueError):
            return x  # not a time any calendar has: the number as it was archived
    return spreadsheet_safe(str(x))


def _size(size: Any) -> str:
    if type(size) is not int:
        return "?"
    return f"{size / 1024:.0f} KiB" if size < 1024 * 1024 else f"{size / 2**20:.1f} MiB"
