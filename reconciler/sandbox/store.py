"""SQLite state of the sandbox: projects, their files, compiles and backtests, stored the way the API shows them."""

from __future__ import annotations

import json
import sqlite3
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from reconciler.models import STATISTICS
from reconciler.statefile import RecordedState, parse_state, record

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS projects (
    project_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    created TEXT NOT NULL,
    modified TEXT NOT NULL,
    language TEXT NOT NULL DEFAULT 'Py'
);
CREATE TABLE IF NOT EXISTS backtests (
    backtest_id TEXT PRIMARY KEY,
    project_id INTEGER NOT NULL REFERENCES projects(project_id),
    name TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    created TEXT NOT NULL,
    status TEXT NOT NULL,
    progress REAL NOT NULL DEFAULT 1,
    optimization_id TEXT NOT NULL DEFAULT '',
    tags TEXT NOT NULL DEFAULT '[]',
    statistics TEXT NOT NULL DEFAULT '{}',
    parameter_set TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS backtests_by_project ON backtests(project_id, created);
CREATE TABLE IF NOT EXISTS project_details (project_id INTEGER PRIMARY KEY, description TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS files (
    project_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    content TEXT NOT NULL,
    modified TEXT NOT NULL,
    PRIMARY KEY (project_id, name)
);
CREATE TABLE IF NOT EXISTS compiles (
    compile_id TEXT PRIMARY KEY,
    project_id INTEGER NOT NULL,
    ready_at REAL NOT NULL,  -- unix seconds: InQueue before, the outcome after
    state TEXT NOT NULL,  -- BuildSuccess or BuildError, as it will be once ready
    logs TEXT NOT NULL,  -- JSON list of strings
    digest TEXT NOT NULL  -- sha256 of the project's files as compiled: what a backtest's statistics follow from
);
CREATE TABLE IF NOT EXISTS runs (  -- created backtests still queued or running
    backtest_id TEXT PRIMARY KEY,
    started REAL NOT NULL,
    seconds REAL NOT NULL,
    statistics TEXT NOT NULL  -- what it completes with
);
CREATE TABLE IF NOT EXISTS artifacts (
    backtest_id TEXT PRIMARY KEY,
    document TEXT NOT NULL  -- {"charts", "orders", "insights"} a seed file carried; otherwise they are derived from the id
);
"""

_COLUMNS = "backtest_id, project_id, name, note, created, status, progress, optimization_id, tags, statistics, parameter_set"
#: One /backtests/list entry, in the official field names and types (server._summary_body is the same shape in Python).
_SUMMARY_SQL = """json_object('backtestId', backtest_id, 'status', status, 'name', name, 'created', created, 'progress', progress,
    'optimizationId', optimization_id, 'tradeableDates', CASE WHEN progress >= 1 THEN 252 ELSE 0 END,
    'parameterSet', CASE WHEN parameter_set = '{}' THEN json('[]') ELSE json(parameter_set) END, 'snapshotId', 0, 'tags', json(tags),
    'parameters', (SELECT count(*) FROM json_each(parameter_set)), 'securityTypes', 1)"""


def _stat(key: str) -> str:
    return f"json_extract(statistics, '$.{key}')"


@dataclass
class BacktestRow:
    backtest_id: str
    project_id: int
    name: str
    note: str
    created: str
    status: str
    progress: float
    optimization_id: str
    tags: list[str] = field(default_factory=list)
    statistics: dict[str, float] = field(default_factory=dict)
    parameter_set: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_sql(cls, row: tuple) -> "BacktestRow":
        return cls(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], json.loads(row[8]), json.loads(row[9]), json.loads(row[10]))

    def to_sql(self) -> tuple:
        return (self.backtest_id, self.project_id, self.name, self.note, self.created, self.status, self.progress,
                self.optimization_id, json.dumps(self.tags), json.dumps(self.statistics), json.dumps(self.parameter_set))


@dataclass
class ProjectRow:
    project_id: int
    name: str
    created: str
    modified: str
    language: str = "Py"


class SandboxStore:
    """One connection guarded by a lock: the server is threaded, SQLite writes are serial anyway."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # --- meta ------------------------------------------------------------

    def is_seeded(self) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM meta WHERE key='seed'").fetchone() is not None

    def replace_all(self, projects: list[ProjectRow], backtests: list[BacktestRow], seed: str, artifacts: dict[str, dict[str, Any]] | None = None) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM artifacts")
            db.executemany("INSERT INTO artifacts VALUES (?,?)", [(bid, json.dumps(doc)) for bid, doc in (artifacts or {}).items()])
            for table in ("backtests", "runs", "compiles", "files", "project_details", "projects"):
                db.execute(f"DELETE FROM {table}")
            db.executemany("INSERT INTO projects VALUES (?,?,?,?,?)", [(p.project_id, p.name, p.created, p.modified, p.language) for p in projects])
            db.executemany(f"INSERT INTO backtests ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)", [b.to_sql() for b in backtests])
            db.execute("INSERT OR REPLACE INTO meta VALUES ('seed', ?)", (seed,))

    # --- reads -----------------------------------------------------------

    def projects(self) -> list[ProjectRow]:
        with self._lock:
            rows = self._db.execute("SELECT project_id, name, created, modified, language FROM projects ORDER BY project_id").fetchall()
        return [ProjectRow(*row) for row in rows]

    def project(self, project_id: int) -> ProjectRow | None:
        with self._lock:
            row = self._db.execute("SELECT project_id, name, created, modified, language FROM projects WHERE project_id=?", (project_id,)).fetchone()
        return ProjectRow(*row) if row else None

    def backtests(self, project_id: int) -> list[BacktestRow]:
        with self._lock:
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM backtests WHERE project_id=? ORDER BY created DESC, backtest_id", (project_id,)).fetchall()
        return [BacktestRow.from_sql(row) for row in rows]

    def summaries_json(self, project_id: int, with_statistics: bool) -> tuple[str, int] | None:
        """The /backtests/list entries of a project as one JSON array, built by SQLite (JSON1), and their count.

        A 10,000-backtest list is the sandbox's largest answer: building it in SQL instead of decoding three
        JSON columns per row in Python cuts its CPU several times. None when this SQLite has no JSON1.
        """
        summary = _SUMMARY_SQL
        if with_statistics:  # every statistic, null where there is none (json_patch would drop nulls: one object instead)
            stats = ", ".join(f"'{key}', " + (f"CAST({_stat(key)} AS INTEGER)" if key == "trades" else _stat(key)) for key in STATISTICS)
            summary = _SUMMARY_SQL.rstrip()[:-1] + f", {stats})"
        try:
            with self._lock:
                rows = self._db.execute(f"SELECT {summary} FROM backtests WHERE project_id=? ORDER BY created DESC, backtest_id", (project_id,)).fetchall()
        except sqlite3.OperationalError:
            return None
        return "[" + ",".join(row[0] for row in rows) + "]", len(rows)

    def backtest(self, project_id: int, backtest_id: str) -> BacktestRow | None:
        with self._lock:
            row = self._db.execute(f"SELECT {_COLUMNS} FROM backtests WHERE project_id=? AND backtest_id=?", (project_id, backtest_id)).fetchone()
        return BacktestRow.from_sql(row) if row else None

    # --- writes ----------------------------------------------------------

    def update_backtest(self, project_id: int, backtest_id: str, **fields: Any) -> bool:
        allowed = {"name", "note", "tags", "status", "progress"}
        assignments, values = [], []
        for key, value in fields.items():
            if key not in allowed:
                raise ValueError(key)
            assignments.append(f"{key}=?")
            values.append(json.dumps(value) if key == "tags" else value)
        if not assignments:
            return self.backtest(project_id, backtest_id) is not None
        with self.transaction() as db:
            cursor = db.execute(f"UPDATE backtests SET {', '.join(assignments)} WHERE project_id=? AND backtest_id=?", (*values, project_id, backtest_id))
            return cursor.rowcount == 1

    def delete_backtest(self, project_id: int, backtest_id: str) -> bool:
        with self.transaction() as db:
            deleted = db.execute("DELETE FROM backtests WHERE project_id=? AND backtest_id=?", (project_id, backtest_id)).rowcount == 1
            if deleted:
                db.execute("DELETE FROM artifacts WHERE backtest_id=?", (backtest_id,))
                db.execute("DELETE FROM runs WHERE backtest_id=?", (backtest_id,))
            return deleted

    def artifacts(self, backtest_id: str) -> dict[str, Any] | None:
        """Charts, orders and insights a seed file carried for this backtest, or None (then they are derived)."""
        with self._lock:
            row = self._db.execute("SELECT document FROM artifacts WHERE backtest_id=?", (backtest_id,)).fetchone()
        return json.loads(row[0]) if row else None

    # --- the lifecycle: projects, files, compiles, runs (reconciler.sandbox.lifecycle) ---

    def create_project(self, name: str, language: str, now: str, files: dict[str, str]) -> ProjectRow:
        with self.transaction() as db:
            highest = db.execute("SELECT max(project_id) FROM projects").fetchone()[0]
            row = ProjectRow(max(highest or 0, 20000000) + 1, name, now, now, language)
            db.execute("INSERT INTO projects VALUES (?,?,?,?,?)", (row.project_id, row.name, row.created, row.modified, row.language))
            db.executemany("INSERT INTO files VALUES (?,?,?,?)", [(row.project_id, n, c, now) for n, c in files.items()])
        return row

    def update_project(self, project_id: int, now: str, name: str | None = None, description: str | None = None) -> None:
        with self.transaction() as db:
            if name is not None:
                db.execute("UPDATE projects SET name=? WHERE project_id=?", (name, project_id))
            if description is not None:
                db.execute("INSERT OR REPLACE INTO project_details VALUES (?,?)", (project_id, description))
            db.execute("UPDATE projects SET modified=? WHERE project_id=?", (now, project_id))

    def description(self, project_id: int) -> str:
        with self._lock:
            row = self._db.execute("SELECT description FROM project_details WHERE project_id=?", (project_id,)).fetchone()
        return row[0] if row else ""

    def delete_project(self, project_id: int) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM artifacts WHERE backtest_id IN (SELECT backtest_id FROM backtests WHERE project_id=?)", (project_id,))
            db.execute("DELETE FROM runs WHERE backtest_id IN (SELECT backtest_id FROM backtests WHERE project_id=?)", (project_id,))
            for table in ("backtests", "files", "compiles", "project_details", "projects"):
                db.execute(f"DELETE FROM {table} WHERE project_id=?", (project_id,))

    def files(self, project_id: int) -> list[tuple[str, str, str]]:
        """(name, content, modified) of every file of the project, by name."""
        with self._lock:
            return self._db.execute("SELECT name, content, modified FROM files WHERE project_id=? ORDER BY name", (project_id,)).fetchall()

    def put_files(self, project_id: int, files: dict[str, str], now: str) -> None:
        """Create or replace files (a seeded project gets its language's files on first use)."""
        with self.transaction() as db:
            db.executemany("INSERT OR REPLACE INTO files VALUES (?,?,?,?)", [(project_id, n, c, now) for n, c in files.items()])
            db.execute("UPDATE projects SET modified=? WHERE project_id=?", (now, project_id))

    def rename_file(self, project_id: int, name: str, new_name: str, now: str) -> None:
        with self.transaction() as db:
            db.execute("UPDATE files SET name=?, modified=? WHERE project_id=? AND name=?", (new_name, now, project_id, name))

    def delete_file(self, project_id: int, name: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM files WHERE project_id=? AND name=?", (project_id, name))

    def add_compile(self, compile_id: str, project_id: int, ready_at: float, state: str, logs: list[str], digest: str) -> None:
        with self.transaction() as db:
            db.execute("INSERT INTO compiles VALUES (?,?,?,?,?,?)", (compile_id, project_id, ready_at, state, json.dumps(logs), digest))

    def compile(self, project_id: int, compile_id: str) -> tuple[float, str, list[str], str] | None:
        """(ready_at, state once ready, logs, digest) of a compile of this project."""
        with self._lock:
            row = self._db.execute("SELECT ready_at, state, logs, digest FROM compiles WHERE project_id=? AND compile_id=?",
                                   (project_id, compile_id)).fetchone()
        return (row[0], row[1], json.loads(row[2]), row[3]) if row else None

    def start_run(self, row: BacktestRow, started: float, seconds: float, statistics: dict[str, float]) -> None:
        with self.transaction() as db:
            db.execute(f"INSERT INTO backtests ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)", row.to_sql())
            db.execute("INSERT INTO runs VALUES (?,?,?,?)", (row.backtest_id, started, seconds, json.dumps(statistics)))

    def advance_runs(self, now: float, status_at: Callable[[float], tuple[str, float]]) -> None:
        """Move every queued or running backtest to where it is at `now`: status_at(elapsed share) -> (status, progress)."""
        with self._lock:
            runs = self._db.execute("SELECT backtest_id, started, seconds, statistics FROM runs").fetchall()
        if not runs:
            return
        with self.transaction() as db:
            for backtest_id, started, seconds, statistics in runs:
                share = (now - started) / seconds if seconds > 0 else 1.0
                status, progress = status_at(share)
                if progress >= 1:
                    db.execute("UPDATE backtests SET status=?, progress=1, statistics=? WHERE backtest_id=?", (status, statistics, backtest_id))
                    db.execute("DELETE FROM runs WHERE backtest_id=?", (backtest_id,))
                else:
                    db.execute("UPDATE backtests SET status=?, progress=? WHERE backtest_id=?", (status, progress, backtest_id))

    # --- the state-file format -------------------------------------------

    def export_state(self, project_ids: list[int] | None = None) -> RecordedState:
        """What the store holds, as the records a state file would give (written and read by statefile)."""
        projects = [p for p in self.projects() if project_ids is None or p.project_id in project_ids]
        document = {"projects": [{"projectId": p.project_id, "name": p.name, "backtests": [
            record(backtest_id=b.backtest_id, name=b.name, note=b.note, created=b.created, status=b.status, tags=b.tags,
                   optimization_id=b.optimization_id, statistics=b.statistics, parameters=b.parameter_set)
            for b in sorted(self.backtests(p.project_id), key=lambda b: (b.created, b.backtest_id))]} for p in projects]}
        return parse_state(document, "sandbox")
