"""Benchmark `apply`: 1,000 deletes against a sandbox with --latency-ms 50 at --parallelism 8.

Run: python bench/bench_apply.py [--naive-sample N | --full]
Targets: wall time within 1.3x of the lower bound (calls x latency / parallelism;
every delete is preceded by a read, the last check, archived or not) and at least 5x
faster than the naive sequential loop of the QuantConnect documentation example (one
requests.post per call, no session, the same calls). The ratio to the lower bound is
the figure that matters: "x naive" cannot exceed the parallelism. The sandbox runs in its own process, as the real service would.
The naive loop is timed on a sample (default 250 backtests) and scaled to 1,000,
which is exact for a sequential loop up to noise; --full times all of it.
"""

from __future__ import annotations

import argparse
import hashlib
import base64
import json
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from reconciler.api.client import QuantConnectClient
from reconciler.api.credentials import Credentials
from reconciler.apply.executor import ExecutionSettings, Executor
from reconciler.apply.preflight import preflight
from reconciler.apply.records import Archive, Journal
from reconciler.live import fetch_states
from reconciler.models import Outcome
from reconciler.manifest.load import load_manifest
from reconciler.plan.planner import build_plan
from reconciler.sandbox.server import DEFAULT_API_TOKEN, DEFAULT_USER_ID
from reconciler.timeutil import utcnow

PROJECT = 7000001
COUNT = 1000
LATENCY_MS = 50
PARALLELISM = 8


def write_seed(directory: Path) -> Path:
    rng = random.Random(5)
    state = {"projects": [{"projectId": PROJECT, "name": "Bench", "backtests": [
        {"backtestId": f"{rng.getrandbits(128):032x}", "name": f"bench-{i}", "created": f"2026-01-{1 + i % 28:02d} 10:{i % 60:02d}:00",
         "status": "Completed.", "statistics": {"sharpeRatio": 1.0}} for i in range(COUNT)]}]}
    path = directory / "seed.json"
    path.write_text(json.dumps(state))
    return path


