"""The caps as a reviewed file (issue 21): plan judges what the merge job will do with them, apply enforces the same file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.engine.guards import merge_verdict
from reconciler.errors import ConfigError
from reconciler.manifest.caps import Caps, load_caps
from reconciler.sandbox.server import SandboxServer

from helpers import cli_env, run_cli

ROOT = Path(__file__).parent.parent
EXAMPLE = ROOT / "examples" / "sandbox-demo.yaml"
NOW = "2026-11-28T00:00:00Z"
DEMO_DELETES = 1348


def test_caps_file_is_checked_key_by_key(tmp_path: Path) -> None:
    caps = tmp_path / "reconciler-caps.yaml"
    caps.write_text("max_deletes: 200\n")
    assert load_caps(caps) == Caps(200, 500, "reconciler-caps.yaml")
    for text, message in [
        ("max_delete: 200\n", "unknown key 'max_delete'"),
        ("max_deletes: -1\n", "max_deletes must be a whole number"),
        ("max_deletes: 2.5\n", "max_deletes must be a whole number"),
        ("max_deletes: true\n", "max_deletes must be a whole number"),
        ("- 200\n", "a caps file is a mapping"),
        ("max_deletes: [\n", "not a caps file"),
    ]:
        caps.write_text(text)
        with pytest.raises(ConfigError, match=message):
            load_caps(caps)


def test_the_verdict_names_the_cap_and_where_to_raise_it() -> None:
    base = dict(errors=0, offline=None, updates=3, max_updates=500, caps_file="reconciler-caps.yaml")
    over = merge_verdict(deletes=380, max_deletes=200, **base)
    assert not over.applies and over.line.startswith("Merge will refuse this plan: it deletes 380 backtests, more than max_deletes 200 in reconciler-caps.yaml")
    assert "raise max_deletes to 380 in reconciler-caps.yaml in this pull request" in over.why
    at = merge_verdict(deletes=200, max_deletes=200, **base)  # the cap itself is allowed, as apply allows it
    assert at.applies and at.why.startswith("200 deletes (max_deletes 200) and 3 updates (max_updates 500) in reconciler-caps.yaml")
    assert not merge_verdict(deletes=0, max_deletes=200, **{**base, "errors": 1}).applies
    offline = merge_verdict(deletes=0, max_deletes=200, **{**base, "offline": "recorded 2026-11-27T05:17:00Z, 19 h ago"})
    assert not offline.applies and "19 h ago" in offline.why


def plan(server: SandboxServer, cwd: Path, *args: str):
    return run_cli("plan", str(EXAMPLE), "--now", NOW, *args, env=cli_env(server.url), cwd=cwd)


def test_plan_and_apply_read_the_same_caps_file(demo_sandbox: SandboxServer, tmp_path: Path) -> None:
    caps = tmp_path / "reconciler-caps.yaml"
    caps.write_text("max_deletes: 200\nmax_updates: 500\n")
    # the pull-request job: a guarded plan over the cap still writes the comment and the plan, then fails
    refused = plan(demo_sandbox, tmp_path, "--caps", str(caps), "--format", "markdown", "--out", "plan.json")
    assert refused.returncode == 1, refused.stderr
    first = refused.stdout.splitlines()[0].replace("\\_", "_")  # markdown escapes the underscores; GitHub shows them
    assert first == (f"**Merge will refuse this plan:** it deletes {DEMO_DELETES:,} backtests, more than max_deletes 200 in reconciler-caps.yaml. "
                     f"If they are intended, raise max_deletes to {DEMO_DELETES} in reconciler-caps.yaml in this pull request")
    assert "error: Merge will refuse this plan" in refused.stderr
    saved = json.loads((tmp_path / "plan.json").read_text())
    assert saved["caps"] == {"max_deletes": 200, "max_updates": 500, "source": "reconciler-caps.yaml"} and saved["verdict"]["applies"] is False
    # the merge job refuses the same plan under the same file, saying where the cap lives; nothing is deleted
    before = sum(len(demo_sandbox.store.backtests(p.project_id)) for p in demo_sandbox.store.projects())
    merge = run_cli("apply", "--plan", "plan.json", str(EXAMPLE), "--caps", str(caps), env=cli_env(demo_sandbox.url), cwd=tmp_path)
    assert merge.returncode == 1 and "more than max_deletes 200 in reconciler-caps.yaml; nothing was applied" in merge.stderr
    assert sum(len(demo_sandbox.store.backtests(p.project_id)) for p in demo_sandbox.store.projects()) == before
    # raised in review: the plan says the merge will apply it, and exits as plan does
    caps.write_text(f"max_deletes: {DEMO_DELETES}\n")
    allowed = plan(demo_sandbox, tmp_path, "--caps", str(caps), "--format", "markdown", "--detailed-exitcode")
    assert allowed.returncode == 2, allowed.stderr
    assert allowed.stdout.replace("\\_", "_").startswith(f"**Merge will apply this plan:** {DEMO_DELETES:,} deletes (max_deletes {DEMO_DELETES:,}) and ")
    # an unguarded plan shows the verdict under the defaults, but does not fail on it
    assert plan(demo_sandbox, tmp_path).returncode == 0


def test_caps_come_from_one_place(demo_sandbox: SandboxServer, tmp_path: Path) -> None:
    caps = tmp_path / "caps.yaml"
    caps.write_text("max_deletes: 5000\n")
    both = plan(demo_sandbox, tmp_path, "--caps", str(caps), "--max-deletes", "10")
    assert both.returncode == 1 and both.stderr.startswith("error: --caps") and "the caps come from one place" in both.stderr
    missing = plan(demo_sandbox, tmp_path, "--caps", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 1 and "cannot read the caps file" in missing.stderr and "Traceback" not in missing.stderr
