"""The HTML plan, rendered by a real headless browser (Chromium from the system's packages; .ci/run installs it)."""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import time
import zlib
from pathlib import Path

from reconciler.sandbox.server import SandboxServer

from helpers import cli_env, run_cli

ROOT = Path(__file__).parent.parent
EXAMPLE = ROOT / "examples" / "sandbox-demo.yaml"
NOW = "2026-11-28T00:00:00Z"


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    assert path, "these tests need Chromium: apt-get install -y chromium (.ci/run does it)"
    return path


def browse(page: Path, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                           "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", *extra, page.as_uri()],
                          capture_output=True, text=True, timeout=120)


def png_is_not_blank(path: Path) -> bool:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, index = [], 8
    while index < len(data):
        length, kind = struct.unpack(">I4s", data[index:index + 8])
        if kind == b"IDAT":
            chunks.append(data[index + 8:index + 8 + length])
        index += 12 + length
    pixels = zlib.decompress(b"".join(chunks))
    return len(set(pixels)) > 20


def test_html_plan_in_a_real_browser(demo_sandbox: SandboxServer, tmp_path: Path) -> None:
    saved = tmp_path / "plan.json"
    page = tmp_path / "plan.html"
    planned = run_cli("plan", str(EXAMPLE), "--now", NOW, "--out", str(saved), "--format", "html", env=cli_env(demo_sandbox.url))
    assert planned.returncode == 0, planned.stderr
    page.write_text(planned.stdout)
    shown = run_cli("show", str(saved), "--format", "html")
    assert shown.returncode == 0 and shown.stdout == planned.stdout  # plan and show draw the same picture
    html = page.read_text()
    assert not re.search(r"<script|<link|<img|<iframe|url\(|(src|href)=\"?(https?:)?//", html, re.I)  # self-contained: nothing to fetch
    started = time.monotonic()
    dom = browse(page, tmp_path, "--dump-dom")
    shown_in = time.monotonic() - started
    assert dom.returncode == 0, dom.stderr[-2000:]
    document = json.loads(saved.read_text())
    expected = {"keep": 0, "update": 0, "progress": 0, "delete": 0}
    for project in document["projects"]:
        for backtest in project["backtests"]:
            kind = backtest["action"] if backtest["action"] != "keep" else ("progress" if backtest["reasons"][:1] == [{"rule": "in-progress"}] else "keep")
            expected[kind] += 1
    marks = {kind: len(re.findall(rf'<circle class="mark {kind}"', dom.stdout)) for kind in expected}
    assert marks == expected  # every backtest drawn once, in the lane of what the plan does with it
    assert marks["update"] == document["summary"]["update"] and marks["delete"] == document["summary"]["delete"]
    assert marks["keep"] + marks["progress"] == document["summary"]["unchanged"]
    assert dom.stdout.count('<svg class="statistic" data-statistic="sharpeRatio"') >= 1  # the statistic `best` ranks by
    assert "delete[0] (status failed; older_than 3d)" in dom.stdout  # the rule, on hover
    assert dom.stdout.count('<tr class="row a-') == sum(len(p["backtests"]) for p in document["projects"])  # the table: every row
    assert dom.stdout.count('<tr class="row a-delete') == document["summary"]["delete"]
    assert "Notable deletes (39)" in dom.stdout and ".reconciler" not in dom.stdout  # notable first; no local path
    shot = tmp_path / "shot.png"
    result = browse(page, tmp_path, f"--screenshot={shot}", "--window-size=1200,900")
    assert result.returncode == 0 and shot.exists() and png_is_not_blank(shot)
    assert shown_in < 60


def test_html_neutralises_hostile_names(start_sandbox, tmp_path: Path) -> None:
    state = {"projects": [{"projectId": 1, "name": "<script>alert(1)</script>", "backtests": [
        {"backtestId": "0" * 32, "name": '"><img src=x onerror=alert(1)>\x1b[2J', "created": "2026-01-01 00:00:00", "status": "Completed."},
        {"backtestId": "1" * 32, "name": "b", "created": "2026-01-02 00:00:00", "status": "Completed."}]}]}
    server = start_sandbox(state=state)
    manifest = tmp_path / "m.yaml"
    manifest.write_text("version: 1\nprojects:\n  - id: 1\n    prune: true\n    keep: [{last: 1}]\n")
    result = run_cli("plan", str(manifest), "--format", "html", "--now", NOW, env=cli_env(server.url))
    assert result.returncode == 0
    assert "<script" not in result.stdout and "<img" not in result.stdout and "\x1b" not in result.stdout
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in result.stdout
