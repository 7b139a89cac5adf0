"""Reviewing a plan (issue 11): a PR comment that always fits, shares its rows fairly, and cannot be hijacked."""

from __future__ import annotations

import json
import random
import re
import subprocess
import unicodedata
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.manifest.build import build_project
from reconciler.models import Action, Change, Reason
from reconciler.plan.model import Entry, Plan, ProjectPlan
from reconciler.plan.render import render_markdown, render_text
from reconciler.plan.untrusted import markdown_safe, terminal_safe

GITHUB_LIMIT = 65_536
NOW = datetime(2026, 11, 28, tzinfo=timezone.utc)
RULES = {"prune": True, "protect_tags": ["protected"], "allow_empty": False, "protect": [], "delete": [{"status": "failed"}], "keep": [{"last": 5}]}


def entry(n: int, action: Action, reason: Reason | str, *, name: str = "", tags: tuple[str, ...] = (), changes: tuple[Change, ...] = ()) -> Entry:
    return Entry(
        f"{n:032x}",
        name or f"Smooth Apricot Chicken {n}",
        NOW - timedelta(hours=n),
        "completed",
        tags,
        action,
        (Reason(reason) if isinstance(reason, str) else reason,),
        changes,
        {"name": name, "tags": list(tags), "status": "completed"} if action != Action.KEEP else None,
    )


def project(project_id: int, entries: list[Entry], name: str = "") -> ProjectPlan:
    return ProjectPlan(project_id, name or f"Project {project_id}", entries, build_project(RULES, id=project_id, name=None))


def plan_of(projects: list[ProjectPlan]) -> Plan:
    return Plan(reference_time="2026-11-28T00:00:00Z", manifest_digest="sha256:" + "0" * 64, api_url="https://www.quantconnect.com/api/v2", projects=projects)


def big_account(projects: int, backtests: int = 100_000) -> Plan:
    rng = random.Random(projects)
    per = backtests // projects
    counter = iter(range(10**9))
    result = []
    for p in range(projects):
        entries = []
        for _ in range(per):
            roll = rng.random()
            action, reason = (
                (Action.DELETE, "prune")
                if roll < 0.6
                else (Action.DELETE, Reason("delete", 0, "status failed"))
                if roll < 0.7
                else (Action.KEEP, "keep[0] (last) 1/5")
            )
            entries.append(entry(next(counter), action, reason, tags=("paper", "baseline") if rng.random() < 0.03 else ()))
        result.append(project(1000 + p, entries, f"Strategy {p} ({rng.choice(['ES', 'NQ', 'FX'])})"))
    return plan_of(result)


@pytest.mark.parametrize("projects", [1, 30, 300, 3000])
def test_the_comment_always_fits_one_github_comment(projects: int) -> None:
    """30 projects gave 66,969 characters and 300 gave 154,203: GitHub refused the comment."""
    plan = big_account(projects)
    text = render_markdown(plan)
    assert len(text) + len("<!-- backtest-reconciler-plan -->\n") <= GITHUB_LIMIT
    assert text.count("<details>") == text.count("</details>")
    summary_rows = [line for line in text.splitlines() if line.startswith("| Strategy ")]
    if projects <= 300:  # every project has its summary line with counts per reason
        assert len(summary_rows) == projects
        assert all(re.search(r"delete: prune [\d,]+ · delete\\\[0\\\] \(status failed\) [\d,]+", row) for row in summary_rows)
    else:  # the most changes first, then one line counting the rest
        assert 300 <= len(summary_rows) < projects
        rest = re.search(r"\| … ([\d,]+) more projects \| \d+ \| ([\d,]+) \|", text)
        assert rest and int(rest.group(1).replace(",", "")) == projects - len(summary_rows)
    assert "| Tags |" in text and ("paper, baseline" in text or projects > 300)
    assert text.count("| `-` delete") >= 40  # whatever the size, reviewers see rows


