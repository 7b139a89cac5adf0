"""Recorded states and offline plans; auth, schema, version and shell completion."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from reconciler import __version__
from reconciler.sandbox.seed import apply_seed
from reconciler.sandbox.server import SandboxServer
from reconciler.sandbox.store import SandboxStore
from reconciler.statefile import write_state

from helpers import cli_env, run_cli

ROOT = Path(__file__).parent.parent
EXAMPLE = ROOT / "examples" / "sandbox-demo.yaml"
NOW = "2026-11-28T00:00:00Z"


def offline_env() -> dict[str, str]:
    """No credentials at all, and an API URL nothing listens on."""
    env = {k: v for k, v in cli_env("http://127.0.0.1:9/api/v2").items() if k not in ("QC_USER_ID", "QC_API_TOKEN")}
    env["HOME"] = "/nonexistent"
    return env


def decisions(document: dict) -> list:
    return [(p["project_id"], b["id"], b["action"], b["reasons"], b.get("changes")) for p in document["projects"] for b in p["backtests"]]


def test_snapshot_then_offline_plan_equals_live_plan(demo_sandbox: SandboxServer, tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    recorded = run_cli("snapshot", str(EXAMPLE), "-o", str(state), env=cli_env(demo_sandbox.url))
    assert recorded.returncode == 0, recorded.stderr
    assert "Recorded 4 projects" in recorded.stderr and f"--state {state}" in recorded.stderr
    live = run_cli("plan", str(EXAMPLE), "--now", NOW, "--format", "json", env=cli_env(demo_sandbox.url))
    calls_before = demo_sandbox.app.request_count
    offline = run_cli("plan", str(EXAMPLE), "--now", NOW, "--format", "json", "--state", str(state), env=offline_env())
    assert offline.returncode == 0, offline.stderr
    assert demo_sandbox.app.request_count == calls_before
    assert decisions(json.loads(offline.stdout)) == decisions(json.loads(live.stdout))
    document = json.loads(offline.stdout)
    assert document["state"]["path"] == str(state) and document["state"]["recorded_at"]
    text = run_cli("plan", str(EXAMPLE), "--now", NOW, "--state", str(state), env=offline_env())
    assert text.stdout.startswith(f"Planned against the RECORDED STATE {state} (recorded ")
    assert "min old" in text.stdout and "not the live API" in text.stdout
    # the recorded state is a sandbox seed: a bug report can be replayed locally
    replay = tmp_path / "replay.sqlite"
    assert run_cli("sandbox", "reset", "--db", str(replay), "--seed", str(state)).returncode == 0
    store = SandboxStore(replay)
    assert sum(len(p.backtests) for p in store.export_state().projects) == 1720
    store.close()


def test_snapshot_records_statistics_and_notes(demo_sandbox: SandboxServer, tmp_path: Path) -> None:
    result = run_cli("snapshot", "--project", "Scratch", "--with-notes", "-o", "-", env=cli_env(demo_sandbox.url))
    assert result.returncode == 0
    state = json.loads(result.stdout)
    (project,) = state["projects"]
    assert project["name"] == "Scratch" and len(project["backtests"]) == 60
    assert any(b["note"] for b in project["backtests"]) and any(b["statistics"].get("sharpeRatio") for b in project["backtests"])
    assert state["apiUrl"] == demo_sandbox.url and "sandbox-token" not in result.stdout
    missing = run_cli("snapshot", "-o", str(tmp_path / "x.json"), env=cli_env(demo_sandbox.url))
    assert missing.returncode == 1 and "--project" in missing.stderr


def test_offline_plan_errors(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"projects": [{"projectId": 5, "name": "Other", "backtests": []}]}))
    manifest = tmp_path / "m.yaml"
    manifest.write_text("version: 1\nprojects:\n  - id: 23456789\n")
    result = run_cli("plan", str(manifest), "--state", str(state), env=offline_env())
    assert result.returncode == 1 and "project 23456789 (" in result.stderr and "is not in the recorded state" in result.stderr
    assert "reconciler snapshot --project 23456789" in result.stderr
    result = run_cli("plan", str(EXAMPLE), "--state", str(tmp_path / "missing.json"), env=offline_env())
    assert result.returncode == 1 and "cannot read state file" in result.stderr


def test_the_console_script_ends_at_once_with_every_byte_written(tmp_path: Path) -> None:
    """The process ends without freeing the plan (os._exit, docs/design.md, "Performance"): buffered output must still
    reach a pipe and a file whole, with the command's own exit code. Python buffers a pipe unless PYTHONUNBUFFERED."""
    store = SandboxStore(":memory:")
    apply_seed(store, "demo")
    state = tmp_path / "state.json"
    write_state(store.export_state(), state)
    env = {k: v for k, v in offline_env().items() if k != "PYTHONUNBUFFERED"}
    piped = subprocess.run([sys.executable, "-m", "reconciler", "plan", str(EXAMPLE), "--state", str(state), "--now", NOW, "--detailed-exitcode"],
                           env=env, capture_output=True, text=True, timeout=120)
    assert piped.returncode == 2, piped.stderr
    assert piped.stdout.rstrip().splitlines()[-2].startswith("Plan: ") and piped.stdout.count("\n  - delete ") > 100
    saved = tmp_path / "plan.json"
    with (tmp_path / "out.json").open("w") as out:
        code = subprocess.run([sys.executable, "-m", "reconciler", "plan", str(EXAMPLE), "--state", str(state), "--now", NOW, "--format", "json",
                               "--out", str(saved)], env=env, stdout=out, stderr=subprocess.PIPE, text=True, timeout=120).returncode
    assert code == 0 and json.loads((tmp_path / "out.json").read_text()) == json.loads(saved.read_text())
    small = tmp_path / "small.json"  # a document smaller than the stream's buffer: only a flush sends it
    small.write_text(json.dumps({"projects": [{"projectId": 7, "name": "P", "backtests": [
        {"backtestId": f"{n:032x}", "name": f"run {n}", "created": "2026-01-01 00:00:00", "status": "Runtime Error"} for n in range(3)]}]}))
    manifest = tmp_path / "m.yaml"
    manifest.write_text("version: 1\nprojects:\n  - id: 7\n    allow_empty: true\n    delete: [{status: failed}]\n")
    tiny = subprocess.run([sys.executable, "-m", "reconciler", "plan", str(manifest), "--state", str(small), "--now", NOW], env=env,
                          capture_output=True, text=True, timeout=120)
    assert tiny.returncode == 0 and "Plan: 0 to update, 3 to delete, 0 unchanged." in tiny.stdout, tiny.stderr


