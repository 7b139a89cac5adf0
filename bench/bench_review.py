"""Benchmark the review views: the PR comment's size, and the HTML report's size and time to draw in Chromium.

Run: python bench/bench_review.py
Targets (docs/design.md, "Reviewing a plan"): the markdown comment for 1, 30, 300 and 3,000 projects
(100,000 backtests in all, planned by the real planner, ~2% tagged) stays within GitHub's 65,536
characters; the HTML report of 100,000 backtests (every row in its table) is drawn by headless
Chromium, and the benchmark prints its size and the time to a screenshot.
"""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from reconciler.manifest.load import load_manifest
from reconciler.plan.html import render_html
from reconciler.plan.planner import build_plan
from reconciler.plan.render import render_markdown
from reconciler.projects import ProjectState

from bench_plan import NOW, synthetic_backtests, write_manifest

GITHUB_LIMIT = 65_536
MARKER = "<!-- backtest-reconciler-plan -->\n"  # the line the CI recipes add


def planned(directory: Path, projects: int, backtests: int = 100_000):
    rng = random.Random(projects)
    manifest = load_manifest([write_manifest(directory, list(range(1000, 1000 + projects)))])
    per = backtests // projects
    states = [ProjectState(spec, spec.id or 0, f"Strategy {spec.id}", synthetic_backtests(spec.id or 0, per, rng)) for spec in manifest.projects]
    return build_plan(states, NOW, manifest_digest=manifest.digest, api_url="https://www.quantconnect.com/api/v2")


def bench_markdown(directory: Path) -> bool:
    fits = True
    for projects in (1, 30, 300, 3000):
        plan = planned(directory, projects)
        started = time.process_time()
        text = render_markdown(plan)
        seconds = time.process_time() - started
        size = len(text) + len(MARKER)
        fits &= size <= GITHUB_LIMIT
        print(f"markdown comment, {projects:>5,} projects, {plan.totals()['delete']:,} deletes, {len(plan.notable):,} notable: "
              f"{size:,} characters ({size / GITHUB_LIMIT:.0%} of GitHub's 65,536) in {seconds:.2f} s CPU: {'OK' if size <= GITHUB_LIMIT else 'TOO LARGE'}")
    return fits


def bench_html(directory: Path) -> float:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    plan = planned(directory, 100)
    started = time.process_time()
    page = render_html(plan)
    rendered = time.process_time() - started
    path = directory / "plan.html"
    path.write_text(page)
    print(f"HTML report, 100,000 backtests over 100 projects: {len(page.encode()) / 2**20:.1f} MiB, rendered in {rendered:.2f} s CPU")
    if chromium is None:
        print("  Chromium not found: apt-get install -y chromium to time the drawing")
        return 0.0
    times = []
    for _ in range(3):
        started = time.monotonic()
        subprocess.run([chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", f"--user-data-dir={directory / 'profile'}",
                        f"--screenshot={directory / 'shot.png'}", "--window-size=1200,900", path.as_uri()],
                       check=True, capture_output=True, timeout=600)
        times.append(time.monotonic() - started)
    print(f"  headless Chromium, start to screenshot: {min(times):.1f} s best of 3 (median {sorted(times)[1]:.1f} s)")
    return min(times)


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        fits = bench_markdown(Path(tmp))
        bench_html(Path(tmp))
    return 0 if fits else 1


if __name__ == "__main__":
    sys.exit(main())
