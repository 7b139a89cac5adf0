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


ARCHIVE_FORMAT_VERSION = 1  # of the JSON `archive ls` and `archive export` print
LS_COLUMNS = ("project", "backtest", "created", "sharpe_ratio", "net_profit", "orders", "size", "archived_at", "name")


def ls(rt: Runtime, directory: Path, project: int | None = None, fmt: str = "text") -> int:
    rows = archive_entries(directory, project, warn=rt.err)
    if fmt == "json":
        rt.stdout.write(json.dumps({"format_version": ARCHIVE_FORMAT_VERSION, "archives": rows}, ensure_ascii=False) + "\n")
        return exit_codes.OK
    if fmt == "csv":
        writer = csv.writer(rt.stdout, lineterminator="\n")
        writer.writerow(LS_COLUMNS)
        for row in rows:
            stats = _dict(row.get("statistics"))
            values = (row.get("project"), row.get("backtest"), row.get("created"), stats.get("Sharpe Ratio"), stats.get("Net Profit"),
                      row.get("orders", 0), row.get("size", 0), row.get("archived_at"), row.get("name"))
            writer.writerow([spreadsheet_safe("" if value is None else value) for value in values])
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


#: LEAN's enums as it numbers them (docs/design.md, "Records"): the export writes the names, so a spreadsheet reads
#: `Limit, Filled, Sell`, not `1, 3, 1`.
ORDER_TYPES = dict(enumerate(("Market", "Limit", "StopMarket", "StopLimit", "MarketOnOpen", "MarketOnClose", "OptionExercise", "LimitIfTouched",
                              "ComboMarket", "ComboLimit", "ComboLegLimit", "TrailingStop")))
ORDER_STATUSES = {0: "New", 1: "Submitted", 2: "PartiallyFilled", 3: "Filled", 5: "Canceled", 6: "None", 7: "Invalid", 8: "CancelPending",
                  9: "UpdateSubmitted"}
ORDER_DIRECTIONS = dict(enumerate(("Buy", "Sell", "Hold")))
INSIGHT_TYPES = dict(enumerate(("Price", "Volatility")))
INSIGHT_DIRECTIONS = {-1: "Down", 0: "Flat", 1: "Up"}
ORDER_COLUMNS = ("id", "time", "symbol", "type", "status", "direction", "quantity", "price", "value", "tag")
INSIGHT_COLUMNS = ("id", "generatedTime", "closeTime", "symbol", "ticker", "type", "direction", "period", "magnitude", "confidence", "weight",
                   "scoreDirection", "scoreMagnitude", "sourceModel", "tag")
CHART_COLUMNS = ("series", "time", "value", "open", "high", "low")
WHATS = "equity, orders, insights or chart:NAME"


def enum_name(names: dict[int, str], value: Any) -> Any:
    """LEAN's name for an enum number; a name stays a name, spelled as LEAN does (it writes some enums as strings);
    anything else, a number LEAN does not name included, as it is."""
    if type(value) is int:
        return names.get(value, value)
    if isinstance(value, str):
        return next((name for name in names.values() if name.lower() == value.lower()), value)
    return value


def _named_order(order: dict[str, Any]) -> dict[str, Any]:
    symbol = order.get("symbol")
    return {**order, "symbol": symbol.get("value", "") if isinstance(symbol, dict) else symbol, "type": enum_name(ORDER_TYPES, order.get("type")),
            "status": enum_name(ORDER_STATUSES, order.get("status")), "direction": enum_name(ORDER_DIRECTIONS, order.get("direction"))}


def _named_insight(insight: dict[str, Any]) -> dict[str, Any]:
    return {**insight, "type": enum_name(INSIGHT_TYPES, insight.get("type")), "direction": enum_name(INSIGHT_DIRECTIONS, insight.get("direction")),
            "generatedTime": _time(insight.get("generatedTime")), "closeTime": _time(insight.get("closeTime"))}


def export(rt: Runtime, directory: Path, backtest_id: str, what: str, fmt: str = "csv") -> int:
    if what not in ("equity", "orders", "insights") and not (what.startswith("chart:") and len(what) > len("chart:")):
        raise ArchiveError(f"--what {what!r}: say {WHATS} (a chart by the name `archive show` lists, e.g. chart:Drawdown)")
    document = load_archive(find(directory, backtest_id))
    if what == "equity":
        points = _equity(document)
        if not points:
            raise ArchiveError(f"the archive of {backtest_id} has no equity curve (a summary archive, or a backtest that never ran)")
        return _write(rt, fmt, backtest_id, what, ("time", "equity"), [{"time": _time(x), "equity": y} for x, y in points])
    if what.startswith("chart:"):
        name = what[len("chart:"):]
        charts = _dict(document.get("charts"))
        if name not in charts:
            shown = ", ".join(map(_text, charts)) or "none (a summary archive)"
            raise ArchiveError(f"the archive of {backtest_id} has no chart {_text(name)!r}; its charts: {shown}")
        return _write(rt, fmt, backtest_id, what, CHART_COLUMNS, _chart_rows(_dict(charts[name])))
    if what not in document:
        raise ArchiveError(f"the archive of {backtest_id} is a summary archive: it has no {what}")
    if not isinstance(document[what], list):
        raise ArchiveError(f"the archive of {backtest_id} is damaged: its {what} are not a list")
    rows = [(_named_order if what == "orders" else _named_insight)(_dict(item)) for item in document[what]]
    return _write(rt, fmt, backtest_id, what, ORDER_COLUMNS if what == "orders" else INSIGHT_COLUMNS, rows)


def _chart_rows(chart: dict[str, Any]) -> list[dict[str, Any]]:
    """Every point of every series, one row each: `[t, y]` and `{x, y}` points as time and value, candles `[t, o, h, l, c]`
    with their close as the value."""
    rows = []
    for series_name, series in _dict(chart.get("series")).items():
        for point in _list(_dict(series).get("values")):
            if isinstance(point, list) and len(point) >= 5:
                rows.append({"series": series_name, "time": _time(point[0]), "value": point[4], "open": point[1], "high": point[2], "low": point[3]})
            elif isinstance(point, list) and len(point) >= 2:
                rows.append({"series": series_name, "time": _time(point[0]), "value": point[1]})
            elif isinstance(point, dict) and "x" in point:
                rows.append({"series": series_name, "time": _time(point["x"]), "value": point.get("y")})
    return rows


def _write(rt: Runtime, fmt: str, backtest_id: str, what: str, columns: tuple[str, ...], rows: list[dict[str, Any]]) -> int:
    """CSV with a header row (cells a spreadsheet will not run), or one JSON document with its format_version."""
    if fmt == "json":
        document = {"format_version": ARCHIVE_FORMAT_VERSION, "backtest": backtest_id, "what": what, "rows": _finite(rows)}
        rt.stdout.write(json.dumps(document, ensure_ascii=False, allow_nan=False) + "\n")
        return exit_codes.OK
    writer = csv.writer(rt.stdout, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([spreadsheet_safe(_cell(row.get(column, ""))) for column in columns])
    return exit_codes.OK


def _finite(value: Any) -> Any:
    """JSON without NaN or Infinity (which no JSON reader but Python's accepts): null instead, wherever they are."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _cell(value: Any) -> Any:
    return json.dumps(value, ensure_ascii=False) if isinstance(value, (dict, list)) else value


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
