"""Gather what planning needs from the API, and nothing more (docs/design.md, "Performance": one list per project,
one project list only for names, one read per managed note).

One /backtests/list per project (statistics only when a rule reads them), one
/projects/read only when a project is named by name, one /backtests/read per
declared backtest whose note is managed and per backtest a label rule will write
the note of (the engine decides on the list first). Calls run concurrently on the
client's one session; a project's note reads start as soon as its list is in.
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Callable, Mapping, Sequence

from reconciler.api.client import QuantConnectClient
from reconciler.api.errors import APIError, NotFoundError
from reconciler.defaults import PARALLELISM
from reconciler.engine.grace import strip_marks
from reconciler.engine.labels import note_reads
from reconciler.engine.retention import decide
from reconciler.manifest.model import ProjectSpec
from reconciler.models import Backtest
from reconciler.plan.model import Plan
from reconciler.progress import Progress
from reconciler.projects import (
    ProjectState,
    ResolveError,
    needs_project_list,
    resolve_projects,
    select_projects,
)
from reconciler.timeutil import utcnow


@dataclass
class FetchStats:
    calls: int = 0
    backtests: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class Fetch:
    """One project to read: its list (with statistics or not), and the notes of the backtests `read_note` picks."""

    project_id: int
    statistics: bool = False
    read_note: Callable[[Backtest], bool] = lambda backtest: False
    source: str = ""  # where the manifest names it, for a clear error
    notes_for: Callable[[list[Backtest]], frozenset[str]] | None = None  # picks from the whole list, instead of read_note


def fetch_backtests(
    client: QuantConnectClient, fetches: Sequence[Fetch], *, parallelism: int = PARALLELISM, stats: FetchStats | None = None, progress: Progress | None = None
) -> dict[int, list[Backtest]]:
    """The one concurrent fetcher (plan, apply --plan, import and snapshot): lists first, and each project's
    note reads as soon as its list is in, all on the client's one session. A backtest whose read says it
    is gone is left out: it was deleted between the list and the read."""
    stats = stats if stats is not None else FetchStats()
    started = time.monotonic()
    lock = threading.Lock()

    def counted(fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return fn(*args)
        finally:
            with lock:
                stats.calls += 1
            if progress is not None:
                progress.tick()

    listed: dict[int, list[Backtest]] = {}
    lists: dict[Future, Fetch] = {}
    reads: dict[Future, tuple[int, str]] = {}
    notes: dict[str, str | None] = {}
    finished: queue.SimpleQueue[Future] = queue.SimpleQueue()  # completions in O(1), however many reads are pending
    pool = ThreadPoolExecutor(max_workers=max(1, parallelism), thread_name_prefix="fetch")

    def submit(fn: Callable[..., Any], *args: Any) -> Future:
        future = pool.submit(counted, fn, *args)
        future.add_done_callback(finished.put)
        return future

    if progress is not None:
        progress.add(len(fetches))
    try:
        for fetch in fetches:
            lists[submit(_list, client, fetch.project_id, fetch.statistics, fetch.source)] = fetch
        outstanding = len(lists)
        while outstanding:
            future = finished.get()
            outstanding -= 1
            if future in lists:  # a project's list is in: start its note reads right away
                fetch = lists[future]
                listed[fetch.project_id] = future.result()
                if fetch.notes_for is not None:
                    picked = fetch.notes_for(listed[fetch.project_id])
                    wanted = [b for b in listed[fetch.project_id] if b.id in picked]
                else:
                    wanted = [b for b in listed[fetch.project_id] if fetch.read_note(b)]
                if progress is not None and wanted:
                    progress.add(len(wanted))
                for backtest in wanted:
                    reads[submit(client.read_backtest, fetch.project_id, backtest.id)] = (fetch.project_id, backtest.id)
                    outstanding += 1
            else:
                try:
                    notes[reads[future][1]] = future.result().note or ""
                except NotFoundError:
                    notes[reads[future][1]] = None
    except BaseException as exc:
        # An error or Ctrl-C: nothing queued is sent. On Ctrl-C the read-only calls in flight are not waited for.
        pool.shutdown(wait=not isinstance(exc, KeyboardInterrupt), cancel_futures=True)
        raise
    finally:
        pool.shutdown(wait=False)
        if progress is not None:
            progress.finish()
    result = {
        pid: [replace(b, note=notes[b.id]) if b.id in notes else b for b in backtests if notes.get(b.id, "") is not None] for pid, backtests in listed.items()
    }
    stats.backtests += sum(len(backtests) for backtests in result.values())
    stats.seconds = time.monotonic() - started
    return result


def fetch_states(
    client: QuantConnectClient,
    specs: Sequence[ProjectSpec],
    *,
    wanted: Sequence[str] = (),
    parallelism: int = PARALLELISM,
    stats: FetchStats | None = None,
    progress: Progress | None = None,
    now: datetime | None = None,
    declared_anywhere: Mapping[str, str] | None = None,
) -> list[ProjectState]:
    """What planning needs: the project list only if a name must be resolved, then each project's list and managed notes.
    `now` and `declared_anywhere` are the plan's: label rules that write notes read only the backtests they will label."""
    now = now or utcnow()
    declared_anywhere = declared_anywhere if declared_anywhere is not None else {d.id: s.reference for s in specs for d in s.backtests}
    stats = stats if stats is not None else FetchStats()
    if needs_project_list(specs, wanted):
        selected = select_projects(resolve_projects(specs, client.list_projects()), wanted)
        stats.calls += 1
        names: Future | None = None
    else:  # ids only: the lists need no resolving; the names (for people) come from one call alongside them
        selected = select_projects(resolve_projects(specs, None), wanted)
        names = Future()
        # A daemon thread: if the lists fail first, the process does not wait for a courtesy call on its way out.
        threading.Thread(target=_settle, args=(names, client.list_projects), name="names", daemon=True).start()
    fetched = fetch_backtests(
        client,
        [
            Fetch(
                entry.project_id, entry.spec.reads_statistics, _managed_note(entry.spec), entry.spec.source, _labelled_notes(entry.spec, now, declared_anywhere)
            )
            for entry in selected
        ],
        parallelism=parallelism,
        stats=stats,
        progress=progress,
    )
    known: dict[int, str] = {}
    if names is not None:
        try:
            known = {p.id: p.name for p in names.result()}
            stats.calls += 1
        except APIError:
            pass  # the names are a courtesy: a plan by id works without them
    return [ProjectState(entry.spec, entry.project_id, entry.name or known.get(entry.project_id, ""), fetched[entry.project_id]) for entry in selected]


