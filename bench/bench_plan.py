"""Benchmark `plan`: pure planning CPU time, and wall time against a slow sandbox vs the lower bound.

Run: python bench/bench_plan.py
Targets (issue 3): 100,000 backtests over 100 projects with 6 rules planned in under
1 s of CPU; with --latency-ms 100 and 40 projects, plan wall time within 1.3x of
ceil(calls / parallelism) x latency.
"""

from __future__ import annotations

import math
import random
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

from reconciler.api.client import QuantConnectClient
from reconciler.api.credentials import Credentials
from reconciler.live import FetchStats, fetch_states
from reconciler.manifest.load import load_manifest
from reconciler.models import Backtest
from reconciler.plan.planner import build_plan
from reconciler.projects import ProjectState
from reconciler.sandbox.seed import seed_from_data
from reconciler.sandbox.server import (
    DEFAULT_API_TOKEN,
    DEFAULT_USER_ID,
    Faults,
    SandboxConfig,
    SandboxServer,
)
from reconciler.sandbox.store import SandboxStore

NOW = datetime(2026, 11, 28, tzinfo=timezone.utc)
RULES = """\
    prune: true
    protect: [{tags: [paper]}]
    delete: [{status: failed, older_than: 3d}]
    keep: [{last: 10}, {daily: 7}, {weekly: 8}, {best: {by: sharpeRatio, count: 5}}]
"""


def write_manifest(directory: Path, project_ids: list[int]) -> Path:
    path = directory / "bench.yaml"
    path.write_text("version: 1\nprojects:\n" + "".join(f"  - id: {pid}\n{RULES}" for pid in project_ids))
    return path


def synthetic_backtests(project_id: int, count: int, rng: random.Random) -> list[Backtest]:
    return [
        Backtest(id=f"{rng.getrandbits(128):032x}", project_id=project_id, name=f"run {i}",
                 created=NOW - timedelta(minutes=rng.randint(0, 2 * 365 * 1440)),
                 status="failed" if rng.random() < 0.1 else "completed", tags=("paper",) if rng.random() < 0.02 else (),
                 statistics={"sharpeRatio": rng.gauss(0.5, 1)})
        for i in range(count)
    ]


def bench_pure(directory: Path) -> float:
    rng = random.Random(1)
    project_ids = list(range(1000, 1100))
    manifest = load_manifest([write_manifest(directory, project_ids)])
    states = [ProjectState(spec, spec.id or 0, "", synthetic_backtests(spec.id or 0, 1000, rng)) for spec in manifest.projects]
    times = []
    for _ in range(7):  # this VM's CPU speed varies by up to 60% from minute to minute: report best and median
        started = time.process_time()
        plan = build_plan(states, NOW, manifest_digest=manifest.digest, api_url="bench")
        times.append(time.process_time() - started)
    best, median = min(times), statistics.median(times)
    entries = sum(len(p.entries) for p in plan.projects)
    print(f"pure planning: {entries:,} backtests over {len(plan.projects)} projects, 6 rules (4 keep policies, 1 protect, 1 delete)")
    print(f"  CPU time {best:.3f} s best of 7, median {median:.3f} s; target < 1 s: {'OK' if best < 1 else 'MISSED'} (ratio to target {best / 1.0:.2f})")
    return best


LABEL_RULES = """\
    prune: true
    protect: [{tags: [paper]}]
    delete: [{status: failed, older_than: 3d}]
    keep: [{last: 10}, {daily: 7}, {weekly: 8}, {best: {by: sharpeRatio, count: 5}, per: optimization}, {last: 1, per: parameters}]
    label:
      - match: {optimization: true}
        name: "opt fast={parameters.fast} slow={parameters.slow}"
        tags: {add: [optimization]}
"""