def test_rows_are_shared_fairly_updates_first() -> None:
    """Two projects with 676 and 40 deletes showed none; the one rename the PR made was invisible."""
    big = project(
        1,
        [entry(n, Action.DELETE, "prune") for n in range(676)]
        + [entry(5000, Action.UPDATE, "declared", changes=(Change("name", "Old", "Renamed in this PR"),))],
    )
    small = project(2, [entry(6000 + n, Action.DELETE, Reason("delete", 0, "status failed")) for n in range(40)])
    other = project(3, [entry(7000 + n, Action.DELETE, "prune") for n in range(3000)])
    text = render_markdown(plan_of([other, big, small]), budget=40_000)
    sections = {s.split("</summary>")[0]: s for s in text.split("<details><summary>")[1:]}
    assert len(sections) == 3  # every project with changes shows rows, the largest does not take them all
    counts = {label.split(":")[0]: section.count("\n| `") for label, section in sections.items()}
    assert counts["Project 2 (2)"] == 40 and counts["Project 1 (1)"] > 40 and counts["Project 3 (3)"] > 40
    assert abs(counts["Project 1 (1)"] - counts["Project 3 (3)"]) <= 1  # round-robin: equal shares while both have rows
    big_section = sections[next(label for label in sections if label.startswith("Project 1 (1)"))]
    assert big_section.index("Renamed in this PR") < big_section.index("| `-` delete")  # updates first


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_untrusted_text_is_neutralised(text: str) -> None:
    """A name like `ping @someone` or `#12` or with ESC, BEL, CR, HTML or a `|` must not act in the comment or the terminal."""
    for safe in (markdown_safe(text), terminal_safe(text)):
        assert not any(unicodedata.category(ch) == "Cc" for ch in safe)
        assert not re.search("[\u202a-\u202e\u2066-\u2069\u2028\u2029]", safe)
    cell = markdown_safe(text)
    assert "<" not in cell and ">" not in cell and "\n" not in cell
    shown = cell.replace("&#8203;", "\u200b")  # as GitHub decodes the entity
    assert not re.search(r"@[A-Za-z0-9_\-]", shown) and not re.search(r"#[0-9]", shown)
    unescaped, index = [], 0
    while index < len(cell):
        if cell[index] == "\\":
            index += 2
            continue
        unescaped.append(cell[index])
        index += 1
    assert not set("|`*_[]~") & set(unescaped)


def test_hostile_names_in_both_views() -> None:
    nasty = "ping @someone and @org/team #12 <img src=x> | \x1b[2J\x07\rline"
    plan = plan_of([project(1, [entry(1, Action.DELETE, "prune", name=nasty, tags=("\x1b[2J", "Paper"))], name="Evil \x1b]0;title\x07")])
    md = render_markdown(plan)
    assert "\x1b" not in md and "\x07" not in md and "\r" not in md and "<img" not in md
    assert "@someone" not in md and "#12" not in md
    text = render_text(plan)
    assert "\x1b" not in text and "\x07" not in text and "\r" not in text
    assert "\\u001b[2J" in text  # visible, so a reviewer sees that something odd is there


def test_apply_shows_a_summary_per_project_and_reason_not_every_row(demo_sandbox, tmp_path) -> None:
    """apply printed the whole plan again before acting (37,000 lines for 20,000 backtests)."""
    from pathlib import Path

    from helpers import cli_env, run_cli

    example = Path(__file__).parent.parent / "examples" / "sandbox-demo.yaml"
    args = [
        "apply",
        str(example),
        "--now",
        "2026-11-28T00:00:00Z",
        "--max-deletes",
        "5000",
        "--journal",
        str(tmp_path / "j.jsonl"),
        "--archive-dir",
        str(tmp_path / "a"),
    ]
    refused = run_cli(*args, input="", env=cli_env(demo_sandbox.url), cwd=tmp_path)  # no terminal, no --yes: shows, then refuses
    assert (
        "Project Momentum v2 (23456789): 2 to update, 1,087 to delete, 151 unchanged (delete: prune 1,030, delete[0] (status failed; older_than 3d) 31, delete[1] (name scratch-*) 26; update: declared 2)"  # noqa: E501
        in refused.stdout
    )
    assert "because prune" not in refused.stdout and len(refused.stdout.splitlines()) < 40
    assert "Notable deletes (39)" in refused.stdout and "… and 29 more: every one is marked `notable` in the plan file" in refused.stdout
    assert "apply --show-plan" in refused.stdout
    full = run_cli(*args, "--show-plan", input="", env=cli_env(demo_sandbox.url), cwd=tmp_path)
    assert full.stdout.count("because prune") > 1000


