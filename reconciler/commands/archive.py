"""`reconciler archive ls|show|export`: read what apply archived, offline (docs/design.md, "Records").

A deleted backtest is gone from QuantConnect for good; its archive is the only copy.
`ls` reads the index apply keeps (`index.jsonl`) and adds any archive the index
missed (a crash between the file and its index line); `show` and `export` read one
archive file.
"""

from __future__ import annotations

import csv
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from reconciler.apply.records import INDEX_NAME, index_entry_of
from reconciler.commands.runtime import Runtime
from reconciler.errors import ReconcilerError
from reconciler.models import is_backtest_id
from reconciler.plan.untrusted import terminal_safe

SPARKS = "▁▂▃▄▅▆▇█"
EQUITY = ("Strategy Equity", "Equity")


class ArchiveError(ReconcilerError):
    pass


def entries(directory: Path, project: int | None = None) -> list[dict[str, Any]]:
    """Every archive under the directory: the index, plus files it does not list yet."""
    if not directory.is_dir():
        raise ArchiveError(f"no archive directory at {directory}; apply writes there (--archive-dir), or pass the one you used")
    found: dict[tuple[int, str], dict[str, Any]] = {}
    index = directory / INDEX_NAME
    if index.is_file():
        for line in index.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                entry = json.loads(line)
                found[(int(entry["project"]), str(entry["backtest"]))] = entry
            except (ValueError, KeyError, TypeError):
                continue  # a torn line: the scan below still finds its file
    for path in _files(directory):
        key = (int(path.parent.name), path.stem)
        if key not in found:
            document = _load(path)
            found[key] = index_entry_of(key[0], key[1], document, str(document.get("archived_at", "")), path.stat().st_size)
    rows = [e for e in found.values() if project is None or e["project"] == project]
    return sorted(rows, key=lambda e: (e["project"], str(e.get("created", "")), e["backtest"]))


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
    rows = entries(directory, project)
    if fmt == "json":
        rt.stdout.write(json.dumps({"archives": rows}, ensure_ascii=False) + "\n")
        return 0
    rt.out(f"{'PROJECT':>9}  {'BACKTEST':<32}  {'CREATED':<19}  {'SHARPE':>7}  {'NET PROFIT':>10}  {'ORDERS':>6}  {'SIZE':>8}  {'ARCHIVED':<20}  NAME")
    for row in rows:
        stats = row.get("statistics") or {}
        rt.out(f"{row['project']:>9}  {row['backtest']:<32}  {str(row.get('created', ''))[:19]:<19}  {str(stats.get('Sharpe Ratio', '')):>7}  "
               f"{str(stats.get('Net Profit', '')):>10}  {row.get('orders', 0):>6,}  {_size(row.get('size', 0)):>8}  {row.get('archived_at', ''):<20}  "
               f"{terminal_safe(str(row.get('name', '')))}")
    rt.out(f"{len(rows):,} archive{'s' if len(rows) != 1 else ''} under {directory}.")
    return 0


def show(rt: Runtime, directory: Path, backtest_id: str) -> int:
    path = find(directory, backtest_id)
    document = _load(path)
    backtest = document["backtest"]
    rt.out(f"{terminal_safe(str(backtest.get('name', '')))} ({backtest_id}), project {path.parent.name}")
    rt.out(f"  created {backtest.get('created', '?')}, status {terminal_safe(str(backtest.get('status', '?')))}, archived {document.get('archived_at', '?')}"
           f" by reconciler {document.get('tool_version', '?')}")
    statistics = backtest.get("statistics") if isinstance(backtest.get("statistics"), dict) else {}
    for key, value in statistics.items():
        rt.out(f"  {terminal_safe(str(key)):<28} {terminal_safe(str(value))}")
    values = [point[1] for point in _equity(document)]
    if values:
        rt.out(f"  equity  {sparkline(values)}  {values[0]:,.0f} -> {values[-1]:,.0f} over {len(values):,} points")
    if "orders" in document:
        rt.out(f"  {len(document['orders']):,} orders, {len(document.get('insights') or []):,} insights, charts: "
               f"{', '.join(terminal_safe(name) for name in (document.get('charts') or {}))}")
    else:
        rt.out("  a summary archive (--archive summary): no charts, orders or insights were kept")
    return 0


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
        return 0
    if "orders" not in document:
        raise ArchiveError(f"the archive of {backtest_id} is a summary archive: it has no orders")
    columns = ["id", "time", "symbol", "type", "status", "direction", "quantity", "price", "value", "tag"]
    writer.writerow(columns)
    for order in document["orders"]:
        symbol = order.get("symbol")
        row = {**order, "symbol": symbol.get("value", "") if isinstance(symbol, dict) else symbol}
        writer.writerow([row.get(column, "") for column in columns])
    return 0


def _equity(document: dict[str, Any]) -> list[tuple[float, float]]:
    chart = (document.get("charts") or {}).get(EQUITY[0]) or {}
    series = (chart.get("series") or {}).get(EQUITY[1]) or {}
    points = []
    for point in series.get("values") or []:
        if isinstance(point, list) and len(point) >= 2:
            points.append((point[0], point[-1]))
        elif isinstance(point, dict) and "x" in point and "y" in point:
            points.append((point["x"], point["y"]))
    return [(x, float(y)) for x, y in points if isinstance(y, (int, float))]


def sparkline(values: list[float], width: int = 60) -> str:
    step = max(1, len(values) // width)
    sampled = values[::step][:width]
    low, high = min(sampled), max(sampled)
    span = (high - low) or 1.0
    return "".join(SPARKS[min(len(SPARKS) - 1, int((v - low) / span * len(SPARKS)))] for v in sampled)


def _time(x: Any) -> str:
    if isinstance(x, (int, float)):
        return datetime.fromtimestamp(x, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(x)


def _size(size: int) -> str:
    return f"{size / 1024:.0f} KiB" if size < 1024 * 1024 else f"{size / 2**20:.1f} MiB"
