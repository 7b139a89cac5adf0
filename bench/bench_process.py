"""Benchmark whole processes as a user runs them, each against its floor measured in the same run.

Run: python bench/bench_process.py [--million]
- `plan --state` on 100,000 backtests (100 projects, 6 rules), the whole process, best of 3;
  floor: `json.load` of the same file plus the engine (planning prebuilt records). Target <= 1.5 s.
  With --million, the same on 1,000,000 backtests: not refused, and linear (ratio to 10x the 100k time).
- live `plan` process against a sandbox process with --latency-ms 100, 40 projects, parallelism 4:
  target <= the latency bound (ceil(calls / P) x latency) + 0.15 s.
- `reconciler --version`: target <= 40 ms (Python's own start-up is measured alongside).
- the sandbox's /backtests/list of a 10,000-backtest project, with and without statistics:
  target <= 60 ms of CPU per answer, encoding included.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from reconciler.manifest.load import load_manifest
from reconciler.plan.planner import build_plan
from reconciler.projects import ProjectState
from reconciler.statefile import parse_state

NOW = "2026-11-28T00:00:00Z"
RULES = """\
    prune: true
    protect: [{tags: [paper]}]
    delete: [{status: failed, older_than: 3d}]
    keep: [{last: 10}, {daily: 7}, {weekly: 8}, {best: {by: sharpeRatio, count: 5}}]