def test_projects_and_import_help_a_new_user_start(demo_sandbox, tmp_path) -> None:
    from helpers import cli_env, run_cli

    listed = run_cli("projects", env=cli_env(demo_sandbox.url))
    assert listed.returncode == 0 and re.search(r"23456789  Momentum v2\s+1,240", listed.stdout) and "5 projects, 2,040 backtests" in listed.stdout
    imported = run_cli("import", "--project", "Scratch", env=cli_env(demo_sandbox.url))
    assert imported.returncode == 0
    assert "  - id: 23456792  # Scratch" in imported.stdout
    assert re.search(r"      - id: [0-9a-f]{32}  # created \d{4}-\d\d-\d\d \d\d:\d\d, Completed\., Sharpe -?\d", imported.stdout)
    manifest = tmp_path / "scratch.yaml"
    manifest.write_text(imported.stdout)
    assert run_cli("plan", str(manifest), "--detailed-exitcode", env=cli_env(demo_sandbox.url)).returncode == 0


@pytest.mark.parametrize("command", [["plan", "{manifest}"], ["import", "--project", "1001", "--with-notes"], ["snapshot", "{manifest}", "-o", "{out}"]])
def test_ctrl_c_stops_long_reads_within_two_seconds(start_sandbox, tmp_path, command: list[str]) -> None:
    """Ctrl-C during plan printed "interrupted" and then ran to the end; a second Ctrl-C printed a traceback."""
    import signal
    import subprocess
    import sys
    import time

    from reconciler.sandbox.server import Faults

    from helpers import cli_env

    state = {
        "projects": [
            {
                "projectId": 1000 + p,
                "name": f"P{p}",
                "backtests": [
                    {"backtestId": f"{p * 1000 + i:032x}", "name": f"r{i}", "created": "2026-01-01 00:00:00", "status": "Completed.", "note": "n"}
                    for i in range(30)
                ],
            }
            for p in range(20)
        ]
    }
    server = start_sandbox(state=state, faults=Faults(latency_ms=400))
    manifest = tmp_path / "m.yaml"
    manifest.write_text("version: 1\nprojects:\n" + "".join(f"  - id: {1000 + p}\n" for p in range(20)))
    args = [part.format(manifest=manifest, out=tmp_path / "state.json") for part in command]
    proc = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "--retries", "0", *args, "--parallelism", "2"],
        env=cli_env(server.url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    time.sleep(1.5)
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)  # an impatient second Ctrl-C
    out, err = proc.communicate(timeout=30)
    assert time.monotonic() - started < 2.0
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err


def test_long_reads_show_progress_and_retries_say_what_they_wait_for(start_sandbox, tmp_path) -> None:
    from reconciler.sandbox.server import Faults

    from helpers import cli_env, run_cli

    state = {
        "projects": [
            {
                "projectId": 1000 + p,
                "name": f"P{p}",
                "backtests": [
                    {"backtestId": f"{p * 1000 + i:032x}", "name": f"r{i}", "created": "2026-01-01 00:00:00", "status": "Completed."} for i in range(3)
                ],
            }
            for p in range(12)
        ]
    }
    server = start_sandbox(state=state, faults=Faults(latency_ms=450))
    manifest = tmp_path / "m.yaml"
    manifest.write_text("version: 1\nprojects:\n" + "".join(f"  - id: {1000 + p}\n" for p in range(12)))
    result = run_cli("plan", str(manifest), "--parallelism", "2", env=cli_env(server.url))
    assert result.returncode == 0
    assert re.search(r"reading backtests: \d+/\d+ done, 0 failed", result.stderr)  # after two quiet seconds, a line in CI logs
    quick = run_cli("plan", str(manifest), "--parallelism", "12", env=cli_env(server.url))
    assert "reading backtests:" not in quick.stderr  # short work stays quiet
    down = run_cli("--retries", "3", "auth", env=cli_env("http://127.0.0.1:9/api/v2"))
    assert down.returncode == 1 and re.search(r"/authenticate: ConnectionError; retrying in \d+\.\d s \(attempt 4 of 4\)", down.stderr)


# --- the chart: the plan's counts, drawn as Mermaid draws them ---------------------------------------------------


