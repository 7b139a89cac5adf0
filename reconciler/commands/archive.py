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
from typing import Any, Iterator

from reconciler import exit_codes
from reconciler.apply.records import INDEX_NAME, index_entry_of
from reconciler.commands.runtime import Runtime
from reconciler.errors import ReconcilerError
from reconciler.models import is_backtest_id
from reconciler.plan.untrusted import terminal_safe

SPARKS = "▁▂▃▄▅▆▇█"
EQUITY = ("Strategy Equity", "Equity")


class ArchiveError(ReconcilerError):
    pass


def entries(rt: Runtime, directory: Path, project: int | None = None) -> list[dict[str, Any]]:
    """Every archive under the directory: the index, plus files it does not list yet. A damaged or hostile file, or a
    damaged index line, is skipped with a one-line warning naming it; the rest is listed."""
    if not directory.is_dir():
        raise ArchiveError(f"no archive directory at {directory}; apply writes there (--archive-dir), or pass the one you used")
    found: dict[tuple[int, str], dict[str, Any]] = {}
    index = directory / INDEX_NAME
    if index.is_file():
        for line in index.read_text(encoding="utf-8", errors="replace").splitlines():
            entry = _index_line(line)
            if entry is not None:  # a torn or damaged line: the scan below still finds its file
                found[(entry["project"], entry["backtest"])] = entry
    for path in _files(directory):
        key = (int(path.parent.name), path.stem)
        if key not in found:
            try:
                document = _load(path)
            except ArchiveError as exc:
                rt.err(f"warning: skipping {terminal_safe(str(path))}: {exc}")
                continue
            found[key] = index_entry_of(key[0], key[1], document, str(document.get("archived_at", "")), path.stat().st_size)
    rows = [e for e in found.values() if project is None or e["project"] == project]
    return sorted(rows, key=lambda e: (e["project"], str(e.get("created", "")), e["backtest"]))


#: An index line's fields and their types; a line with another shape is not believed (its file is read instead).
_INDEX_TYPES: dict[str, tuple[type, ...]] = {"project": (int,), "backtest": (str,), "name": (str,), "created": (str,), "status": (str,),
                                             "statistics": (dict,), "orders": (int,), "insights": (int,), "charts": (int,), "full": (bool,),
                                             "size": (int,), "archived_at": (str,)}


def _index_line(line: str) -> dict[str, Any] | None:
    try:
        entry = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(entry, dict) or not all(isinstance(entry.get(key), kinds) and not (kinds == (int,) and isinstance(entry.get(key), bool))
                                              for key, kinds in _INDEX_TYPES.items()):
        return None
    if not is_backtest_id(entry["backtest"]) or entry["project"] <= 0:
        return None
    return entry


def _files(directory: Path) -> Iterator[Path]:
    for project_dir in directory.iterdir():
        if project_dir.is_dir() and not project_dir.is_symlink() and project_dir.name.isdigit():
            for path in project_dir.iterdir():
                if path.suffix == ".json" and is_backtest_id(path.stem):
                    yield path


def find(directory: Path, backtest_id: str) -> Path:
    if not is_backtest_id(backtest_id):
        raise ArchiveError(f"{backtest_id[:40]!r} is not a backtest id (32 lowercase hex characters)")
    if directory.is_dir():
        for project_dir in directory.iterdir():
            path = project_dir / f"{backtest_id}.json"
            if project_dir.is_dir() and path.is_file():
                return path
    raise ArchiveError(f"no archive of backtest {backtest_id} under {directory}; `reconciler archive ls` lists what is there")


def _load(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        raise ArchiveError(f"the archive {path} is damaged or unreadable ({type(exc).__name__}); it is not usable") from None
    if not isinstance(document, dict) or not isinstance(document.get("backtest"), dict):
        raise ArchiveError(f"the archive {path} is damaged: it has no backtest record")
    return document


def ls(rt: Runtime, directory: Path, project: int | None = None, fmt: str = "text") -> int:
    rows = entries(rt, directory, project)
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
    document = _load(path)
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
    document = _load(find(directory, backtest_id))
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