"""


def write_state(directory: Path, projects: int, per_project: int) -> tuple[Path, Path]:
    rng = random.Random(1)
    end = datetime(2026, 11, 27, tzinfo=timezone.utc)
    document = {"projects": [{"projectId": 1000 + p, "name": f"P{p}", "backtests": [
        {"backtestId": f"{rng.getrandbits(128):032x}", "name": f"run {i}", "note": "",
         "created": (end - timedelta(minutes=rng.randint(0, 2 * 365 * 1440))).strftime("%Y-%m-%d %H:%M:%S"),
         "status": "Runtime Error" if rng.random() < 0.1 else "Completed.", "tags": ["paper"] if rng.random() < 0.02 else [],
         "optimizationId": "", "statistics": {"sharpeRatio": round(rng.gauss(0.5, 1), 3), "drawdown": round(rng.random(), 3)}}
        for i in range(per_project)]} for p in range(projects)]}
    state = directory / f"state-{projects * per_project}.json"
    state.write_text(json.dumps(document, separators=(",", ":")))
    manifest = directory / f"m-{projects}.yaml"
    manifest.write_text("version: 1\nprojects:\n" + "".join(f"  - id: {1000 + p}\n{RULES}" for p in range(projects)))
    return state, manifest


def best_of(runs: int, fn) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def offline(directory: Path, projects: int, per_project: int, runs: int = 3) -> tuple[float, float]:
    state, manifest = write_state(directory, projects, per_project)
    command = [sys.executable, "-m", "reconciler", "plan", str(manifest), "--state", str(state), "--now", NOW]
    process = best_of(runs, lambda: subprocess.run(command, stdout=subprocess.DEVNULL, check=True))
    loaded = load_manifest([manifest])
    records = parse_state(json.loads(state.read_bytes()))
    states = [ProjectState(spec, spec.id or 0, "", project.backtests) for spec, project in zip(loaded.projects, records.projects)]
    now = datetime(2026, 11, 28, tzinfo=timezone.utc)

    def floor() -> None:
        json.loads(state.read_bytes())
        build_plan(states, now, manifest_digest=loaded.digest, api_url="bench")

    return process, best_of(runs, floor)


def live(directory: Path, latency_ms: float = 100, projects: int = 40, parallelism: int = 4) -> tuple[float, float, int]:
    state, manifest = write_state(directory, projects, 50)
    server = subprocess.Popen([sys.executable, "-m", "reconciler", "sandbox", "serve", "--port", "0", "--db", str(directory / "live.sqlite"),
                               "--seed", str(state), "--latency-ms", str(latency_ms)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert server.stdout is not None
        url = next(m.group(1) for line in server.stdout if (m := re.search(r"(http://127\.0\.0\.1:\d+/api/v2)", line)))
        env = {"QC_API_URL": url, "QC_USER_ID": "123456", "QC_API_TOKEN": "sandbox-token-0123456789abcdef", "PATH": "/usr/bin:/bin", "NO_COLOR": "1"}
        command = [sys.executable, "-m", "reconciler", "plan", str(manifest), "--now", NOW, "--parallelism", str(parallelism)]
        wall = best_of(3, lambda: subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True))
    finally:
        server.terminate()
        server.wait()
    calls = projects
    return wall, math.ceil(calls / parallelism) * latency_ms / 1000, calls


def version() -> tuple[float, float]:
    def median(command: list[str]) -> float:
        times = []
        for _ in range(15):
            started = time.perf_counter()
            subprocess.run(command, stdout=subprocess.DEVNULL, check=True)
            times.append(time.perf_counter() - started)
        return statistics.median(times)

    script = Path(sys.executable).parent / "reconciler"
    return median([str(script) if script.exists() else "reconciler", "--version"]), median([sys.executable, "-c", "pass"])


def sandbox_list() -> tuple[float, float]:
    from reconciler.sandbox.server import SandboxApp, SandboxConfig, encode_answer
    from reconciler.sandbox.store import BacktestRow, ProjectRow, SandboxStore

    rng = random.Random(3)
    store = SandboxStore(":memory:")
    rows = [BacktestRow(f"{rng.getrandbits(128):032x}", 1, f"run {i}", "", f"2026-01-{1 + i % 28:02d} 10:00:00", "Completed.", 1.0,
                        "O-1" if i % 3 else "", ["paper"] if i % 50 == 0 else [], {"sharpeRatio": 1.5, "drawdown": 0.1, "trades": 120.0},
                        {"fast": 10, "slow": 50} if i % 3 else {}) for i in range(10_000)]
    store.replace_all([ProjectRow(1, "P", "2026-01-01 00:00:00", "2026-01-01 00:00:00")], rows, "bench")
    app = SandboxApp(store, SandboxConfig())
    result = []
    for with_stats in (False, True):
        times = []
        for _ in range(7):
            started = time.process_time()
            encode_answer({"success": True, "errors": [], **app.backtests_list({"projectId": 1, "includeStatistics": with_stats})})
            times.append(time.process_time() - started)
        result.append(min(times))
    store.close()
    return result[0], result[1]


def archive_ls(directory: Path, count: int = 100_000) -> tuple[float, float]:
    """`reconciler archive ls` over 100,000 archives: from the index, and with the index lost (a scan that parses each file)."""
    from reconciler.apply.records import INDEX_NAME, index_entry_of

    root = directory / "archive"
    lines = []
    for n in range(count):
        project = root / str(1000 + n % 100)
        if n < 100:
            project.mkdir(parents=True)
        document = {"backtest": {"name": f"run {n}", "created": "2026-01-01 00:00:00", "statistics": {"Sharpe Ratio": "1.2"}}, "orders": [], "insights": []}
        (project / f"{n:032x}.json").write_text(json.dumps(document))
        lines.append(json.dumps(index_entry_of(1000 + n % 100, f"{n:032x}", document, "2026-11-29T00:00:00Z", 200)))
    (root / INDEX_NAME).write_text("\n".join(lines) + "\n")
    command = [sys.executable, "-m", "reconciler", "archive", "ls", "--archive-dir", str(root)]
    indexed = best_of(3, lambda: subprocess.run(command, stdout=subprocess.DEVNULL, check=True))
    (root / INDEX_NAME).unlink()
    scanned = best_of(1, lambda: subprocess.run(command, stdout=subprocess.DEVNULL, check=True))
    return indexed, scanned


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--million", action="store_true", help="also plan 1,000,000 backtests offline (about 2 GB of memory)")
    args = parser.parse_args()
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        process, floor = offline(directory, 100, 1000)
        ok &= process <= 1.5
        print(f"plan --state, 100,000 backtests, whole process: {process:.2f} s (best of 3); floor json.load + engine {floor:.2f} s; "
              f"ratio {process / floor:.2f}x; target <= 1.5 s: {'OK' if process <= 1.5 else 'MISSED'}")
        if args.million:
            million, million_floor = offline(directory, 1000, 1000, runs=1)
            print(f"plan --state, 1,000,000 backtests, whole process: {million:.1f} s; floor {million_floor:.1f} s; "
                  f"{million / process:.1f}x the 100,000 time (linear: 10x)")
        indexed, scanned = archive_ls(directory)
        print(f"archive ls over 100,000 archives, whole process: {indexed:.2f} s from the index (best of 3); "
              f"{scanned:.2f} s with the index lost (every file read)")
        wall, bound, calls = live(directory)
        ok &= wall <= bound + 0.15
        print(f"live plan process, 40 projects, --latency-ms 100, parallelism 4, {calls} calls: {wall:.2f} s; latency bound {bound:.2f} s; "
              f"+{wall - bound:.2f} s (target <= +0.15 s: {'OK' if wall <= bound + 0.15 else 'MISSED'})")
    version_time, python_time = version()
    ok &= version_time <= 0.040
    print(f"reconciler --version: {version_time * 1000:.0f} ms median of 15 (python -c pass: {python_time * 1000:.0f} ms); "
          f"target <= 40 ms: {'OK' if version_time <= 0.040 else 'MISSED'}")
    plain, with_stats = sandbox_list()
    ok &= max(plain, with_stats) <= 0.060
    print(f"sandbox /backtests/list of 10,000 backtests: {plain * 1000:.0f} ms CPU, {with_stats * 1000:.0f} ms with statistics (best of 7); "
          f"target <= 60 ms: {'OK' if max(plain, with_stats) <= 0.060 else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
