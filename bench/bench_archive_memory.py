"""Benchmark: apply's peak memory while archiving one backtest whose orders grow from 1,000 to 1,000,000.

Run: python bench/bench_archive_memory.py [--sizes 1000,10000,100000,1000000]
Target: peak memory flat (within a few MiB) whatever the number of orders: pages stream to
the archive file, memory holds one answer at a time (docs/design.md, "Records"). Each size
is one `reconciler apply` process against a sandbox in its own process (no latency); its
peak resident memory comes from the kernel (wait4), not from inside.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from reconciler.sandbox.server import DEFAULT_API_TOKEN, DEFAULT_USER_ID

PROJECT = 7000002
BID = "0123456789abcdef0123456789abcdef"


def run(directory: Path, orders: int) -> tuple[float, float, int]:
    seed = directory / f"seed-{orders}.json"
    seed.write_text(json.dumps({"projects": [{"projectId": PROJECT, "name": "Large", "backtests": [
        {"backtestId": BID, "name": "large", "created": "2026-01-02 10:00:00", "status": "Completed.", "statistics": {"trades": orders}},
        {"backtestId": "f" * 32, "name": "kept", "created": "2026-01-03 10:00:00", "status": "Completed."}]}]}))
    server = subprocess.Popen([sys.executable, "-m", "reconciler", "sandbox", "serve", "--port", "0", "--db", str(directory / f"db-{orders}.sqlite"),
                               "--seed", str(seed)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert server.stdout is not None
    url = next(m.group(1) for line in server.stdout if (m := re.search(r"(http://127\.0\.0\.1:\d+/api/v2)", line)))
    manifest = directory / "m.yaml"
    manifest.write_text(f"version: 1\nprojects:\n  - id: {PROJECT}\n    delete: [{{name: large}}]\n")
    env = {**os.environ, "QC_USER_ID": DEFAULT_USER_ID, "QC_API_TOKEN": DEFAULT_API_TOKEN, "QC_API_URL": url}
    try:
        started = time.perf_counter()
        apply = subprocess.Popen([sys.executable, "-m", "reconciler", "apply", str(manifest), "--yes", "--archive-dir", str(directory / f"a-{orders}"),
                                  "--journal", str(directory / f"j-{orders}.jsonl")], env=env, cwd=directory, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert apply.stdout is not None
        output = apply.stdout.read().decode()
        _, status, usage = os.wait4(apply.pid, 0)
        elapsed = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait()
    assert os.waitstatus_to_exitcode(status) == 0 and "1 deleted (1 archived)" in output, output[-2000:]
    size = (directory / f"a-{orders}" / str(PROJECT) / f"{BID}.json").stat().st_size
    return usage.ru_maxrss / 1024, elapsed, size


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,10000,100000,1000000")
    sizes = [int(n) for n in parser.parse_args().sizes.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        results = [(n, *run(Path(tmp), n)) for n in sizes]
    base = results[0][1]
    for orders, peak, elapsed, size in results:
        print(f"{orders:>9,} orders: apply peak memory {peak:6.1f} MiB ({peak - base:+.1f} MiB against {sizes[0]:,}); "
              f"{elapsed:6.1f} s; archive {size / 2**20:7.1f} MiB")
    growth = results[-1][1] - base
    print(f"peak memory grew {growth:+.1f} MiB from {sizes[0]:,} to {sizes[-1]:,} orders (target: within a few MiB)")
    return 0 if growth <= 8 else 1


if __name__ == "__main__":
    sys.exit(main())