def test_auth_reports_user_url_and_clock(demo_sandbox: SandboxServer) -> None:
    result = run_cli("auth", env=cli_env(demo_sandbox.url))
    assert result.returncode == 0
    assert "Authenticated as QuantConnect user 123456" in result.stdout
    assert f"API URL: {demo_sandbox.url}" in result.stdout and "Clock offset:" in result.stdout
    bad = run_cli("auth", env=cli_env(demo_sandbox.url, QC_API_TOKEN="nope"))
    assert bad.returncode == 1 and "authentication failed" in bad.stderr


def test_missing_credentials_name_the_three_ways(demo_sandbox: SandboxServer) -> None:
    result = run_cli("auth", env={**offline_env(), "QC_API_URL": demo_sandbox.url})
    assert result.returncode == 1
    assert "QC_USER_ID and QC_API_TOKEN" in result.stderr and "~/.lean/credentials" in result.stderr and "--user-id" in result.stderr


def test_lean_credentials_file(demo_sandbox: SandboxServer, tmp_path: Path) -> None:
    (tmp_path / ".lean").mkdir()
    (tmp_path / ".lean" / "credentials").write_text(json.dumps({"user-id": "123456", "api-token": "sandbox-token-0123456789abcdef"}))
    env = {**offline_env(), "QC_API_URL": demo_sandbox.url, "HOME": str(tmp_path)}
    result = run_cli("auth", env=env)
    assert result.returncode == 0 and str(tmp_path / ".lean" / "credentials") in result.stdout


