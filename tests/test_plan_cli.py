"""`plan`, `show`, `validate` and `import` end to end: the real CLI against a sandbox over HTTP."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Callable

import pytest

from reconciler import __version__
from reconciler.sandbox.server import SandboxServer

from helpers import cli_env, run_cli, run_in_pty

ROOT = Path(__file__).parent.parent
EXAMPLE = ROOT / "examples" / "sandbox-demo.yaml"
NOW = "2026-11-28T00:00:00Z"


def plan(server: SandboxServer, *args: str, manifest: Path = EXAMPLE, cwd: Path | None = None, **env: str):
    return run_cli("plan", str(manifest), "--now", NOW, *args, env=cli_env(server.url, **env), cwd=cwd)


def test_plan_text_shows_changes_with_reasons(demo_sandbox: SandboxServer) -> None:
    result = plan(demo_sandbox)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "\033[" not in out  # no colour when piped
    assert re.search(r"^Plan: 2 to update, [\d,]+ to delete, [\d,]+ unchanged\.$", out, re.M)
    assert '  ~ update 7d63f27d70d66b724a6934243c559195  "Virtual Tan Ant"' in out
    assert 'name: "Virtual Tan Ant" -> "Baseline 2024"' in out
    assert 'note: "" -> "Reference run cited in the research memo"' in out
    assert "tags: [] -> [paper, baseline]" in out
    assert "because delete[0] (status failed; older_than 3d)" in out
    assert "because prune" in out
    assert "Project Scratch (23456792)" in out and "Project Mean Reversion ES (23456790)" in out
    assert "Read 4 projects" in result.stderr


def test_plan_fetches_only_what_the_manifest_needs(demo_sandbox: SandboxServer) -> None:
    assert plan(demo_sandbox).returncode == 0
    calls = demo_sandbox.app.calls_by_endpoint
    assert calls["projects/read"] == 1  # Scratch is named by name
    assert calls["backtests/list"] == 4
    assert calls["backtests/read"] == 1  # only the declared backtest whose note is managed
    assert sum(calls.values()) == 6
    stats = {p["projectId"]: p.get("includeStatistics") for e, p in demo_sandbox.app.recent_calls if e == "backtests/list"}
    assert stats == {23456789: True, 23456792: False, 23456790: True, 23456791: True}


def test_plan_by_id_only_shows_names_without_waiting_for_them(demo_sandbox: SandboxServer, tmp_path: Path) -> None:
    """Id-only manifests showed `Project 23456792:` with no name, though the API knows it: one /projects/read alongside the lists."""
    manifest = tmp_path / "m.yaml"
    manifest.write_text("version: 1\nprojects:\n  - id: 23456792\n    keep: [{last: 3}]\n")
    result = plan(demo_sandbox, manifest=manifest)
    assert result.returncode == 0, result.stderr
    assert dict(demo_sandbox.app.calls_by_endpoint) == {"backtests/list": 1, "projects/read": 1}
    assert "Project Scratch (23456792):" in result.stdout


def test_detailed_exitcode_and_project_filter(demo_sandbox: SandboxServer) -> None:
    assert plan(demo_sandbox, "--detailed-exitcode").returncode == 2
    result = plan(demo_sandbox, "--project", "Scratch", "--project", "23456790")
    assert result.returncode == 0
    assert "Project Scratch" in result.stdout and "(23456790)" in result.stdout and "Momentum" not in result.stdout
    missing = plan(demo_sandbox, "--project", "Nope")
    assert missing.returncode == 1 and "--project 'Nope' is not a project of the manifest" in missing.stderr


def test_json_document(demo_sandbox: SandboxServer) -> None:
    result = plan(demo_sandbox, "--format", "json")
    assert result.returncode == 0
    document = json.loads(result.stdout)  # stdout carries only the document
    assert document["format_version"] == 3 and document["tool_version"] == __version__
    assert document["reference_time"] == NOW
    # what apply needs to re-check a delete without the manifest: the rules and every declared backtest
    assert set(document["declared_anywhere"]) == {"7d63f27d70d66b724a6934243c559195", "e327a6dd80a6f4824bde47ed483c67dc"}
    assert document["manifest_digest"].startswith("sha256:")
    assert document["api_url"] == demo_sandbox.url
    momentum = next(p for p in document["projects"] if p["project_id"] == 23456789)
    assert momentum["rules"]["protect"] == [{"tags": ["paper"]}, {"name": "release-*"}] and momentum["rules"]["prune"] is True
    assert momentum["summary"]["update"] == 2 and len(momentum["backtests"]) == 1240
    baseline = next(b for b in momentum["backtests"] if b["id"] == "7d63f27d70d66b724a6934243c559195")
    assert baseline["action"] == "update" and baseline["reasons"] == [{"rule": "declared"}]
    assert {"field": "name", "before": "Virtual Tan Ant", "after": "Baseline 2024"} in baseline["changes"]
    assert baseline["observed"] == {"name": "Virtual Tan Ant", "tags": [], "status": "completed", "note": ""}
    assert all(b["reasons"] for b in momentum["backtests"])
    assert all("observed" in b for b in momentum["backtests"] if b["action"] != "keep")
    assert "Read 4 projects" in result.stderr


def test_markdown_document(demo_sandbox: SandboxServer) -> None:
    result = plan(demo_sandbox, "--format", "markdown")
    assert result.returncode == 0
    out = result.stdout
    # the first line says what the merge job will do, and why: the demo's clean-up is over the default cap
    assert out.startswith("**Merge will refuse this plan:** it deletes 1,348 backtests, more than --max-deletes 100. "
                          "If they are intended, apply with --max-deletes 1348\n\n### backtest-reconciler plan\n")
    assert "| Project | Update | Delete | Unchanged | Changes by reason |" in out
    assert (
        "| Momentum v2 (23456789) | 2 | 1,087 | 151 | delete: prune 1,030 · delete\\[0\\] (status failed; older\\_than 3d) 31 · delete\\[1\\] (name scratch-\\*) 26; update: declared 2 |"  # noqa: E501
        in out
    )
    assert "`reconciler show plan.json`" in out and "```mermaid" in out
    assert "<details><summary>Momentum v2 (23456789): 2 to update" in out and "</details>" in out
    assert "Virtual Tan Ant" in out and "delete\\[0\\] (status failed" in out
    assert out.count("<details>") == out.count("</details>")
    assert len(out) < 65536


def test_saved_plan_and_show(demo_sandbox: SandboxServer, tmp_path: Path) -> None:
    saved = tmp_path / "plan.json"
    result = plan(demo_sandbox, "--out", str(saved))
    assert result.returncode == 0 and f"reconciler apply --plan {saved}" in result.stderr
    text = saved.read_text()
    assert "sandbox-token" not in text and "Authorization" not in text
    shown = run_cli("show", str(saved), env=cli_env())
    assert shown.returncode == 0
    assert shown.stdout == result.stdout
    as_json = run_cli("show", str(saved), "--format", "json", env=cli_env())
    assert json.loads(as_json.stdout) == json.loads(text)
    (tmp_path / "junk.json").write_text("{}")
    bad = run_cli("show", str(tmp_path / "junk.json"), env=cli_env())
    assert bad.returncode == 1 and "not a plan file" in bad.stderr


def test_show_kept_lists_reasons(demo_sandbox: SandboxServer) -> None:
    out = plan(demo_sandbox, "--show-kept").stdout
    assert "= keep" in out and "because in-progress" in out and "keep[0] (last) 1/10" in out
    assert "protect_tags (protected)" in out and "protect[1] (name release-*)" in out


def test_warnings_and_strict(demo_sandbox: SandboxServer, tmp_path: Path) -> None:
    manifest = tmp_path / "m.yaml"
    manifest.write_text("version: 1\nprojects:\n  - id: 23456792\n    backtests:\n      - id: " + "a" * 32 + "\n")
    loose = plan(demo_sandbox, manifest=manifest)
    assert loose.returncode == 0 and f"warning: declared backtest {'a' * 32} does not exist" in loose.stdout
    strict = plan(demo_sandbox, "--strict", manifest=manifest)
    assert strict.returncode == 1 and "(--strict)" in strict.stdout
    as_json = plan(demo_sandbox, "--format", "json", "--strict", manifest=manifest)
    assert as_json.returncode == 1 and "error:" in as_json.stderr and json.loads(as_json.stdout)["projects"][0]["errors"]


def test_guard_refuses_emptying_a_project(demo_sandbox: SandboxServer, tmp_path: Path) -> None:
    """Issue 8, case 4: running or queued backtests do not make an emptied project non-empty, and
    prune with no rules at all is "delete everything", refused unless allow_empty says so."""
    manifest = tmp_path / "m.yaml"
    manifest.write_text("version: 1\nprojects:\n  - id: 23456792\n    prune: true\n")
    result = plan(demo_sandbox, manifest=manifest)
    assert result.returncode == 1 and 'prune: true with no keep, protect or declared backtests can only mean "delete everything"' in result.stdout
    store = demo_sandbox.store
    in_progress = [row for row in store.backtests(23456792) if row.status.startswith(("Running", "In Queue"))]
    assert in_progress  # the demo's Scratch has a running and a queued backtest
    for row in store.backtests(23456792):
        if "protected" in row.tags:  # completed backtests kept by the protected tag would keep the project alive
            store.delete_backtest(23456792, row.backtest_id)
    manifest.write_text("version: 1\nprojects:\n  - id: 23456792\n    prune: true\n    delete: [{status: completed}]\n    keep: [{last: 3}]\n")
    result = plan(demo_sandbox, "--detailed-exitcode", manifest=manifest)
    assert result.returncode == 1
    assert "this plan would leave the project without a single completed backtest" in result.stdout and "set allow_empty: true" in result.stdout
    manifest.write_text(manifest.read_text() + "    allow_empty: true\n")
    assert plan(demo_sandbox, "--detailed-exitcode", manifest=manifest).returncode == 2


@pytest.mark.parametrize(
    "body, fragment",
    [
        ("  - id: 1\n", "does not exist or is not accessible to this user 123456"),
        ("  - name: Nope\n", "project 'Nope' ("),
        ("  - name: scratch\n", "did you mean 'Scratch'?"),
    ],
)
def test_unknown_projects_are_one_line_errors(demo_sandbox: SandboxServer, tmp_path: Path, body: str, fragment: str) -> None:
    manifest = tmp_path / "m.yaml"
    manifest.write_text("version: 1\nprojects:\n" + body)
    result = plan(demo_sandbox, manifest=manifest)
    assert result.returncode == 1
    assert fragment in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_ambiguous_project_name(start_sandbox: Callable[..., SandboxServer], tmp_path: Path) -> None:
    state = {"projects": [{"projectId": 11, "name": "Twin", "backtests": []}, {"projectId": 12, "name": "Twin", "backtests": []}]}
    server = start_sandbox(state=state)
    manifest = tmp_path / "m.yaml"
    manifest.write_text("version: 1\nprojects:\n  - name: Twin\n")
    result = plan(server, manifest=manifest)
    assert result.returncode == 1 and "is ambiguous: ids 11, 12; use id: instead of name:" in result.stderr


def test_auth_failure_network_down_and_bad_input(demo_sandbox: SandboxServer, tmp_path: Path) -> None:
    auth = plan(demo_sandbox, QC_API_TOKEN="wrong-token")
    assert auth.returncode == 1 and "authentication failed for QuantConnect user id 123456" in auth.stderr
    assert "wrong-token" not in auth.stderr + auth.stdout and "Traceback" not in auth.stderr
    down = run_cli("--retries", "1", "plan", str(EXAMPLE), env=cli_env("http://127.0.0.1:9/api/v2"))
    assert down.returncode == 1 and "failed after 2 attempts" in down.stderr and "Traceback" not in down.stderr
    bad_now = plan(demo_sandbox, "--now", "tomorrow")
    assert bad_now.returncode == 1 and "--now 'tomorrow' is not a timestamp" in bad_now.stderr
    usage = run_cli("plan", env=cli_env(demo_sandbox.url))
    assert usage.returncode == 1  # usage errors exit 1, never 2 (2 means "changes")
    verbose = run_cli("--verbose", "plan", str(tmp_path / "missing.yaml"), env=cli_env(demo_sandbox.url))
    assert verbose.returncode == 1 and "Traceback" in verbose.stderr


def test_invalid_manifest_fails_before_any_network_call(demo_sandbox: SandboxServer, tmp_path: Path) -> None:
    manifest = tmp_path / "m.yaml"
    manifest.write_text("version: 1\nprojects:\n  - id: 1\n    keep: [{daily: 0}]\n")
    result = plan(demo_sandbox, manifest=manifest)
    assert result.returncode == 1 and "m.yaml:4 projects[0].keep[0].daily: must be a positive integer" in result.stderr
    assert demo_sandbox.app.request_count == 0
    valid = run_cli("validate", str(manifest), env=cli_env())
    assert valid.returncode == 1 and "must be a positive integer" in valid.stderr


def test_validate_offline() -> None:
    result = run_cli("validate", str(ROOT / "examples"), env=cli_env("http://127.0.0.1:9/api/v2"))
    assert result.returncode == 0 and "Manifest OK" in result.stdout


def test_import_round_trip(demo_sandbox: SandboxServer, tmp_path: Path) -> None:
    result = run_cli("import", "--project", "23456789", env=cli_env(demo_sandbox.url))
    assert result.returncode == 0, result.stderr
    (tmp_path / "momentum.yaml").write_text(result.stdout)
    assert result.stdout.startswith("# yaml-language-server: $schema=")
    assert "prune: false" in result.stdout and "note:" not in result.stdout
    with_notes = run_cli("import", "--project", "Scratch", "--with-notes", env=cli_env(demo_sandbox.url))
    assert with_notes.returncode == 0 and 'note: "Candidate for live paper trading"' in with_notes.stdout
    (tmp_path / "scratch.yaml").write_text(with_notes.stdout)
    check = run_cli("plan", str(tmp_path), "--detailed-exitcode", env=cli_env(demo_sandbox.url))
    assert check.returncode == 0, check.stdout + check.stderr
    assert "Plan: 0 to update, 0 to delete, 1,300 unchanged." in check.stdout
    missing = run_cli("import", "--project", "Nope", env=cli_env(demo_sandbox.url))
    assert missing.returncode == 1 and "project 'Nope' does not exist" in missing.stderr


def test_colour_only_on_a_terminal(demo_sandbox: SandboxServer, tmp_path: Path) -> None:
    env = {k: v for k, v in cli_env(demo_sandbox.url).items() if k != "NO_COLOR"}
    args = ["plan", str(EXAMPLE), "--now", NOW, "--project", "Scratch"]
    code, coloured = run_in_pty(args, {**env, "TERM": "xterm"}, tmp_path)
    assert code == 0 and "\033[31m  - delete" in coloured
    code, plain = run_in_pty(["--no-color", *args], {**env, "TERM": "xterm"}, tmp_path)
    assert code == 0 and "\033[" not in plain and "  - delete" in plain
    code, plain = run_in_pty(args, {**env, "NO_COLOR": "1"}, tmp_path)
    assert code == 0 and "\033[" not in plain
    piped = run_cli(*args, env=env)
    assert piped.returncode == 0 and "\033[" not in piped.stdout