def bench_labels(directory: Path) -> float:
    """The same 100,000 backtests, a third in optimizations with parameter sets: planning with and without
    `per` policies and a label rule. Target: labels and `per` add at most 30%."""
    rng = random.Random(3)
    project_ids = list(range(1000, 1100))
    plain_path = directory / "same-policies.yaml"  # the same policies, without `per` and without the label rule
    same = LABEL_RULES.replace(", per: optimization", "").replace(", per: parameters", "").split("    label:")[0]
    plain_path.write_text("version: 1\nprojects:\n" + "".join(f"  - id: {pid}\n{same}" for pid in project_ids))
    labelled_path = directory / "labels.yaml"
    labelled_path.write_text("version: 1\nprojects:\n" + "".join(f"  - id: {pid}\n{LABEL_RULES}" for pid in project_ids))
    states_by_id = {}
    for pid in project_ids:
        runs = synthetic_backtests(pid, 1000, rng)
        for i, b in enumerate(runs):
            if i % 3 == 0:
                runs[i] = replace(b, optimization_id=f"O-{pid}-{i % 7}", parameters={"fast": 5 * (1 + i % 10), "slow": 50 * (1 + i % 6)})
        states_by_id[pid] = runs
    results = []
    for path in (plain_path, labelled_path):
        manifest = load_manifest([path])
        states = [ProjectState(spec, spec.id or 0, "", states_by_id[spec.id or 0]) for spec in manifest.projects]
        times = []
        for _ in range(5):
            started = time.process_time()
            build_plan(states, NOW, manifest_digest=manifest.digest, api_url="bench")
            times.append(time.process_time() - started)
        results.append(min(times))
    ratio = results[1] / results[0]
    print(f"labels and per policies over 100,000 backtests: {results[1]:.3f} s vs {results[0]:.3f} s without (best of 5); "
          f"+{(ratio - 1) * 100:.0f}%; target <= +30%: {'OK' if ratio <= 1.3 else 'MISSED'}")
    return ratio


def bench_latency(directory: Path, latency_ms: float = 100, projects: int = 40, parallelism: int = 4) -> float:
    rng = random.Random(2)
    project_ids = list(range(2000, 2000 + projects))
    state = {"projects": [{"projectId": pid, "name": f"P{pid}", "backtests": [
        {"backtestId": f"{rng.getrandbits(128):032x}", "name": f"b{i}", "created": f"2026-0{1 + i % 9}-1{i % 10} 10:00:00", "status": "Completed.",
         "statistics": {"sharpeRatio": rng.gauss(0.5, 1)}} for i in range(50)]} for pid in project_ids]}
    store = SandboxStore(directory / "latency.sqlite")
    seed_from_data(store, state)
    server = SandboxServer(store, SandboxConfig(port=0, faults=Faults(latency_ms=latency_ms))).start()
    try:
        manifest = load_manifest([write_manifest(directory, project_ids)])
        client = QuantConnectClient(Credentials(DEFAULT_USER_ID, DEFAULT_API_TOKEN), server.url, pool_size=parallelism * 2)
        client.authenticate()  # warm the connection pool the way a real run's first call would
        runs = []
        for _ in range(3):
            stats = FetchStats()
            started = time.perf_counter()
            states = fetch_states(client, manifest.projects, parallelism=parallelism, stats=stats)
            build_plan(states, NOW, manifest_digest=manifest.digest, api_url=server.url)
            runs.append(time.perf_counter() - started)
        wall = min(runs)
        bound = math.ceil(stats.calls / parallelism) * latency_ms / 1000
        print(f"plan against the sandbox: {projects} projects, --latency-ms {latency_ms:g}, --parallelism {parallelism}, {stats.calls} API calls")
        print(f"  wall time {wall:.3f} s (best of 3; runs {', '.join(f'{r:.3f}' for r in runs)}); lower bound ceil(calls/P) x latency = {bound:.3f} s")
        print(f"  ratio {wall / bound:.2f}x; target <= 1.3x: {'OK' if wall / bound <= 1.3 else 'MISSED'}")
        return wall / bound
    finally:
        server.stop()
        store.close()


def bench_pathological_regex(directory: Path) -> float:
    """`name_regex: '^(a+)+$'` over 10,000 names, one of them 40 a's and a `!` (Python's re never finishes it)."""
    names = [f"run {n}" for n in range(9_999)] + ["a" * 40 + "!"]
    backtests = [Backtest(id=f"{n:032x}", project_id=1, name=name, created=NOW - timedelta(minutes=n), status="completed")
                 for n, name in enumerate(names)]
    path = directory / "regex.yaml"
    path.write_text("version: 1\nprojects:\n  - id: 1\n    delete: [{name_regex: '^(a+)+$'}]\n")
    manifest = load_manifest([path])
    started = time.perf_counter()
    plan = build_plan([ProjectState(manifest.projects[0], 1, "P", backtests)], NOW, manifest_digest=manifest.digest, api_url="bench")
    seconds = time.perf_counter() - started
    print(f"pathological name_regex '^(a+)+$' over {len(plan.projects[0].entries):,} names (RE2, linear time)")
    print(f"  {seconds:.3f} s; target < 2 s: {'OK' if seconds < 2 else 'MISSED'} (ratio to target {seconds / 2:.3f})")
    return seconds


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        cpu = bench_pure(Path(tmp))
        ratio = bench_latency(Path(tmp))
        regex = bench_pathological_regex(Path(tmp))
        labels = bench_labels(Path(tmp))
    return 0 if cpu < 1 and ratio <= 1.3 and regex < 2 and labels <= 1.3 else 1


if __name__ == "__main__":
    sys.exit(main())