def chart_of(markdown: str) -> dict[str, list]:
    block = re.search(r"```mermaid\n(.*?)```", markdown, re.S)
    assert block, "no chart"
    text = block.group(1)
    labels = json.loads("[" + re.search(r"x-axis \[(.*)\]", text).group(1) + "]")
    totals, kept = (json.loads(f"[{series}]") for series in re.findall(r"bar \[(.*)\]", text))
    return {"source": text, "labels": labels, "totals": totals, "kept": kept}


def months_plan(months: int, per_month: int = 3) -> Plan:
    entries, n = [], 0
    for m in range(months):
        for k in range(per_month):
            n += 1
            created = datetime(2020 + m // 12, m % 12 + 1, 10, tzinfo=timezone.utc)
            entries.append(replace(entry(n, Action.DELETE if k else Action.KEEP, "prune" if k else "declared"), created=created))
    return plan_of([project(1, entries, "P")])


@pytest.mark.parametrize("months", [1, 12, 13, 40])
def test_the_chart_counts_every_backtest_and_names_its_months(months: int) -> None:
    """The chart showed the last 12 months only, without saying so: 226 of the demo's 1,348 deletes were missing."""
    plan = months_plan(months)
    text = render_markdown(plan)
    chart = chart_of(text)
    totals = plan.totals()
    assert sum(chart["totals"]) - sum(chart["kept"]) == totals["delete"]
    assert sum(chart["kept"]) == totals["update"] + totals["unchanged"]
    assert len(chart["labels"]) == min(months, 12)
    if months > 12:
        assert chart["labels"][0].startswith("≤")
        assert "the first bar sums 2020-01 to" in text
    assert f"{totals['delete']:,} deleted" in text


def test_mermaid_draws_the_chart_as_stacked_bars(mermaid_cli: list[str], demo_sandbox, tmp_path: Path) -> None:
    """Two bar series were drawn over each other (kept hidden behind deleted). Rendered by Mermaid's own CLI: per month, the
    kept bar is drawn over the bar of every backtest, in the same place, as tall as its share, so red above green is deleted."""
    from helpers import cli_env, run_cli

    example = Path(__file__).parent.parent / "examples" / "sandbox-demo.yaml"
    result = run_cli("plan", str(example), "--now", "2026-11-28T00:00:00Z", "--format", "markdown", env=cli_env(demo_sandbox.url))
    chart = chart_of(result.stdout)
    document = json.loads(run_cli("plan", str(example), "--now", "2026-11-28T00:00:00Z", "--format", "json", env=cli_env(demo_sandbox.url)).stdout)
    assert sum(chart["totals"]) - sum(chart["kept"]) == document["summary"]["delete"] == 1348
    source = tmp_path / "chart.mmd"
    source.write_text(chart["source"])
    picture = tmp_path / "chart.svg"
    drawn = subprocess.run([*mermaid_cli, "-i", str(source), "-o", str(picture)], capture_output=True, text=True, timeout=120)
    assert drawn.returncode == 0, drawn.stderr[-2000:]
    rects = [dict(re.findall(r'(\w+)="([^"]*)"', rect)) for rect in re.findall(r"<rect [^>]*>", picture.read_text())]
    bars = [r for r in rects if r.get("fill") in ("#c62828", "#2e7d32")]
    red = [r for r in bars if r["fill"] == "#c62828"]
    green = [r for r in bars if r["fill"] == "#2e7d32"]
    assert len(red) == len(green) == len(chart["labels"])
    assert bars.index(green[0]) > bars.index(red[-1])  # the kept series is drawn last: over the other, not hidden behind it
    # Mermaid draws a value v as k*v + c pixels (c: the bars start a little below the axis); the red that shows is (total - kept) * k
    values = [*chart["totals"], *chart["kept"]]
    heights = [float(r["height"]) for r in [*red, *green]]
    high, low = values.index(max(values)), values.index(min(values))
    k = (heights[high] - heights[low]) / (values[high] - values[low])
    assert k > 0
    for r, g, total, kept in zip(red, green, chart["totals"], chart["kept"]):
        assert abs(float(r["x"]) - float(g["x"])) < 0.01 and abs(float(r["width"]) - float(g["width"])) < 0.01  # one bar, stacked
        assert abs(float(r["y"]) + float(r["height"]) - float(g["y"]) - float(g["height"])) < 0.01  # on the same baseline
        assert abs(float(r["height"]) - float(g["height"]) - (total - kept) * k) < 0.5  # the red part is the deletes
