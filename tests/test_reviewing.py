"""A review a person can act on without the manifest open (docs/design.md, "Reviewing a plan"): reasons with their rule's
text in every view, notable deletes first, warnings for rules that do nothing, an HTML table with before and after."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import pytest

from reconciler.manifest.build import build_project
from reconciler.manifest.model import DeclaredBacktest
from reconciler.models import Action, Reason
from reconciler.plan.html import render_html
from reconciler.plan.model import Plan
from reconciler.plan.planner import build_plan
from reconciler.plan.render import render_markdown, render_summary, render_text
from reconciler.projects import ProjectState

from engine_helpers import bt
from helpers import cli_env, run_cli

NOW = datetime(2026, 11, 28, tzinfo=timezone.utc)
RULES = {"prune": True, "protect_tags": ["protected"], "allow_empty": True, "protect": [], "delete": [{"status": "failed"}],
         "keep": [{"last": 2}, {"within": "14d"}], "label": []}
ROOT = Path(__file__).parent.parent


def plan_of(backtests: list, rules: dict | None = None, declared: tuple = (), warnings: tuple = ()) -> Plan:
    spec = build_project({**RULES, **(rules or {})}, id=1, name=None, backtests=declared)
    return build_plan([ProjectState(spec, 1, "P", backtests)], NOW, manifest_digest="sha256:test", api_url="http://example", warnings=warnings)


def timeline() -> list:
    """Ten old completed runs (pruned), one tagged, one noted, one with the best Sharpe, one cited by a kept run's note."""
    runs = [bt(n, f"2026-0{1 + n % 8}-01 00:00:{n:02d}", stats={"sharpeRatio": n / 10}) for n in range(1, 11)]
    runs[1] = replace(runs[1], tags=("paper",))
    runs[2] = replace(runs[2], note="the one from the memo")
    runs[9] = replace(runs[9], statistics={"sharpeRatio": 9.5})
    kept = bt(20, "2026-11-27", stats={"sharpeRatio": 0.1})
    return [*runs, replace(kept, note=f"compare with {4:032x} before changing the stop"), bt(21, "2026-11-26")]


# --- reasons: records, shown with the rule's own text -------------------------------------------


def test_every_view_shows_the_rules_text_beside_its_index() -> None:
    """`delete\\[0\\] 31`, `keep[1] | 74`: to know what keep[1] was, reviewers opened the manifest."""
    plan = plan_of([bt(1, "2026-11-27"), bt(2, "2026-11-25"), bt(3, "2026-01-01", status="failed"), bt(4, "2026-01-02"), bt(5, "2026-11-20")])
    reasons = {e.id[-1]: e.reasons for e in plan.projects[0].entries}
    assert reasons["3"] == (Reason("delete", 0, "status failed"),) and reasons["4"] == (Reason("prune"),)
    assert reasons["5"] == (Reason("keep", 1, "within 14d"),)
    assert str(reasons["1"][0]) == "keep[0] (last) 1/2"
    text, summary, markdown, page = render_text(plan, show_kept=True), render_summary(plan), render_markdown(plan), render_html(plan)
    assert "because keep[1] (within 14d)" in text and "because delete[0] (status failed)" in text
    assert "delete: delete[0] (status failed) 1, prune 1" in summary
    assert r"delete\[0\] (status failed) 1" in markdown
    assert "delete[0] (status failed)" in page and "keep[1] (within 14d)" in page
    assert not re.search(r"(delete|keep)\[\d\](?! \()", text + summary + page), "an index without its rule's text"


def test_the_plan_file_carries_reasons_as_records(tmp_path: Path) -> None:
    plan = plan_of([bt(1, "2026-11-27"), bt(3, "2026-01-01", status="failed")])
    document = json.loads(plan.to_json())
    assert document["format_version"] == 3
    assert document["projects"][0]["backtests"][1]["reasons"] == [{"rule": "delete", "index": 0, "text": "status failed"}]
    assert Plan.from_dict(document).projects[0].entries[1].reasons == (Reason("delete", 0, "status failed"),)


