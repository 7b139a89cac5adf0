"""Run apply tasks P at a time on the client's one session.

A delete is: read the backtest as it is now, check it against the plan's rules
(docs/design.md, "The last check before a delete"), archive it, journal the intent,
delete, journal the outcome. An update is: name/note, then tags, each journaled
before and after. Every step returns its result; the task's outcome is derived from
them, so a stop between two steps is reported as partly done.

Workers check the stop flag before every call: Ctrl-C, SIGTERM, --fail-fast, a
journal or archive that cannot be written, or a bug start no new call, while the
calls in flight finish and are journaled.
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, Callable

from reconciler.api import parse
from reconciler.api.client import QuantConnectClient
from reconciler.api.errors import APIError, NotFoundError, ResponseFormatError
from reconciler.apply.pacing import Pacer
from reconciler.apply.preflight import Task, last_check
from reconciler.apply.recent import RecentLists
from reconciler.apply.records import (
    Archive,
    ArchiveBudget,
    Journal,
    OverBudget,
    RecordWriteError,
    StagedArchive,
    chart_problem,
    incomplete,
    listed_charts,
    total_orders,
)
from reconciler.defaults import LAST_CHECK_LIST_AGE, PARALLELISM
from reconciler.errors import Terminated
from reconciler.models import Action, Outcome
from reconciler.plan.model import Plan
from reconciler.progress import Progress


@dataclass(frozen=True)
class TaskResult:
    project_id: int
    backtest_id: str
    action: Action
    outcome: Outcome
    error: str | None = None  # what failed (failed, partly-updated, not-started)
    archive: str | None = None
    calls: int = 0
    done: tuple[str, ...] = ()  # the steps (mutating calls) that took effect, in order
    skip_reason: str | None = None  # why the last check kept it (skipped): not an error

    def to_dict(self) -> dict[str, Any]:
        return {"project": self.project_id, "backtest": self.backtest_id, "action": self.action.value, "outcome": self.outcome.value,
                "error": self.error, "skip_reason": self.skip_reason, "archive": self.archive, "calls": self.calls, "done": list(self.done)}


@dataclass
class ExecutionSettings:
    parallelism: int = PARALLELISM
    fail_fast: bool = False
    max_rps: float | None = None
    archive_budget: ArchiveBudget = field(default_factory=ArchiveBudget)


@dataclass
class Execution:
    results: list[TaskResult] = field(default_factory=list)
    interrupted_by: str | None = None  # "SIGINT" or "SIGTERM"
    halted: str | None = None  # why no new call was started before the end
    bug: bool = False  # halted by an unexpected exception (exit 3, "please report")
    list_calls: int = 0  # /backtests/list calls for the last checks' tags (one per project per window, shared by its deletes)


#: How often the last check is made again when archiving took longer than the list's window.
LAST_CHECK_ATTEMPTS = 3


class _Stopped(Exception):
    pass


class _Meter:
    """The calls one task made, and the archive budget of calls and seconds they may not pass."""

    def __init__(self, budget: ArchiveBudget) -> None:
        self.budget = budget
        self.calls = 0
        self.deadline = time.monotonic() + budget.max_seconds

    def check(self, more: int) -> None:
        """Before `more` calls: past the budget, they are not made."""
        if self.calls + more > self.budget.max_calls:
            raise OverBudget(f"past the archive budget of {self.budget.max_calls:,} calls per backtest (raise it with --archive-max-calls)")
        if time.monotonic() > self.deadline:
            raise OverBudget(f"past the archive budget of {self.budget.max_seconds:g} s per backtest (raise it with --archive-max-seconds)")


class Executor:
    def __init__(self, client: QuantConnectClient, journal: Journal, archive: Archive | None, settings: ExecutionSettings,
                 progress: Progress | None = None) -> None:
        self.client = client
        self.journal = journal
        self.archive = archive
        self.settings = settings
        self.progress = progress
        self.pacer = Pacer(settings.max_rps)
        self.recent_lists = RecentLists(lambda project_id: self._call(self.client.list_backtests, project_id), LAST_CHECK_LIST_AGE)
        self.stop = threading.Event()
        self._halted: str | None = None
        self._bug = False
        self._halt_lock = threading.Lock()

    def halt(self, reason: str, bug: bool = False) -> None:
        """Start no new call; the first reason is the one reported."""
        with self._halt_lock:
            if self._halted is None:
                self._halted, self._bug = reason, bug
        self.stop.set()

    def run(self, plan: Plan, tasks: list[Task]) -> Execution:
        execution = Execution()
        finished: queue.SimpleQueue[Future] = queue.SimpleQueue()  # O(1) per completion, unlike wait() over every pending future
        pool = ThreadPoolExecutor(max_workers=max(1, self.settings.parallelism), thread_name_prefix="apply")
        futures: dict[Future, Task] = {}
        for task in tasks:
            future = pool.submit(self._run_task, plan, task)
            futures[future] = task
            future.add_done_callback(finished.put)
        collected = 0
        try:
            while collected < len(futures):
                try:
                    future = finished.get(timeout=0.2)  # a timeout keeps Ctrl-C and SIGTERM responsive
                except queue.Empty:
                    continue
                collected += 1
                result = future.result()
                execution.results.append(result)
                if result.outcome.failed and self.settings.fail_fast:
                    self.halt("--fail-fast: stopped at the first failure")
        except KeyboardInterrupt as exc:
            execution.interrupted_by = "SIGTERM" if isinstance(exc, Terminated) else "SIGINT"
            self.stop.set()
            execution.results = self._drain(pool, futures)
        finally:
            pool.shutdown(wait=True)
            if self.progress:
                self.progress.finish()
        execution.halted, execution.bug = self._halted, self._bug
        execution.list_calls = self.recent_lists.calls
        return execution

    def _drain(self, pool: ThreadPoolExecutor, futures: dict[Future, Task]) -> list[TaskResult]:
        """After an interrupt: let the calls in flight finish (a second Ctrl-C does not cut them), report every task."""
        pool.shutdown(wait=False, cancel_futures=True)
        results = []
        for future, task in futures.items():
            while True:
                try:
                    results.append(future.result() if not future.cancelled() else _not_started(task))
                    break
                except KeyboardInterrupt:
                    continue
        return results

    # --- one backtest ---------------------------------------------------------

    def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self.stop.is_set():
            raise _Stopped
        self.pacer.wait()
        return fn(*args, **kwargs)

    def _run_task(self, plan: Plan, task: Task) -> TaskResult:
        try:
            result = self._delete(plan, task) if task.action == Action.DELETE else self._update(task)
        except _Stopped:
            result = _not_started(task)
        except RecordWriteError as exc:
            self.halt(str(exc))
            result = TaskResult(task.project_id, task.backtest_id, task.action, Outcome.FAILED, f"{exc}; not {task.action.value}d")
        except Exception as exc:  # a bug: never let the queued deletes run on without us
            self.halt(f"internal error ({type(exc).__name__}: {exc})", bug=True)
            result = TaskResult(task.project_id, task.backtest_id, task.action, Outcome.FAILED, f"internal error ({type(exc).__name__}: {exc})")
        if self.progress and result.outcome != Outcome.NOT_STARTED:
            self.progress.tick(result.outcome == Outcome.FAILED)
        return result

    def _delete(self, plan: Plan, task: Task) -> TaskResult:
        """docs/design.md, "Steps and stops": gather what the archive needs (streamed to its file); then the last check on a
        fresh read and on tags from a list at most LAST_CHECK_LIST_AGE seconds old; then the archive is finished with that
        read, the intent line, the call. No call but the journal write comes between the last check and the delete."""
        pid, bid = task.project_id, task.backtest_id
        meter = _Meter(self.settings.archive_budget)

        def result(outcome: Outcome, error: str | None = None, archive: str | None = None, done: tuple[str, ...] = (),
                   skip_reason: str | None = None) -> TaskResult:
            return TaskResult(pid, bid, Action.DELETE, outcome, error, archive, meter.calls, done, skip_reason)

        staged: StagedArchive | None = None
        try:
            # 1. What the archive needs besides the read: every chart the backtest lists, every order and insight.
            charts: dict[str, str | None] = {}
            reported: dict[str, int] = {}
            if self.archive is not None and self.archive.full:
                if self.stop.is_set():
                    raise _Stopped
                try:
                    staged = self.archive.stage(pid, bid, self.settings.archive_budget)
                    charts, reported = self._gather(pid, bid, staged, meter)
                except NotFoundError:
                    return result(Outcome.ALREADY_GONE)
                except (APIError, OverBudget) as exc:
                    return result(Outcome.FAILED, f"archive incomplete, not deleted: {exc}")
            archive: str | None = None
            archived_read: Any = None
            for _ in range(LAST_CHECK_ATTEMPTS):
                # 2. The last check: the backtest as it is now (a read, and its tags from a recent list of its project).
                try:
                    recent = self.recent_lists.get(pid)
                    meter.calls += 1
                    body = self._call(self.client.read_backtest_raw, pid, bid)
                    live = parse.backtest(body["backtest"], pid)
                except NotFoundError:
                    return result(Outcome.ALREADY_GONE, archive=archive)
                except APIError as exc:
                    return result(Outcome.FAILED, f"read before delete failed, not deleted: {exc}", archive=archive)
                listed = recent.backtests.get(bid)
                if listed is None:
                    return result(Outcome.FAILED, "the read found it but its project's list does not: its tags are unknown; not deleted", archive=archive)
                reason = last_check(plan, task, replace(live, tags=listed.tags))
                if not reason and body["backtest"].get("tags") is not None:  # a read that does carry tags is heard too
                    reason = last_check(plan, task, live)
                if reason:
                    return result(Outcome.SKIPPED, skip_reason=f"{reason}; not deleted", archive=archive)
                # 3. The archive, finished with the read the check judged; the intent line; the call.
                if archive is not None and body["backtest"] != archived_read:
                    return result(Outcome.FAILED, "it changed while its archive was written; not deleted (run apply again)", archive=archive)
                if staged is not None and archive is None:
                    missing = incomplete(body["backtest"], charts, staged.counts, reported)
                    if missing:
                        return result(Outcome.FAILED, f"archive incomplete, not deleted: {missing}")
                    try:
                        archive, archived_read = str(staged.finish(body["backtest"])), body["backtest"]
                    except OverBudget as exc:
                        return result(Outcome.FAILED, f"archive incomplete, not deleted: {exc}")
                elif self.archive is not None and archive is None:
                    archive, archived_read = str(self.archive.write(pid, bid, {"backtest": body["backtest"]})), body["backtest"]
                self.pacer.wait()
                self.client.wait_for_rate_limit()
                if recent.age() <= self.recent_lists.max_age:
                    break
            else:
                return result(Outcome.FAILED, f"could not check it within {self.recent_lists.max_age:g} s of the delete call; not deleted", archive=archive)
        finally:
            if staged is not None:
                staged.abandon()  # nothing once it is in place; the partial file otherwise
        self.journal.intend(project=pid, backtest=bid, action="delete", step="delete", before=task.entry.observed, archive=archive)
        meter.calls += 1
        try:
            if self.stop.is_set():
                raise _Stopped
            self.client.delete_backtest(pid, bid)  # paced just above, after the check
            outcome, error = Outcome.DELETED, None
        except _Stopped:
            self.journal.record(project=pid, backtest=bid, action="delete", step="delete", outcome=Outcome.NOT_STARTED.value, error="stopped before the call")
            raise
        except NotFoundError:
            # Gone after we asked: our own earlier attempt whose answer was lost, most likely. Believe it only once a read agrees.
            outcome, error = self._confirm_gone(pid, bid)
            meter.calls += 1
        except APIError as exc:
            outcome, error = Outcome.FAILED, str(exc)
        self.journal.record(project=pid, backtest=bid, action="delete", step="delete", outcome=outcome.value, error=error, archive=archive)
        return result(outcome, error, archive=archive, done=("delete",) if outcome == Outcome.DELETED else ())

    def _gather(self, pid: int, bid: str, staged: StagedArchive, meter: "_Meter") -> tuple[dict[str, str | None], dict[str, int]]:
        """Every chart the read lists with all its points, every order and insight (docs/design.md, "Records"), streamed
        into the staged archive within the budget; each chart's problem (or None) and the `length` the pages reported.
        A part that cannot be fetched: an APIError; past a budget: OverBudget. Either way, no delete."""
        meter.check(1)
        meter.calls += 1
        read = self._call(self.client.read_backtest_raw, pid, bid)["backtest"]
        names = listed_charts(read)
        if names is None:
            raise ResponseFormatError("the read lists its charts in a shape other than an object keyed by name")
        charts: dict[str, str | None] = {}
        for name in names:
            meter.check(1)
            meter.calls += 1
            chart = self._call(self.client.read_chart, pid, bid, name)
            charts[name] = chart_problem(name, chart)
            staged.add_chart(name, chart)
        reported = {}
        for key, endpoint, expected in (("orders", "backtests/orders/read", total_orders(read)), ("insights", "backtests/read/insights", None)):
            staged.start(key)
            walk = self.client.walk_pages(endpoint, key, pid, bid, expected)
            try:
                for page in walk:
                    staged.add(page)
                    if self.stop.is_set():
                        raise _Stopped
                    meter.check(walk.calls + 1)  # the next page
            finally:
                meter.calls += walk.calls
            reported[key] = walk.reported
        return charts, reported

    def _confirm_gone(self, pid: int, bid: str) -> tuple[Outcome, str | None]:
        try:
            self.client.read_backtest_raw(pid, bid)
        except NotFoundError:
            return Outcome.DELETED, None
        except APIError as exc:
            return Outcome.FAILED, f"the delete was answered 'not found' and the check read failed: {exc}"
        return Outcome.FAILED, "the delete was answered 'not found' but the backtest still exists"

    def _update(self, task: Task) -> TaskResult:
        pid, bid = task.project_id, task.backtest_id
        fields = {c.field: c for c in task.changes}
        steps = []
        if "name" in fields or "note" in fields:
            steps.append(("update", [fields[k] for k in ("name", "note") if k in fields]))
        if "tags" in fields:
            steps.append(("update-tags", [fields["tags"]]))
        done: list[str] = []
        calls = 0
        for step, changes in steps:  # in order: name/note, then tags
            try:
                ok, error = self._update_step(pid, bid, step, changes)
            except _Stopped:
                if not done:
                    raise
                return TaskResult(pid, bid, Action.UPDATE, Outcome.PARTLY_UPDATED, f"stopped after {', '.join(done)}: {step} not sent; run apply again",
                                  calls=calls, done=tuple(done))
            calls += 1
            if not ok:
                outcome = Outcome.PARTLY_UPDATED if done else Outcome.FAILED
                return TaskResult(pid, bid, Action.UPDATE, outcome, error if not done else f"{', '.join(done)} done; {step} failed: {error}",
                                  calls=calls, done=tuple(done))
            done.append(step)
        return TaskResult(pid, bid, Action.UPDATE, Outcome.UPDATED, calls=calls, done=tuple(done))

    def _update_step(self, pid: int, bid: str, step: str, changes: list[Any]) -> tuple[bool, str | None]:
        before = {c.field: c.before for c in changes}
        after = {c.field: c.after for c in changes}
        if self.stop.is_set():
            raise _Stopped
        self.journal.intend(project=pid, backtest=bid, action="update", step=step, before=before, after=after)
        try:
            if step == "update":
                self._call(self.client.update_backtest, pid, bid, name=after.get("name"), note=after.get("note"))
            else:
                self._call(self.client.update_backtest_tags, pid, bid, after["tags"])
            ok, error = True, None
        except _Stopped:
            self.journal.record(project=pid, backtest=bid, action="update", step=step, outcome=Outcome.NOT_STARTED.value, error="stopped before the call")
            raise
        except NotFoundError as exc:
            ok, error = False, f"backtest is gone: {exc}"
        except APIError as exc:
            ok, error = False, str(exc)
        self.journal.record(project=pid, backtest=bid, action="update", step=step, before=before, after=after,
                            outcome=(Outcome.UPDATED if ok else Outcome.FAILED).value, error=error)
        return ok, error


def _not_started(task: Task) -> TaskResult:
    return TaskResult(task.project_id, task.backtest_id, task.action, Outcome.NOT_STARTED)
