"""Machine-readable outputs (issue 21): every JSON document a command prints carries a format_version, and the plan file
is described by schemas/plan.schema.json, checked against real plans of every kind."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from reconciler.plan.model import FORMAT_VERSION
from reconciler.sandbox.server import SandboxServer

from helpers import cli_env, run_cli

ROOT = Path(__file__).parent.parent
SCHEMA = json.loads((ROOT / "schemas" / "plan.schema.json").read_text())
NOW = "2026-11-28T00:00:00Z"
DEMO = ROOT / "examples" / "sandbox-demo.yaml"


def validator() -> jsonschema.Draft202012Validator:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    return jsonschema.Draft202012Validator(SCHEMA)


def problems(document: dict) -> list[str]:
    return [f"{'/'.join(map(str, error.absolute_path))}: {error.message[:200]}" for error in validator().iter_errors(document)]


def test_the_schema_is_of_this_format_version() -> None:
    assert SCHEMA["properties"]["format_version"] == {"const": FORMAT_VERSION}


def test_real_plans_of_every_kind_match_the_schema(demo_sandbox: SandboxServer, tmp_path: Path) -> None:
    env = cli_env(demo_sandbox.url)
    (tmp_path / "grace.yaml").write_text("version: 1\nprojects:\n  - name: Scratch\n    prune: true\n    grace: 7d\n    keep: [{last: 2}]\n")
    plans = {
        "demo, with updates, deletes, notable deletes, caps": ["plan", str(DEMO), "--now", NOW, "--show-kept"],
        "grace: marks": ["plan", "grace.yaml", "--now", NOW],
        "labels": ["plan", str(ROOT / "examples" / "labels" / "sandbox.yaml"), "--now", NOW, "--caps", str(ROOT / "examples" / "ci" / "reconciler-caps.yaml")],
        "offline, against a recorded state": ["plan", str(ROOT / "examples" / "worked" / "manifest.yaml"), "--state",
                                              str(ROOT / "examples" / "worked" / "state.json"), "--now", NOW],
    }
    for kind, args in plans.items():
        result = run_cli(*args, "--format", "json", env=env, cwd=tmp_path)
        assert result.returncode in (0, 1), (kind, result.stderr)
        document = json.loads(result.stdout)
        assert document["projects"], kind
        assert problems(document) == [], kind
        if kind.startswith("grace"):
            assert any(b.get("grace") == "mark" for p in document["projects"] for b in p["backtests"])
    # a revert plan too: label, then revert
    assert run_cli("apply", str(ROOT / "examples" / "labels" / "sandbox.yaml"), "--yes", "--max-updates", "1000", env=env, cwd=tmp_path).returncode == 0
    revert = json.loads(run_cli("revert", "--format", "json", env=env, cwd=tmp_path).stdout)
    assert revert["projects"] and problems(revert) == []


def test_the_schema_catches_drift() -> None:
    """A field the plan file grows without the schema (or a wrong type) fails validation: the schema cannot silently lag."""
    document = {"format_version": 3, "tool_version": "0", "created_at": "", "reference_time": NOW, "manifest_digest": "sha256:0", "api_url": "x",
                "summary": {"update": 0, "delete": 1, "mark": 0, "unmark": 0, "unchanged": 0}, "declared_anywhere": {},
                "projects": [{"project_id": 1, "name": "p", "summary": {"update": 0, "delete": 1, "mark": 0, "unmark": 0, "unchanged": 0},
                              "rules": {"prune": True, "protect_tags": ["protected"], "allow_empty": False, "protect": [], "delete": [], "keep": [],
                                        "label": [], "grace": None}, "declared": [], "warnings": [], "errors": [],
                              "backtests": [{"id": "a" * 32, "name": "n", "created": NOW, "status": "completed", "tags": [], "action": "delete",
                                             "reasons": [{"rule": "prune"}]}]}]}
    assert problems(document) == []
    entry = document["projects"][0]["backtests"][0]
    for key, value in [("unexpected", 1), ("action", "destroy"), ("reasons", [{"rule": "keep", "index": "1"}])]:
        broken = json.loads(json.dumps(document))
        broken["projects"][0]["backtests"][0] = {**entry, key: value}
        assert problems(broken), key


@pytest.mark.parametrize("args", [
    ["plan", str(DEMO), "--now", NOW, "--format", "json"],
    ["projects", "--format", "json"],
    ["apply", str(DEMO), "--project", "Scratch", "--now", NOW, "--yes", "--format", "json"],
    ["archive", "ls", "--format", "json"],
    ["history", "--format", "json"],
    ["revert", "--format", "json"],
    ["snapshot", "--project", "Scratch", "-o", "-"],
], ids=lambda args: " ".join(args[:2]))
def test_every_json_output_has_a_format_version(args: list[str], demo_sandbox: SandboxServer, tmp_path: Path) -> None:
    env = cli_env(demo_sandbox.url)
    if args[0] in ("archive", "history", "revert"):  # something to read back: an apply of Scratch
        assert run_cli("apply", str(DEMO), "--project", "Scratch", "--now", NOW, "--yes", env=env, cwd=tmp_path).returncode == 0
    result = run_cli(*args, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    version = json.loads(result.stdout)["format_version"]
    assert type(version) is int and version >= 1
