"""Gather what planning needs from the API, and nothing more (docs/design.md, "Layout": one list per project, one project list only for names, one read per managed note).

One /backtests/list per project (statistics only when a rule reads them), one
/projects/read only when a project is named by name, one /backtests/read per
declared backtest whose note is managed. Calls run concurrently on the
client's one session; a project's note reads start as soon as its list is in.
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Callable, Sequence

from reconciler.api.client import QuantConnectClient
from reconciler.api.errors import NotFoundError
from reconciler.defaults import PARALLELISM
from reconciler.manifest.model import ProjectSpec
from reconciler.models import Backtest
from reconciler.plan.model import Plan
from reconciler.projects import ProjectState, ResolveError, needs_project_list, resolve_projects, select_projects


@dataclass
class FetchStats:
    calls: int = 0
    backtests: int = 0
    seconds: float = 0.0


def fetch_states(client: QuantConnectClient, specs: Sequence[ProjectSpec], *, wanted: Sequence[str] = (), parallelism: int = PARALLELISM,
                 stats: FetchStats | None = None) -> list[ProjectState]:
    stats = stats or FetchStats()
    started = time.monotonic()
    lock = threading.Lock()

    def counted(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        result = fn(*args, **kwargs)
        with lock:
            stats.calls += 1
        return result

    projects = counted(client.list_projects) if needs_project_list(specs, wanted) else None
    selected = select_projects(resolve_projects(specs, projects), wanted)
    states: dict[int, ProjectState] = {}
    lists: dict[Future, tuple[ProjectSpec, int, str]] = {}
    reads: dict[Future, str] = {}
    notes: dict[str, str] = {}
    finished: queue.SimpleQueue[Future] = queue.SimpleQueue()  # completions in O(1), however many reads are pending
    with ThreadPoolExecutor(max_workers=max(1, parallelism), thread_name_prefix="fetch") as pool:

        def submit(fn: Callable[..., object], *args: object) -> Future:
            future = pool.submit(counted, fn, *args)
            future.add_done_callback(finished.put)
            return future

        for entry in selected:
            lists[submit(_list, client, entry.project_id, entry.spec.reads_statistics, entry.spec.source)] = (entry.spec, entry.project_id, entry.name)
        outstanding = len(lists)
        while outstanding:
            future = finished.get()
            outstanding -= 1
            if future in lists:  # a project's list is in: start its note reads right away
                spec, project_id, name = lists[future]
                backtests = future.result()
                states[project_id] = ProjectState(spec, project_id, name, backtests)
                for backtest in backtests:
                    if backtest.id in spec.managed_notes and not backtest.in_progress:
                        reads[submit(client.read_backtest, project_id, backtest.id)] = backtest.id
                        outstanding += 1
            else:
                try:
                    notes[reads[future]] = future.result().note or ""
                except NotFoundError:
                    notes[reads[future]] = ""  # deleted between list and read: the next plan shows it missing
    for state in states.values():
        state.backtests = [replace(b, note=notes[b.id]) if b.id in notes else b for b in state.backtests]
    stats.backtests = sum(len(s.backtests) for s in states.values())
    stats.seconds = time.monotonic() - started
    return [states[entry.project_id] for entry in selected]


def _list(client: QuantConnectClient, project_id: int, include_statistics: bool, source: str = "") -> list[Backtest]:
    try:
        return client.list_backtests(project_id, include_statistics=include_statistics)
    except NotFoundError:
        where = f" ({source})" if source else ""
        raise ResolveError(f"project {project_id}{where} does not exist or is not accessible to this user {client.credentials.user_id}; "
                           "check the id in the QuantConnect IDE") from None


def reread_live(client: QuantConnectClient, plan: Plan, parallelism: int = PARALLELISM) -> dict[int, dict[str, Backtest]]:
    """The live state of every project a saved plan touches: one list each, plus the notes it observed."""
    touched = [p for p in plan.projects if p.actions]
    with ThreadPoolExecutor(max_workers=max(1, parallelism), thread_name_prefix="reread") as pool:
        listed = dict(zip((p.project_id for p in touched), pool.map(lambda p: _list(client, p.project_id, p.spec.reads_statistics), touched)))
        live = {pid: {b.id: b for b in backtests} for pid, backtests in listed.items()}
        wanted = [(p.project_id, e.id) for p in touched for e in p.actions
                  if e.observed and "note" in e.observed and e.id in live[p.project_id]]

        def read(item: tuple[int, str]) -> tuple[int, str, str | None]:
            try:
                return item[0], item[1], client.read_backtest(*item).note or ""
            except NotFoundError:
                return item[0], item[1], None

        for pid, bid, note in pool.map(read, wanted):
            if note is None:
                live[pid].pop(bid, None)
            else:
                live[pid][bid] = replace(live[pid][bid], note=note)
    return live
