"""`import` with filters (issue 21): declare the backtests worth keeping, with what a reviewer needs to decide in each comment."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from conftest import make_client

from reconciler.sandbox.server import SandboxServer

from helpers import cli_env, run_cli

PAIRS, MOMENTUM = 23456791, 23456789


def declared(manifest: str) -> set[str]:
    return {b["id"] for p in yaml.safe_load(manifest)["projects"] for b in p["backtests"]}


def test_import_filters_pick_and_plan_shows_no_change(demo_sandbox: SandboxServer, tmp_path: Path) -> None:
    env = cli_env(demo_sandbox.url)
    live = make_client(demo_sandbox).list_backtests(PAIRS)
    optimization = next(b.optimization_id for b in live if b.optimization_id)
    runs = {b.id for b in live if b.optimization_id == optimization}
    picked = run_cli("import", "--project", str(PAIRS), "--optimization", optimization, env=env, cwd=tmp_path)
    assert picked.returncode == 0, picked.stderr
    assert declared(picked.stdout) == runs and f"{len(runs):,} of {len(live):,} backtests picked" in picked.stdout
    assert f"Declared {len(runs):,} backtests of 1 project (--optimization {optimization})." in picked.stderr
    # each comment names the parameters and the optimization
    one = next(b for b in live if b.id in runs)
    comment = next(line for line in picked.stdout.splitlines() if one.id in line)
    parameters = " ".join(f"{k}={v}" for k, v in sorted(one.parameters.items()))
    assert f"parameters {parameters}, optimization {optimization}" in comment
    # plan on what import printed: no changes (the backtests left out are unmanaged, prune is off)
    (tmp_path / "m.yaml").write_text(picked.stdout)
    assert run_cli("plan", "m.yaml", "--detailed-exitcode", env=env, cwd=tmp_path).returncode == 0

    momentum = make_client(demo_sandbox).list_backtests(MOMENTUM)
    since = "2026-06-01"
    recent = run_cli("import", "--project", "Momentum v2", "--since", since, "--status", "completed", "--tag", "paper", "--tag", "baseline",
                     env=env, cwd=tmp_path)
    wanted = {b.id for b in momentum if b.created.isoformat() >= since and b.status == "completed" and {"paper", "baseline"} & set(b.tags)}
    assert wanted and recent.returncode == 0 and declared(recent.stdout) == wanted
    everything = run_cli("import", "--project", "Momentum v2", env=env, cwd=tmp_path)
    assert declared(everything.stdout) == {b.id for b in momentum} and "Declares every backtest" in everything.stdout


def test_bad_filters_fail_before_any_call(tmp_path: Path) -> None:
    offline = cli_env("http://127.0.0.1:9/api/v2")
    for args, message in [(["--status", "done"], "--status 'done' is not a status; use completed, failed, running, queued"),
                          (["--since", "yesterday"], "--since 'yesterday' is not a date or time")]:
        result = run_cli("import", "--project", "1", *args, env=offline, cwd=tmp_path)
        assert result.returncode == 1 and re.search(re.escape(message), result.stderr) and "Traceback" not in result.stderr