def test_embedded_sandbox_needs_no_account(tmp_path: Path) -> None:
    result = run_cli("--sandbox", "auth", env=offline_env(), cwd=tmp_path)
    assert result.returncode == 0 and "the embedded sandbox" in result.stdout
    assert (tmp_path / ".reconciler" / "sandbox.sqlite").exists()


def test_version_schema_and_completion() -> None:
    assert run_cli("--version").stdout.strip() == f"reconciler, version {__version__}"
    schema = run_cli("schema")
    assert json.loads(schema.stdout) == json.loads((ROOT / "schemas" / "manifest.schema.json").read_text())
    for shell, marker in (("bash", "complete -o"), ("zsh", "compdef"), ("fish", "complete --no-files --command reconciler")):
        env = {**cli_env(), "_RECONCILER_COMPLETE": f"{shell}_source"}
        script = subprocess.run(["reconciler"], env=env, capture_output=True, text=True)
        assert script.returncode == 0 and marker in script.stdout, shell
    env = {**cli_env(), "_RECONCILER_COMPLETE": "bash_complete", "COMP_WORDS": "reconciler pl", "COMP_CWORD": "1"}
    words = subprocess.run(["reconciler"], env=env, capture_output=True, text=True)
    assert "plain,plan" in words.stdout


def test_verbose_logs_never_show_the_token(demo_sandbox: SandboxServer, tmp_path: Path) -> None:
    secret = "a-very-secret-token-value"
    good = run_cli("--verbose", "plan", str(EXAMPLE), "--now", NOW, "--out", str(tmp_path / "p.json"), env=cli_env(demo_sandbox.url))
    assert good.returncode == 0 and "POST /backtests/list -> 200" in good.stderr
    assert "sandbox-token-0123456789abcdef" not in good.stderr + good.stdout + (tmp_path / "p.json").read_text()
    assert "Authorization" not in good.stderr
    bad = run_cli("--verbose", "auth", env=cli_env(demo_sandbox.url, QC_API_TOKEN=secret))
    assert bad.returncode == 1 and "Traceback" in bad.stderr  # --verbose shows where it failed...
    assert secret not in bad.stderr + bad.stdout  # ...but never the token


def test_credentials_from_options_when_nothing_else_is_set(demo_sandbox: SandboxServer) -> None:
    env = {**offline_env(), "QC_API_URL": demo_sandbox.url}
    result = run_cli("--user-id", "123456", "--api-token", "sandbox-token-0123456789abcdef", "auth", env=env)
    assert result.returncode == 0 and "credentials from --user-id/--api-token" in result.stdout
    shadowed = run_cli("--user-id", "123456", "--api-token", "wrong", "auth", env=cli_env(demo_sandbox.url))
    assert shadowed.returncode == 0 and "QC_USER_ID/QC_API_TOKEN" in shadowed.stdout  # the environment comes first


def test_an_internal_error_exits_3_with_the_version_and_what_to_do(monkeypatch) -> None:
    """Expected errors exit 1; a bug exits 3, one line, the version and a 'please report' (the traceback with --verbose)."""
    from click.testing import CliRunner

    from reconciler import __version__
    from reconciler.cli import cli
    from reconciler.commands import validate

    def broken(*args: object) -> int:
        raise RuntimeError("a bug")

    monkeypatch.setattr(validate, "run", broken)
    result = CliRunner().invoke(cli, ["validate", str(EXAMPLE)])
    assert result.exit_code == 3
    assert f"internal error (RuntimeError: a bug) in reconciler {__version__}" in result.output and "please report it" in result.output
    assert "Traceback" not in result.output
    verbose = CliRunner().invoke(cli, ["--verbose", "validate", str(EXAMPLE)])
    assert verbose.exit_code == 3 and "Traceback" in verbose.output
    monkeypatch.undo()
    expected = CliRunner().invoke(cli, ["validate", "/nonexistent.yaml"])
    assert expected.exit_code == 1 and "no such file or directory" in expected.output
