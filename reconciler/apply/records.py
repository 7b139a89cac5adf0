"""What apply leaves behind: a write-ahead journal, durable archives, and the locks on both; and the archive format read
back (`archive_entries`, `find`, `load_archive`), so the format's writer and reader live in this one module.

docs/design.md, "Records": the journal line that announces a mutating call is on disk
(fsync) before the call is sent, so after a crash every backtest that may have been
deleted has a line. Files are opened without following symlinks: a committed
`journal.jsonl -> ~/.bashrc` is refused, never appended to.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from reconciler import __version__
from reconciler.defaults import ARCHIVE_MAX_BYTES, ARCHIVE_MAX_CALLS, ARCHIVE_MAX_SECONDS
from reconciler.errors import ReconcilerError
from reconciler.fsutil import fsync_directory, write_atomic
from reconciler.models import is_backtest_id
from reconciler.plan.untrusted import terminal_safe
from reconciler.timeutil import format_iso, utcnow

LOCK_NAME = "apply.lock"  # inside an archive directory; a journal's lock is `<journal>.lock` beside it


class RecordWriteError(ReconcilerError):
    """The journal or an archive could not be written: apply starts no new call."""

    def __init__(self, path: Path, exc: BaseException) -> None:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        super().__init__(f"cannot write {path}: {reason}")
        self.path = path


class ApplyLocked(ReconcilerError):
    """Another apply holds the records directory."""


def _open_nofollow(path: Path, flags: int) -> int:
    """os.open that refuses a symlink as the last component, with a message that says so."""
    try:
        return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise OSError(errno.ELOOP, f"{path} is a symbolic link; records are never written through links", str(path)) from None
        raise


class RecordsLock:
    """One apply at a time on what it writes (docs/design.md, "Apply"): the journal file and the archive directory, each
    locked on its own whatever the working directory (flock: the kernel drops a dead process's lock)."""

    def __init__(self, journal: Path, archive_dir: Path | None) -> None:
        self.paths = [journal.parent / f"{journal.name}.lock"] + ([archive_dir / LOCK_NAME] if archive_dir is not None else [])
        self._fds: list[int] = []

    def acquire(self) -> "RecordsLock":
        try:
            for path in self.paths:
                self._fds.append(self._take(path))
        except BaseException:
            self.release()
            raise
        return self

    def _take(self, path: Path) -> int:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = _open_nofollow(path, os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "unknown process"
            os.close(fd)
            raise ApplyLocked(f"another apply is running on these records ({holder}); it holds {path}. "
                              "Wait for it to finish; a lock left by a process that died is taken over automatically") from None
        # A lock of a dead process was released by the kernel: this process takes it over and says so in the file.
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}, started {format_iso(utcnow())}\n".encode(), 0)
        return fd

    def release(self) -> None:
        while self._fds:
            os.close(self._fds.pop())  # closing drops the flock

    def __enter__(self) -> "RecordsLock":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


class Journal:
    """JSON lines: an `intent` line (fsync'd) before each mutating call, a `done` line with its outcome after."""

    def __init__(self, path: Path, run: str = "") -> None:
        self.path = path
        self.run = run  # every line names the apply run it belongs to (`history` groups by it; docs/design.md, "Records")
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        try:
            self._fd = _open_nofollow(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
            self._repair_torn_line()
        except OSError as exc:
            raise RecordWriteError(path, exc) from None

    def _repair_torn_line(self) -> None:
        """A crash mid-write leaves a last line without its newline: end it, so the next record starts a line of its own."""
        size = os.fstat(self._fd).st_size
        if not size:
            return
        reader = _open_nofollow(self.path, os.O_RDONLY)
        try:
            last = os.pread(reader, 1, size - 1)
        finally:
            os.close(reader)
        if last != b"\n":
            os.write(self._fd, b"\n")

    def intend(self, **fields: Any) -> None:
        """Durable before the call: a crash after this line cannot hide the call."""
        self._write({"phase": "intent", **fields}, sync=True)

    def record(self, **fields: Any) -> None:
        self._write({"phase": "done", **fields}, sync=False)

    def start(self, **fields: Any) -> None:
        """The run's first line: what was applied (plan and manifest digests, API, reference time), durable before any call."""
        self._write({"phase": "start", **fields}, sync=True)

    def end(self, **fields: Any) -> None:
        """The run's last line: counts per outcome. A run without it was stopped hard (kill -9, power)."""
        self._write({"phase": "end", **fields}, sync=True)

    def _write(self, fields: dict[str, Any], sync: bool) -> None:
        data = (json.dumps({"time": format_iso(utcnow()), "run": self.run, **fields}, ensure_ascii=False) + "\n").encode()
        with self._lock:
            try:
                written = os.write(self._fd, data)
                if written != len(data):
                    raise OSError(errno.ENOSPC, "short write")
                if sync:
                    os.fsync(self._fd)
            except OSError as exc:
                raise RecordWriteError(self.path, exc) from None

    def close(self) -> None:
        with self._lock:
            os.close(self._fd)


class Archive:
    """`<dir>/<projectId>/<backtestId>.json`: what the API tells about a backtest, written durably before its delete.

    full: the read, every chart with all its points, every order and insight; else the read alone (`--archive summary`).
    Each archive also gets a line in `<dir>/index.jsonl` (what `archive ls` shows) once the file is in place.
    """

    def __init__(self, directory: Path, full: bool = True) -> None:
        self.directory = directory
        self.full = full
        self._lock = threading.Lock()

    def path_for(self, project_id: int, backtest_id: str) -> Path:
        if isinstance(project_id, bool) or not isinstance(project_id, int) or project_id <= 0 or not is_backtest_id(backtest_id):
            raise ValueError(f"refusing to archive under unsafe ids {project_id!r}/{str(backtest_id)[:40]!r}")
        return self.directory / str(project_id) / f"{backtest_id}.json"

    def _refuse_links(self, path: Path) -> None:
        for directory in (self.directory, path.parent):
            if directory.is_symlink():
                raise OSError(errno.ELOOP, f"{directory} is a symbolic link; archives are never written through links")

    def write(self, project_id: int, backtest_id: str, document: dict[str, Any]) -> Path:
        path = self.path_for(project_id, backtest_id)
        archived_at = format_iso(utcnow())
        try:
            self._refuse_links(path)
            text = json.dumps({**document, "archived_at": archived_at, "tool_version": __version__}, ensure_ascii=False) + "\n"  # compact: the C encoder
            write_atomic(path, text)
            self._index(index_entry_of(project_id, backtest_id, document, archived_at, len(text.encode())))
        except (OSError, ValueError) as exc:
            raise RecordWriteError(path, exc) from None
        return path

    def stage(self, project_id: int, backtest_id: str, budget: "ArchiveBudget") -> "StagedArchive":
        """A full archive written as it is fetched: parts stream to a temp file, the read comes last (after the last check)."""
        path = self.path_for(project_id, backtest_id)
        try:
            self._refuse_links(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            return StagedArchive(self, project_id, backtest_id, path, budget)
        except OSError as exc:
            raise RecordWriteError(path, exc) from None

    def _index(self, entry: dict[str, Any]) -> None:
        line = (json.dumps(entry, ensure_ascii=False) + "\n").encode()
        with self._lock:
            fd = _open_nofollow(self.directory / INDEX_NAME, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)


INDEX_NAME = "index.jsonl"


def listed_charts(read: dict[str, Any]) -> list[str] | None:
    """The chart names a /backtests/read lists (an object keyed by name; absent or null: none); None when it is another shape."""
    charts = read.get("charts")
    if charts is None:
        return []
    return list(charts) if isinstance(charts, dict) and all(isinstance(name, str) for name in charts) else None


def total_orders(read: dict[str, Any]) -> int | None:
    """`Total Orders` of the read's statistics (LEAN writes it as a string of digits), or None when it does not say."""
    statistics = read.get("statistics")
    value = statistics.get("Total Orders") if isinstance(statistics, dict) else None
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) < 12:
        return int(value)
    return value if type(value) is int and 0 <= value < 10**12 else None


def chart_problem(name: str, chart: Any) -> str | None:
    """Why a chart as /backtests/chart/read returned it is not all of that chart, or None: every series needs its points."""
    series = chart.get("series") if isinstance(chart, dict) else None
    if not isinstance(series, dict):
        return f"chart {name[:80]!r} is missing"
    values = [item.get("values") if isinstance(item, dict) else None for item in series.values()]
    if not all(isinstance(points, list) for points in values) or not any(values):
        return f"chart {name[:80]!r} has no points"
    return None


def incomplete(read: dict[str, Any], charts: Mapping[str, str | None], counts: Mapping[str, int], reported: Mapping[str, int]) -> str | None:
    """Why a full archive is not everything the API said exists, or None (docs/design.md, "Records").

    After the delete the archive is the only copy: every chart the read lists, each with its points (`charts`: each
    fetched chart's problem, or None); at least as many orders as the read's `Total Orders`; at least as many orders and
    insights as any answer's `length`.
    """
    names = listed_charts(read)
    if names is None:
        return "the read lists its charts in a shape other than an object keyed by name"
    for name in names:
        if name not in charts:
            return f"chart {name[:80]!r} is missing"
        if charts[name]:
            return charts[name]
    expected = {"orders": max(total_orders(read) or 0, reported.get("orders", 0)), "insights": reported.get("insights", 0)}
    for key, count in expected.items():
        if counts.get(key, 0) < count:
            return f"{counts.get(key, 0):,} of {count:,} {key} were read"
    return None


@dataclass(frozen=True)
class ArchiveBudget:
    """What fetching one backtest's archive may cost, whatever the server sends (docs/design.md, "Records"). Memory holds
    one answer at a time (at most the client's 64 MiB cap): pages stream to the archive file."""

    max_bytes: int = ARCHIVE_MAX_BYTES
    max_calls: int = ARCHIVE_MAX_CALLS
    max_seconds: float = ARCHIVE_MAX_SECONDS


class OverBudget(ReconcilerError):
    """Past a budget: the archive is incomplete, and the backtest is not deleted."""


class StagedArchive:
    """One full archive in the making: `{"charts": {...}, "orders": [...], "insights": [...]` streamed to a temp file beside
    its final place, then the read, `archived_at` and `tool_version`, fsync, rename. Never renamed incomplete."""

    def __init__(self, archive: Archive, project_id: int, backtest_id: str, path: Path, budget: ArchiveBudget) -> None:
        self.archive, self.project_id, self.backtest_id, self.path, self.budget = archive, project_id, backtest_id, path, budget
        self.temp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.partial")
        self.size = 0
        self.counts = {"orders": 0, "insights": 0, "charts": 0}
        self._section: str | None = None
        self._fd = _open_nofollow(self.temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        self._write('{"charts":{')

    def _write(self, text: str) -> None:
        data = text.encode()
        if self.size + len(data) > self.budget.max_bytes:
            raise OverBudget(f"past the archive budget of {self.budget.max_bytes // 2**20:,} MiB per backtest (raise it with --archive-max-bytes)")
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view):]
        except OSError as exc:
            raise RecordWriteError(self.temp, exc) from None
        self.size += len(data)

    def add_chart(self, name: str, chart: dict[str, Any]) -> None:
        self._write(("," if self.counts["charts"] else "") + json.dumps(name, ensure_ascii=False) + ":" + json.dumps(chart, ensure_ascii=False))
        self.counts["charts"] += 1

    def start(self, key: str) -> None:
        self._write(("}" if self._section is None else "]") + f',"{key}":[')
        self._section = key

    def add(self, items: list[dict[str, Any]]) -> None:
        assert self._section is not None
        if items:
            text = json.dumps(items, ensure_ascii=False)[1:-1]  # the page's items, without its brackets
            self._write(("," if self.counts[self._section] else "") + text)
            self.counts[self._section] += len(items)

    def finish(self, read: dict[str, Any]) -> Path:
        """The read the last check judged, then durably in place; its index line after the file."""
        archived_at = format_iso(utcnow())
        self._write(("}" if self._section is None else "]") + ',"backtest":' + json.dumps(read, ensure_ascii=False)
                    + f',"archived_at":{json.dumps(archived_at)},"tool_version":{json.dumps(__version__)}}}\n')
        try:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = -1
            os.replace(self.temp, self.path)
            fsync_directory(self.path.parent)
            self.archive._index(index_entry(self.project_id, self.backtest_id, read, archived_at, self.size, full=True, **self.counts))
        except OSError as exc:
            raise RecordWriteError(self.path, exc) from None
        return self.path

    def abandon(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        try:
            os.unlink(self.temp)
        except OSError:
            pass


def index_entry(project_id: int, backtest_id: str, backtest: Any, archived_at: str, size: int, *, full: bool, orders: int = 0,
                insights: int = 0, charts: int = 0) -> dict[str, Any]:
    """What `archive ls` shows of one archive, without reading it."""
    backtest = backtest if isinstance(backtest, dict) else {}
    statistics = backtest.get("statistics") if isinstance(backtest.get("statistics"), dict) else {}
    return {"project": project_id, "backtest": backtest_id, "name": backtest.get("name", ""), "created": backtest.get("created", ""),
            "status": backtest.get("status", ""), "statistics": {k: statistics[k] for k in KEY_STATISTICS if k in statistics},
            "orders": orders, "insights": insights, "charts": charts, "full": full, "size": size, "archived_at": archived_at}


def index_entry_of(project_id: int, backtest_id: str, document: dict[str, Any], archived_at: str, size: int) -> dict[str, Any]:
    """The index entry of a whole archive document (an archive the index missed, or a summary archive)."""
    def count(key: str) -> int:
        value = document.get(key)
        return len(value) if isinstance(value, (list, dict)) else 0

    return index_entry(project_id, backtest_id, document.get("backtest"), archived_at, size, full="orders" in document,
                       orders=count("orders"), insights=count("insights"), charts=count("charts"))


#: The statistics `archive ls` shows, as /backtests/read names them.
KEY_STATISTICS = ("Sharpe Ratio", "Net Profit", "Drawdown", "Total Orders")


# --- the archive format, read back (`reconciler archive`): every file is hostile until it parses -----------------


class ArchiveError(ReconcilerError):
    pass


def archive_entries(directory: Path, project: int | None = None, *, warn: Callable[[str], None]) -> list[dict[str, Any]]:
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
                document = load_archive(path)
            except ArchiveError as exc:
                warn(f"warning: skipping {terminal_safe(str(path))}: {exc}")
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


def load_archive(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        raise ArchiveError(f"the archive {path} is damaged or unreadable ({type(exc).__name__}); it is not usable") from None
    if not isinstance(document, dict) or not isinstance(document.get("backtest"), dict):
        raise ArchiveError(f"the archive {path} is damaged: it has no backtest record")
    return document
