"""Benchmark `apply`: 1,000 deletes against a sandbox with --latency-ms 50 at --parallelism 8.

Run: python bench/bench_apply.py [--naive-sample N | --full]
Targets: wall time within 1.3x of the lower bound (calls x latency / parallelism;
every delete is preceded by a read, the last check, archived or not, and the last checks
of the project share a /backtests/list about every second: counted) and at least 5x
faster than the naive sequential loop of the QuantConnect documentation example (one
requests.post per call, no session, the same calls). The ratio to the lower bound is
the figure that matters: "x naive" cannot exceed the parallelism. The sandbox runs in its own process, as the real service would.
The naive loop is timed on a sample (default 250 backtests) and scaled to 1,000,
which is exact for a sequential loop up to noise; --full times all of it.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
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
from reconciler.manifest.load import load_manifest
from reconciler.models import Outcome
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
         "status": "Completed.", "statistics": {"sharpeRatio": 1.0, "trades": 150}} for i in range(COUNT)]}]}  # 150 orders: 2 pages
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


def run_apply(directory: Path, url: str, archive: str | None) -> tuple[float, float, int, int]:
    """(apply seconds, seconds with planning, every call apply made, the /backtests/list calls among them)."""
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
    records = Archive(directory / f"archive-{archive}", full=archive == "full") if archive else None
    execution = Executor(client, journal, records, ExecutionSettings(parallelism=PARALLELISM)).run(plan, checked.tasks)
    finished = time.perf_counter()
    journal.close()
    client.close()
    deleted = sum(1 for r in execution.results if r.outcome == Outcome.DELETED)
    assert deleted == COUNT, f"only {deleted} deleted"
    return finished - executed, finished - started, sum(r.calls for r in execution.results) + execution.list_calls, execution.list_calls


def naive_loop(url: str, sample: int, archive: bool) -> float:
    """The documentation's pattern: a fresh requests.post (new connection) per call, one at a time."""
    listing = requests.post(f"{url}/backtests/list", json={"projectId": PROJECT}, headers=_headers(), timeout=60).json()["backtests"][:sample]
    started = time.perf_counter()
    for item in listing:  # the calls apply makes: a read before every delete (the last check), archived or not (apply's lists aside)
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
        calls = sum(r.calls for r in execution.results) + execution.list_calls
        rejected = server.app.request_count - before - calls
        windows = max(1.0, elapsed / window)
        bound = max(calls / limit * window, calls * 0 / parallelism)
        print(f"apply under a rate limit of {limit} calls per {window:g} s: {count} deletes, {calls} calls, parallelism {parallelism}")
        print(f"  wall time {elapsed:.2f} s; lower bound calls / limit x window = {bound:.2f} s; ratio {elapsed / bound:.2f}x; "
              f"{rejected} answers were 429 ({rejected / windows:.1f} per window; all {parallelism} workers wait for one Retry-After)")
    finally:
        server.stop()
        store.close()


def large_backtest(directory: Path, orders: int = 20_000) -> None:
    """One backtest with 20,000 orders (203 pages) and its charts, archived in bounded memory and time (no latency)."""
    import resource

    from reconciler.sandbox.seed import seed_from_data
    from reconciler.sandbox.server import SandboxConfig, SandboxServer
    from reconciler.sandbox.store import SandboxStore

    bid = "f" * 32
    store = SandboxStore(directory / "large.sqlite")
    seed_from_data(store, {"projects": [{"projectId": PROJECT, "name": "Large", "backtests": [
        {"backtestId": bid, "name": "large", "created": "2026-01-02 10:00:00", "status": "Completed.", "statistics": {"trades": orders}}]}]})
    server = SandboxServer(store, SandboxConfig(port=0)).start()
    try:
        client = QuantConnectClient(Credentials(DEFAULT_USER_ID, DEFAULT_API_TOKEN), server.url)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        body = client.read_backtest_raw(PROJECT, bid)
        document = {"backtest": body["backtest"], "charts": {n: client.read_chart(PROJECT, bid, n) for n in body["backtest"]["charts"]},
                    "orders": [order for page in client.walk_pages("backtests/orders/read", "orders", PROJECT, bid, None) for order in page],
                    "insights": [item for page in client.walk_pages("backtests/read/insights", "insights", PROJECT, bid, None) for item in page]}
        path = Archive(directory / "archive-large").write(PROJECT, bid, document)
        elapsed = time.perf_counter() - started
        grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
        print(f"one backtest with {len(document['orders']):,} orders, {len(document['insights']):,} insights and {len(document['charts'])} charts: "
              f"archived in {elapsed:.1f} s (in-process sandbox, no latency); {path.stat().st_size / 2**20:.1f} MiB file; peak memory +{grown:.0f} MiB")
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
        for archive in ("full", "summary", None):
            label = {"full": "apply --archive full (the default: read, 3 charts, 2 pages of orders, 1 of insights, delete)",
                     "summary": "apply --archive summary", None: "apply --no-archive"}[archive]
            server, url = start_server(directory, f"apply-{archive}", seed)
            try:
                execute, total, calls, lists = run_apply(directory, url, archive)
            finally:
                server.terminate()
                server.wait()
            bound = calls * LATENCY_MS / 1000 / PARALLELISM
            if archive == "full":  # the naive loop would take minutes here; the ratio to the lower bound is the figure
                ratio = execute / bound
                ok &= ratio <= 1.15
                size = sum(p.stat().st_size for p in (directory / "archive-full").rglob("*.json"))
                print(f"{label}: {COUNT:,} deletes, {calls:,} calls ({lists} of them /backtests/list for the last check's tags), "
                      f"--latency-ms {LATENCY_MS}, --parallelism {PARALLELISM}")
                print(f"  apply wall time {execute:.2f} s; lower bound calls x latency / P = {bound:.2f} s; ratio {ratio:.2f}x (target <= 1.15x); "
                      f"archives {size / 2**20:.0f} MiB ({size / COUNT / 1024:.0f} KiB each)")
                continue
            server, url = start_server(directory, f"naive-{archive}", seed)
            try:
                naive = naive_loop(url, sample, archive is not None) * COUNT / sample
            finally:
                server.terminate()
                server.wait()
            ratio, speedup = execute / bound, naive / execute
            ok &= ratio <= 1.3 and speedup >= 5
            print(f"{label}: {COUNT:,} deletes, {calls:,} calls ({lists} of them /backtests/list for the last check's tags), "
                  f"--latency-ms {LATENCY_MS}, --parallelism {PARALLELISM}")
            print(f"  apply wall time {execute:.2f} s (plus {total - execute:.2f} s to plan); lower bound calls x latency / P = {bound:.2f} s; "
                  f"ratio {ratio:.2f}x (target <= 1.3x)")
            print(f"  naive sequential loop, same calls: {naive:.2f} s{'' if sample == COUNT else f' (timed on {sample}, scaled to {COUNT:,})'}; "
                  f"apply is {speedup:.1f}x faster (target >= 5x)")
        rate_limited(directory)
        large_backtest(directory)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