def test_no_code_reads_a_reason_back_from_its_text() -> None:
    """Labels, grouping and the HTML split reason strings to find the rule; records make that unnecessary."""
    for path in (ROOT / "reconciler").rglob("*.py"):
        source = path.read_text()
        assert not re.search(r"reasons?\[[0-9:]*\]\.(split|startswith|partition)|reason_key\(.*\)\.split|reasons\)\.split", source), path


# --- notable deletes ----------------------------------------------------------------------------


def test_notable_deletes_say_why_and_come_first_in_every_view() -> None:
    """Backtests that carry paper and baseline tags, or a note, were deleted among hundreds of others with nothing that called them out."""
    plan = plan_of(timeline(), {"keep": [{"last": 2}]})
    notable = {e.id: e.notable for _, e in plan.notable}
    assert notable == {f"{2:032x}": ("tagged paper",), f"{3:032x}": ("has a note",),
                       f"{10:032x}": ("best sharpeRatio of its project (9.5)",), f"{9:032x}": ("2nd best sharpeRatio of its project (0.9)",),
                       f"{8:032x}": ("3rd best sharpeRatio of its project (0.8)",),
                       f"{4:032x}": (f"cited in the note of {20:032x}, which is kept",)}
    assert all(e.action == Action.DELETE for _, e in plan.notable)
    for view in (render_text(plan), render_summary(plan), render_markdown(plan), render_html(plan)):
        first = view.index("Notable deletes (6)")
        assert first < view.index(f"{1:032x}") if f"{1:032x}" in view else True
        assert "tagged paper" in view and "has a note" in view and f"cited in the note of {20:032x}" in view
        assert first < min(view.index(marker) for marker in ("Project P", "| P (1) |", "<h2>") if marker in view)
    saved = {b["id"]: b for b in json.loads(plan.to_json())["projects"][0]["backtests"]}
    assert saved[f"{2:032x}"]["notable"] == ["tagged paper"] and "notable" not in saved[f"{1:032x}"]
    assert {e.id: e.notable for _, e in Plan.from_dict(json.loads(plan.to_json())).notable} == notable  # `show` renders the same block


def test_a_note_citing_a_deleted_backtest_counts_only_when_its_own_backtest_is_kept() -> None:
    runs = [bt(1, "2026-11-27"), bt(2, "2026-11-26"), replace(bt(3, "2026-01-01"), note=f"see {4:032x}"), bt(4, "2026-01-02")]
    plan = plan_of(runs, {"keep": [{"last": 2}]})
    assert not any("cited" in why for _, e in plan.notable for why in e.notable)  # 3 is deleted too: its note keeps nothing
    declared = (DeclaredBacktest(id=f"{2:032x}", note=f"the baseline is {4:032x}"),)
    plan = plan_of(runs, {"keep": [{"last": 1}]}, declared=declared)  # a declared note counts as the note it will be
    assert dict((e.id, e.notable) for _, e in plan.notable)[f"{4:032x}"] == (f"cited in the note of {2:032x}, which is kept",)


def test_no_notable_block_when_nothing_notable_is_deleted() -> None:
    plan = plan_of([bt(1, "2026-11-27"), bt(2, "2026-11-26"), bt(3, "2026-01-01")], {"keep": [{"last": 2}]})
    assert plan.totals()["delete"] == 1 and not plan.notable
    assert "Notable" not in render_text(plan) + render_markdown(plan) + render_html(plan)


# --- rules that do nothing ----------------------------------------------------------------------


