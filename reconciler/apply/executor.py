"""Run apply tasks P at a time on the client's one session: archive, then delete; name/note, then tags.

Workers check the stop flag before every call, so Ctrl-C or --fail-fast starts no
new call while the calls in flight finish and are journaled.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable

from reconciler.api import parse
from reconciler.api.client import QuantConnectClient
from reconciler.api.errors import APIError, NotFoundError
from reconciler.apply.pacing import Pacer, Progress
from reconciler.apply.preflight import Task, unsafe_reason
from reconciler.apply.records import Archive, Journal
from reconciler.plan.model import DELETE, ProjectPlan

UPDATED, DELETED, ALREADY_GONE, FAILED, NOT_STARTED = "updated", "deleted", "already-gone", "failed", "not-started"


@dataclass
class Outcome:
    project_id: int
    backtest_id: str
    action: str
    outcome: str
    error: str | None = None
    archive: str | None = None
    calls: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"project": self.project_id, "backtest": self.backtest_id, "action": self.action, "outcome": self.outcome,
                "error": self.error, "archive": self.archive, "calls": self.calls}


@dataclass
class ExecutionSettings:
    parallelism: int = 4
    fail_fast: bool = False
    max_rps: float | None = None


@dataclass
class Execution:
    outcomes: list[Outcome] = field(default_factory=list)
    interrupted: bool = False


class _Stopped(Exception):
    pass


class Executor:
    def __init__(self, client: QuantConnectClient, journal: Journal, archive: Archive | None, settings: ExecutionSettings,
                 progress: Progress | None = None) -> None:
        self.client = client
        self.journal = journal
        self.archive = archive
        self.settings = settings
        self.progress = progress
        self.pacer = Pacer(settings.max_rps)
        self.stop = threading.Event()

    def run(self, tasks: list[Task], projects: dict[int, ProjectPlan]) -> Execution:
        execution = Execution()
        finished: queue.SimpleQueue[Future] = queue.SimpleQueue()  # O(1) per completion, unlike wait() over every pending future
        pool = ThreadPoolExecutor(max_workers=max(1, self.settings.parallelism), thread_name_prefix="apply")
        futures: dict[Future, Task] = {}
        for task in tasks:
            future = pool.submit(self._run_task, task, projects[task.project_id])
            futures[future] = task
            future.add_done_callback(finished.put)
        collected: set[Future] = set()
        try:
            while len(collected) < len(futures):
                try:
                    future = finished.get(timeout=0.2)  # a timeout keeps Ctrl-C responsive
                except queue.Empty:
                    continue
                outcome = future.result()
                collected.add(future)
                execution.outcomes.append(outcome)
                if outcome.outcome == FAILED and self.settings.fail_fast:
                    self.stop.set()
        except KeyboardInterrupt:
            execution.interrupted = True
            self.stop.set()
            pool.shutdown(wait=True, cancel_futures=True)  # calls in flight finish (and are journaled)
            for future, task in futures.items():
                if future in collected:
                    continue
                if future.done() and not future.cancelled():
                    execution.outcomes.append(future.result())
                else:
                    execution.outcomes.append(Outcome(task.project_id, task.backtest_id, task.action, NOT_STARTED))
        finally:
            pool.shutdown(wait=True)
            if self.progress:
                self.progress.finish()
        return execution

    # --- one backtest ---------------------------------------------------------

    def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self.stop.is_set():
            raise _Stopped
        self.pacer.wait()
        return fn(*args, **kwargs)

    def _run_task(self, task: Task, project: ProjectPlan) -> Outcome:
        outcome = Outcome(task.project_id, task.backtest_id, task.action, NOT_STARTED)
        try:
            if task.action == DELETE:
                self._delete(task, project, outcome)
            else:
                self._update(task, outcome)
        except _Stopped:
            pass
        if self.progress and outcome.outcome != NOT_STARTED:
            self.progress.tick(outcome.outcome == FAILED)
        return outcome

    def _delete(self, task: Task, project: ProjectPlan, outcome: Outcome) -> None:
        pid, bid = task.project_id, task.backtest_id
        before = task.entry.observed
        if self.archive is not None:
            try:
                outcome.calls += 1
                body = self._call(self.client.read_backtest_raw, pid, bid)
                live = parse.backtest(body["backtest"], pid)
            except NotFoundError:
                outcome.outcome = ALREADY_GONE
                return
            except APIError as exc:
                outcome.outcome, outcome.error = FAILED, f"archive read failed, not deleted: {exc}"
                return
            reason = unsafe_reason(live, project)
            if reason:
                outcome.outcome, outcome.error = FAILED, f"not deleted: {reason} (changed since planning)"
                return
            try:
                outcome.archive = str(self.archive.write(pid, bid, body))
            except (OSError, ValueError) as exc:
                outcome.outcome, outcome.error = FAILED, f"archive write failed, not deleted: {exc}"
                return
        try:
            outcome.calls += 1
            self._call(self.client.delete_backtest, pid, bid)
            outcome.outcome = DELETED
        except NotFoundError:
            outcome.outcome = ALREADY_GONE
        except APIError as exc:
            outcome.outcome, outcome.error = FAILED, str(exc)
        self.journal.record(project=pid, backtest=bid, action="delete", before=before, after=None, outcome=outcome.outcome,
                            error=outcome.error, archive=outcome.archive)

    def _update(self, task: Task, outcome: Outcome) -> None:
        pid, bid = task.project_id, task.backtest_id
        fields = {c.field: c for c in task.changes}
        steps = []
        if "name" in fields or "note" in fields:
            steps.append(("update", [fields[k] for k in ("name", "note") if k in fields]))
        if "tags" in fields:
            steps.append(("update-tags", [fields["tags"]]))
        for action, changes in steps:  # in order: name/note, then tags
            before = {c.field: c.before for c in changes}
            after = {c.field: c.after for c in changes}
            try:
                outcome.calls += 1
                if action == "update":
                    self._call(self.client.update_backtest, pid, bid, name=after.get("name"), note=after.get("note"))
                else:
                    self._call(self.client.update_backtest_tags, pid, bid, after["tags"])
                result, error = UPDATED, None
            except NotFoundError as exc:
                result, error = FAILED, f"backtest is gone: {exc}"
            except APIError as exc:
                result, error = FAILED, str(exc)
            self.journal.record(project=pid, backtest=bid, action=action, before=before, after=after, outcome=result, error=error)
            outcome.outcome, outcome.error = result, error
            if result == FAILED:
                return
