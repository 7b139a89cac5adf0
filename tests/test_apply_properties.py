"""Property: for random manifests and live states, apply followed by plan reports no changes (over real HTTP)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from conftest import make_client
from hypothesis import HealthCheck, given, settings

from reconciler.api.client import QuantConnectClient
from reconciler.apply.executor import ExecutionSettings, Executor
from reconciler.apply.preflight import preflight
from reconciler.apply.records import Archive, Journal
from reconciler.live import fetch_states, reread_live
from reconciler.manifest.model import ProjectSpec
from reconciler.models import Backtest, Outcome
from reconciler.plan.planner import build_plan
from reconciler.sandbox.seed import seed_from_data
from reconciler.sandbox.server import SandboxConfig, SandboxServer
from reconciler.sandbox.store import SandboxStore

from strategies import NOW, scenario

RAW_STATUS = {"completed": "Completed.", "failed": "Runtime Error", "running": "Running: 50%", "queued": "In Queue..."}


@pytest.fixture(scope="module")
def shared_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    store = SandboxStore(tmp_path_factory.mktemp("prop") / "prop.sqlite")
    server = SandboxServer(store, SandboxConfig(port=0)).start()
    yield server
    server.stop()
    store.close()


def seed(server: SandboxServer, live: list[Backtest]) -> None:
    seed_from_data(server.store, {"projects": [{"projectId": 1, "name": "P", "backtests": [
        {"backtestId": b.id, "name": b.name, "created": b.created.strftime("%Y-%m-%d %H:%M:%S"), "status": RAW_STATUS.get(b.status, b.status),
         "tags": list(b.tags), "optimizationId": b.optimization_id or "", "statistics": dict(b.statistics)} for b in live]}]})


def _apply_then_plan(server: SandboxServer, tmp_path: Path, spec: ProjectSpec, live: list[Backtest]) -> None:
    seed(server, live)
    with make_client(server) as client:  # closed after each example: its keep-alive connections are not left to the sandbox
        _check(server, client, tmp_path, spec)


def _check(server: SandboxServer, client: QuantConnectClient, tmp_path: Path, spec: ProjectSpec) -> None:
    states = fetch_states(client, [spec], parallelism=2)
    plan = build_plan(states, NOW, manifest_digest="test", api_url=client.api_url)
    if plan.errors:  # the empty-project guard, or a label that would change a decision: nothing may be applied
        return
    # as `apply --plan` does: the live state read again, archives on, every delete re-read and re-checked before its call
    checked = preflight(plan, reread_live(client, plan, parallelism=2))
    assert not checked.stale and not checked.unsafe
    journal = Journal(tmp_path / "journal.jsonl")
    try:
        execution = Executor(client, journal, Archive(tmp_path / "archive"), ExecutionSettings(parallelism=3)).run(plan, checked.tasks)
    finally:
        journal.close()
    assert {r.outcome for r in execution.results} <= {Outcome.UPDATED, Outcome.DELETED}, execution.results
    after = build_plan(fetch_states(client, [spec], parallelism=2), NOW, manifest_digest="test", api_url=client.api_url)
    assert not after.errors, after.errors
    assert not after.has_changes, [(e.id, e.action, e.reasons) for p in after.projects for e in p.actions]  # no delete nobody reviewed
    kept = {e.id for p in plan.projects for e in p.entries if e.action != "delete"}
    assert {b.backtest_id for b in server.store.backtests(1)} == kept
    deleted = {e.id for p in plan.projects for e in p.entries if e.action == "delete"}
    assert {path.stem for path in (tmp_path / "archive").rglob("*.json")} >= deleted


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(scenario())
def test_apply_then_plan_reports_no_changes(shared_sandbox: SandboxServer, tmp_path: Path, case: tuple[ProjectSpec, list[Backtest]]) -> None:
    _apply_then_plan(shared_sandbox, tmp_path, *case)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(scenario(labelled=True))
def test_with_labels_plan_apply_plan_shows_no_change_and_no_delete_nobody_reviewed(shared_sandbox: SandboxServer, tmp_path: Path,
                                                                                 case: tuple[ProjectSpec, list[Backtest]]) -> None:
    """Issue 16: for any manifest with labels and any state, plan, apply, plan again: no changes, no deletes the first plan did not show."""
    _apply_then_plan(shared_sandbox, tmp_path, *case)