def test_selectors_and_keep_matches_that_match_nothing_are_warnings() -> None:
    rules = {"protect": [{"name": "release-*"}, {"tags": ["paper"]}], "delete": [{"status": "failed"}, {"name": "scratch-*"}],
             "keep": [{"last": 1}, {"match": {"tags": ["keep"]}}, {"match": {"name": "run 1"}}]}
    runs = [bt(1, "2026-11-27"), replace(bt(2, "2026-11-26"), name="release-2"), bt(3, "2026-01-01", status="failed")]
    warnings = plan_of(runs, rules).projects[0].warnings
    assert warnings == [
        "protect[1] (tags paper) matches no backtest of this project: it protects nothing (check its names, tags and patterns against the live backtests)",
        "delete[1] (name scratch-*) matches no backtest of this project: it deletes nothing (check its names, tags and patterns against the live backtests)",
        "keep[1] (match tags keep) matches no backtest of this project: it keeps nothing (check its names, tags and patterns against the live backtests)"]
    # keep[2] matches run 1, which keep[0] keeps first: it matches, so it is no warning; a selector shadowed by a protect is no warning either
    assert not plan_of([], rules).projects[0].warnings  # a project with no backtest yet: nothing to match


def test_defaults_in_a_file_with_no_project_are_a_warning(demo_sandbox, tmp_path: Path) -> None:
    """`00-defaults.yaml` with `protect_tags: [protected, paper]` validated and protected nothing: defaults apply within their file."""
    folder = tmp_path / "manifests"
    folder.mkdir()
    (folder / "00-defaults.yaml").write_text("version: 1\ndefaults:\n  protect_tags: [protected, paper]\nprojects: []\n")
    (folder / "10-scratch.yaml").write_text("version: 1\nprojects:\n  - name: Scratch\n    prune: true\n    keep: [{last: 5}]\n")
    expected = (f"{folder / '00-defaults.yaml'}:2: `defaults` apply only to the projects of their own file, and this file lists none: "
                "they do nothing. Repeat them in each file that lists projects")
    validated = run_cli("validate", str(folder))
    assert validated.returncode == 0 and f"warning: {expected}" in validated.stderr
    planned = run_cli("plan", str(folder), "--now", "2026-11-28T00:00:00Z", env=cli_env(demo_sandbox.url))
    assert planned.returncode == 0 and f"! warning: {expected}" in planned.stdout
    strict = run_cli("plan", str(folder), "--now", "2026-11-28T00:00:00Z", "--strict", env=cli_env(demo_sandbox.url))
    assert strict.returncode == 1 and f"{expected} (--strict)" in strict.stdout
    document = json.loads(run_cli("plan", str(folder), "--now", "2026-11-28T00:00:00Z", "--format", "json", env=cli_env(demo_sandbox.url)).stdout)
    assert document["warnings"] == [expected]


@pytest.mark.parametrize("now, warned", [("2031-01-01T00:00:00Z", True), (None, False)])
def test_apply_with_a_distant_now_says_so(demo_sandbox, tmp_path: Path, now: str | None, warned: bool) -> None:
    manifest = tmp_path / "m.yaml"
    manifest.write_text("version: 1\nprojects:\n  - name: Scratch\n    prune: true\n    keep: [{last: 100}]\n")
    result = run_cli("apply", str(manifest), *(("--now", now) if now else ()), "--journal", str(tmp_path / "j"), "--archive-dir", str(tmp_path / "a"),
                     input="", env=cli_env(demo_sandbox.url), cwd=tmp_path)
    assert (f"! warning: --now {now} is" in result.stdout and "days ahead of this machine's clock" in result.stdout) == warned, result.stdout[-800:]


# --- the HTML: before and after, every row in a table, no local path -------------------------------