def _settle(future: Future, fn: Callable[[], Any]) -> None:
    try:
        future.set_result(fn())
    except BaseException as exc:  # noqa: BLE001 - handed to whoever reads the future
        future.set_exception(exc)


def _managed_note(spec: ProjectSpec) -> Callable[[Backtest], bool]:
    """The notes planning needs when no label rule writes notes: the declared ones."""
    managed = spec.managed_notes
    return lambda backtest: backtest.id in managed and not backtest.in_progress


def _labelled_notes(spec: ProjectSpec, now: datetime, declared_anywhere: Mapping[str, str]) -> Callable[[list[Backtest]], frozenset[str]] | None:
    """With a label rule that writes notes: the declared notes, and the notes of the backtests those rules will label
    (the engine's own decisions on the list, so one read per labelled backtest)."""
    if not spec.labels_notes:
        return None
    managed = spec.managed_notes

    def pick(backtests: list[Backtest]) -> frozenset[str]:
        labelled = note_reads(spec, decide(spec, strip_marks(backtests)[0], now, declared_anywhere), now)  # as the planner decides
        return frozenset(b.id for b in backtests if (b.id in managed or b.id in labelled) and not b.in_progress)

    return pick


def _list(client: QuantConnectClient, project_id: int, include_statistics: bool, source: str = "") -> list[Backtest]:
    try:
        return client.list_backtests(project_id, include_statistics=include_statistics)
    except NotFoundError:
        where = f" ({source})" if source else ""
        raise ResolveError(
            f"project {project_id}{where} does not exist or is not accessible to this user {client.credentials.user_id}; check the id in the QuantConnect IDE"
        ) from None


def reread_live(client: QuantConnectClient, plan: Plan, parallelism: int = PARALLELISM, progress: Progress | None = None) -> dict[int, dict[str, Backtest]]:
    """The live state of every project a saved plan touches: one list each, plus the notes it observed."""
    fetches = []
    for project in plan.projects:
        if project.actions:
            observed_notes = frozenset(e.id for e in project.actions if e.observed and "note" in e.observed)
            fetches.append(Fetch(project.project_id, project.spec.reads_statistics, lambda b, ids=observed_notes: b.id in ids))
    fetched = fetch_backtests(client, fetches, parallelism=parallelism, progress=progress)
    return {pid: {b.id: b for b in backtests} for pid, backtests in fetched.items()}