def start_server(directory: Path, name: str, seed: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "reconciler", "sandbox", "serve", "--port", "0", "--db", str(directory / f"{name}.sqlite"),
                             "--seed", str(seed), "--latency-ms", str(LATENCY_MS)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        match = re.search(r"(http://127\.0\.0\.1:\d+/api/v2)", line)
        if match:
            return proc, match.group(1)
    raise RuntimeError("sandbox did not start")


def run_apply(directory: Path, url: str, archive: bool) -> tuple[float, float, int]:
    manifest_path = directory / "bench.yaml"
    manifest_path.write_text(f"version: 1\nprojects:\n  - id: {PROJECT}\n    allow_empty: true\n    delete: [{{name: 'bench-*'}}]\n")
    manifest = load_manifest([manifest_path])
    client = QuantConnectClient(Credentials(DEFAULT_USER_ID, DEFAULT_API_TOKEN), url, pool_size=PARALLELISM * 2)
    started = time.perf_counter()
    states = fetch_states(client, manifest.projects, parallelism=PARALLELISM)
    plan = build_plan(states, utcnow(), manifest_digest=manifest.digest, api_url=url, declared_anywhere=manifest.declared_anywhere)
    checked = preflight(plan, {s.project_id: {b.id: b for b in s.backtests} for s in states})
    journal = Journal(directory / f"journal-{archive}.jsonl")
    executed = time.perf_counter()
    execution = Executor(client, journal, Archive(directory / "archive") if archive else None, ExecutionSettings(parallelism=PARALLELISM)).run(
        plan, checked.tasks)
    finished = time.perf_counter()
    journal.close()
    client.close()
    deleted = sum(1 for r in execution.results if r.outcome == Outcome.DELETED)
    assert deleted == COUNT, f"only {deleted} deleted"
    return finished - executed, finished - started, sum(r.calls for r in execution.results)


def naive_loop(url: str, sample: int, archive: bool) -> float:
    """The documentation's pattern: a fresh requests.post (new connection) per call, one at a time."""
    listing = requests.post(f"{url}/backtests/list", json={"projectId": PROJECT}, headers=_headers(), timeout=60).json()["backtests"][:sample]
    started = time.perf_counter()
    for item in listing:  # the same calls apply makes: a read before every delete (the last check), archived or not
        body = requests.post(f"{url}/backtests/read", json={"projectId": PROJECT, "backtestId": item["backtestId"]}, headers=_headers(), timeout=60).json()
        if archive:
            (Path(tempfile.gettempdir()) / f"naive-{item['backtestId']}.json").write_text(json.dumps(body))
        requests.post(f"{url}/backtests/delete", json={"projectId": PROJECT, "backtestId": item["backtestId"]}, headers=_headers(), timeout=60)
    return time.perf_counter() - started


def _headers() -> dict[str, str]:
    timestamp = str(int(time.time()))
    digest = hashlib.sha256(f"{DEFAULT_API_TOKEN}:{timestamp}".encode()).hexdigest()
    return {"Timestamp": timestamp, "Authorization": "Basic " + base64.b64encode(f"{DEFAULT_USER_ID}:{digest}".encode()).decode()}


def rate_limited(directory: Path, count: int = 600, limit: int = 100, window: float = 1.0, parallelism: int = PARALLELISM) -> None:
    """apply --no-archive under a 429 rate limit (limit calls per window): every worker waits for one Retry-After."""
    from reconciler.sandbox.seed import seed_from_data
    from reconciler.sandbox.server import Faults, SandboxConfig, SandboxServer
    from reconciler.sandbox.store import SandboxStore

    rng = random.Random(9)
    store = SandboxStore(directory / "limited.sqlite")
    seed_from_data(store, {"projects": [{"projectId": PROJECT, "name": "Bench", "backtests": [
        {"backtestId": f"{rng.getrandbits(128):032x}", "name": f"bench-{i}", "created": "2026-01-02 10:00:00", "status": "Completed."}
        for i in range(count)]}]})
    server = SandboxServer(store, SandboxConfig(port=0, faults=Faults(rate_limit=limit, rate_window=window))).start()
    try:
        manifest_path = directory / "limited.yaml"
        manifest_path.write_text(f"version: 1\nprojects:\n  - id: {PROJECT}\n    allow_empty: true\n    delete: [{{name: 'bench-*'}}]\n")
        manifest = load_manifest([manifest_path])
        client = QuantConnectClient(Credentials(DEFAULT_USER_ID, DEFAULT_API_TOKEN), server.url, pool_size=parallelism * 2)
        states = fetch_states(client, manifest.projects, parallelism=parallelism)
        plan = build_plan(states, utcnow(), manifest_digest=manifest.digest, api_url=server.url)
        checked = preflight(plan, {s.project_id: {b.id: b for b in s.backtests} for s in states})
        journal = Journal(directory / "journal-limited.jsonl")
        before = server.app.request_count
        started = time.perf_counter()
        execution = Executor(client, journal, None, ExecutionSettings(parallelism=parallelism)).run(plan, checked.tasks)
        elapsed = time.perf_counter() - started
        journal.close()
        calls = sum(r.calls for r in execution.results)
        rejected = server.app.request_count - before - calls
        windows = max(1.0, elapsed / window)
        bound = max(calls / limit * window, calls * 0 / parallelism)
        print(f"apply under a rate limit of {limit} calls per {window:g} s: {count} deletes, {calls} calls, parallelism {parallelism}")
        print(f"  wall time {elapsed:.2f} s; lower bound calls / limit x window = {bound:.2f} s; ratio {elapsed / bound:.2f}x; "
              f"{rejected} answers were 429 ({rejected / windows:.1f} per window; all {parallelism} workers wait for one Retry-After)")
    finally:
        server.stop()
        store.close()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--naive-sample", type=int, default=250)
    parser.add_argument("--full", action="store_true")
    args = parser.parse_args()
    sample = COUNT if args.full else min(args.naive_sample, COUNT)
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        seed = write_seed(directory)
        for archive in (True, False):
            label = "apply (archive on, the default)" if archive else "apply --no-archive"
            server, url = start_server(directory, f"apply-{archive}", seed)
            try:
                execute, total, calls = run_apply(directory, url, archive)
            finally:
                server.terminate()
                server.wait()
            bound = calls * LATENCY_MS / 1000 / PARALLELISM
            server, url = start_server(directory, f"naive-{archive}", seed)
            try:
                naive = naive_loop(url, sample, archive) * COUNT / sample
            finally:
                server.terminate()
                server.wait()
            ratio, speedup = execute / bound, naive / execute
            ok &= ratio <= 1.3 and speedup >= 5
            print(f"{label}: {COUNT:,} deletes, {calls:,} calls, --latency-ms {LATENCY_MS}, --parallelism {PARALLELISM}")
            print(f"  apply wall time {execute:.2f} s (plus {total - execute:.2f} s to plan); lower bound calls x latency / P = {bound:.2f} s; "
                  f"ratio {ratio:.2f}x (target <= 1.3x)")
            print(f"  naive sequential loop, same calls: {naive:.2f} s{'' if sample == COUNT else f' (timed on {sample}, scaled to {COUNT:,})'}; "
                  f"apply is {speedup:.1f}x faster (target >= 5x)")
        rate_limited(directory)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