def test_the_html_shows_before_and_after_and_a_filterable_table_of_every_row() -> None:
    """`update because label[0]` on hover with no old and new name, note or tags; no table of rows."""
    declared = (DeclaredBacktest(id=f"{1:032x}", name="Baseline", tags=("paper",)),)
    plan = plan_of([bt(1, "2026-11-27"), bt(2, "2026-11-26"), bt(3, "2026-01-01", status="failed"), bt(4, "2026-01-02")], {"keep": [{"last": 1}]},
                   declared=declared)
    page = render_html(plan)
    assert 'name: &quot;run 1&quot; -&gt; &quot;Baseline&quot;; tags: [] -&gt; [paper]' in page  # in the row and on hover
    assert page.count("update (name: &quot;run 1&quot;") == 1
    rows = re.findall(r"<tr class=\"row a-(\w+) r-(\d+)\">", page)
    assert len(rows) == len(plan.projects[0].entries) == 4
    assert [action for action, _ in rows] == [e.action.value for e in plan.projects[0].entries]
    # one radio button per action and per reason, each with the CSS rule that hides the other rows
    for action in ("update", "keep", "delete"):
        assert f'id="a1-{action}"' in page and f"#a1-{action}:checked~table tr.row:not(.a-{action})" in page
    reasons = set(re.findall(r'<label for="r1-(\d+)">([^<]*)</label>', page))
    assert {label for _, label in reasons} == {"declared", "keep[0] (last)", "delete[0] (status failed)", "prune"}
    for number, _ in reasons:
        assert f"#r1-{number}:checked~table tr.row:not(.r-{number})" in page
    assert "<script" not in page


def test_shared_views_name_no_local_path(tmp_path: Path) -> None:
    """The HTML embedded the local path of the sandbox database."""
    plan = plan_of([bt(1, "2026-11-27")])
    plan.api_url = f"sandbox:{tmp_path}/secret-place/.reconciler/sandbox.sqlite"
    assert "secret-place" in render_text(plan)  # on the user's own terminal the path helps
    assert "secret-place" not in render_html(plan) and "secret-place" not in render_markdown(plan)
    plan.api_url, plan.state = "http://example", {"path": f"{tmp_path}/secret-place/state.json", "recorded_at": "2026-11-27T00:00:00Z", "age": "1 day"}
    assert "secret-place" not in render_html(plan) + render_markdown(plan) and "state.json" in render_html(plan)


def test_the_html_picture_is_the_same_in_every_time_zone(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    saved = tmp_path / "plan.json"
    saved.write_text(plan_of(timeline()).to_json())
    pages = {zone: subprocess.run([sys.executable, "-m", "reconciler", "show", str(saved), "--format", "html"], capture_output=True, text=True,
                                  env={**os.environ, "TZ": zone}, check=True).stdout for zone in ("UTC", "Pacific/Kiritimati", "America/Adak")}
    assert len(set(pages.values())) == 1
    assert re.search(r'<text class="tick start"[^>]*>2026-01-01</text>', pages["UTC"])  # the first period is labelled too


def test_the_heaviest_notable_deletes_come_first() -> None:
    """In the demo, 14 `tagged wip` rows came before the `paper, baseline` runs that rules elsewhere protect."""
    runs = [bt(1, "2026-11-27"), replace(bt(2, "2026-01-05"), tags=("wip",)), replace(bt(3, "2026-01-04"), tags=("Paper",)),
            replace(bt(4, "2026-01-03"), note="memo"), bt(5, "2026-01-02"), replace(bt(6, "2026-11-26"), note=f"see {5:032x}")]
    plan = plan_of(runs, {"keep": [{"last": 2}], "protect": [{"tags": ["keep-me"]}]})
    other = plan_of([replace(bt(9, "2026-11-27"), tags=("paper",))], {"protect": [{"tags": ["paper"]}], "keep": [{"last": 1}]})
    both = build_plan([ProjectState(plan.projects[0].spec, 1, "P", runs), ProjectState(other.projects[0].spec, 2, "Q", [bt(9, "2026-11-27")])],
                      NOW, manifest_digest="sha256:test", api_url="http://example")
    order = [e.id[-1] for _, e in both.notable]
    assert order == ["5", "4", "3", "2"]  # cited, noted, a tag another project protects, any tag
    assert dict((e.id[-1], e.notable) for _, e in both.notable)["3"] == ("tagged Paper (paper protects elsewhere in the manifest)",)
    assert [e.id[-1] for _, e in Plan.from_dict(json.loads(both.to_json())).notable] == order  # `show` keeps the order
