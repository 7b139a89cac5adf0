"""The CI recipes and the pre-commit hook, executed: a recipe that drifts from the CLI breaks the build."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from reconciler.sandbox.server import SandboxServer

from conftest import make_client
from helpers import cli_env

ROOT = Path(__file__).parent.parent
EXAMPLE = ROOT / "examples" / "sandbox-demo.yaml"
GITHUB = ROOT / "examples" / "ci" / "github-actions.yml"
GITLAB = ROOT / "examples" / "ci" / "gitlab-ci.yml"


def reconciler_lines(script: str | list[str]) -> list[str]:
    lines = script if isinstance(script, list) else script.splitlines()
    return [line.strip() for line in lines if line.strip().startswith("reconciler ")]


def github_jobs() -> dict[str, list[str]]:
    workflow = yaml.safe_load(GITHUB.read_text())
    return {name: [line for step in job["steps"] if "run" in step for line in reconciler_lines(step["run"])] for name, job in workflow["jobs"].items()}


def gitlab_jobs() -> dict[str, list[str]]:
    pipeline = yaml.safe_load(GITLAB.read_text())
    return {name: reconciler_lines(job["script"]) for name, job in pipeline.items() if isinstance(job, dict) and "script" in job}


def run_line(line: str, cwd: Path, env: dict[str, str]) -> int:
    """As the CI shell runs it: bash with -e and pipefail."""
    return subprocess.run(["bash", "-eo", "pipefail", "-c", line], cwd=cwd, env=env, capture_output=True, text=True, timeout=300).returncode


def test_github_recipe_shape() -> None:
    workflow = yaml.safe_load(GITHUB.read_text())
    triggers = workflow.get("on", workflow.get(True))
    assert {"pull_request", "push", "schedule"} <= set(triggers)
    assert workflow["env"]["QC_USER_ID"] == "${{ secrets.QC_USER_ID }}" and workflow["env"]["QC_API_TOKEN"] == "${{ secrets.QC_API_TOKEN }}"
    jobs = workflow["jobs"]
    assert jobs["apply"]["concurrency"]["group"] and jobs["apply"]["concurrency"]["cancel-in-progress"] is False
    upload = next(step for step in jobs["apply"]["steps"] if "upload-artifact" in step.get("uses", ""))
    assert ".reconciler/archive/" in upload["with"]["path"] and ".reconciler/journal.jsonl" in upload["with"]["path"]
    comment = next(step for step in jobs["plan"]["steps"] if "github-script" in step.get("uses", ""))
    assert "updateComment" in comment["with"]["script"] and "createComment" in comment["with"]["script"]
    assert re.findall(r"QC_API_TOKEN:.*", GITHUB.read_text()) == ["QC_API_TOKEN: ${{ secrets.QC_API_TOKEN }}"]


def test_gitlab_recipe_shape() -> None:
    pipeline = yaml.safe_load(GITLAB.read_text())
    assert pipeline["apply"]["resource_group"] and ".reconciler/archive/" in pipeline["apply"]["artifacts"]["paths"]
    assert any("schedule" in rule["if"] for rule in pipeline["drift"]["rules"])
    assert "PUT" in "\n".join(pipeline["plan"]["script"])  # the note is updated in place


@pytest.mark.parametrize("jobs_of, recipe", [(github_jobs, GITHUB), (gitlab_jobs, GITLAB)], ids=["github", "gitlab"])
def test_recipe_commands_against_the_sandbox(jobs_of, recipe: Path, demo_sandbox: SandboxServer, tmp_path: Path) -> None:
    jobs = jobs_of()
    review = jobs["plan"] + jobs.get("validate", [])  # GitHub validates inside its plan job, GitLab in a job of its own
    validate = [line for line in review if " validate " in line]
    plan = [line for line in review if " plan " in line]
    apply, drift = jobs["apply"], jobs["drift"]
    assert validate and plan and apply and drift
    recipe_env = yaml.safe_load(recipe.read_text()).get("env") or yaml.safe_load(recipe.read_text())["variables"]
    env = cli_env(demo_sandbox.url, MAX_DELETES=recipe_env["MAX_DELETES"])
    (tmp_path / "manifests").mkdir()
    shutil.copy(EXAMPLE, tmp_path / "manifests" / "demo.yaml")

    # pull request: validate passes, plan with changes passes and writes the comment body
    assert all(run_line(line, tmp_path, env) == 0 for line in validate)
    assert all(run_line(line, tmp_path, env) == 0 for line in plan)
    assert (tmp_path / "plan.md").read_text().startswith("### backtest-reconciler plan")
    # ... a broken manifest fails both
    (tmp_path / "manifests" / "broken.yaml").write_text("version: 1\nprojects:\n  - id: 23456790\n    keep: [{daily: 0}]\n")
    assert all(run_line(line, tmp_path, env) == 1 for line in validate)
    assert all(run_line(line, tmp_path, env) != 0 for line in plan)
    (tmp_path / "manifests" / "broken.yaml").unlink()

    # merge: the recipe's cap refuses the demo's first big clean-up; raised, apply passes and leaves records
    assert all(run_line(line, tmp_path, env) == 1 for line in apply)
    raised = {**env, "MAX_DELETES": "5000"}
    assert all(run_line(line, tmp_path, raised) == 0 for line in apply)
    assert (tmp_path / ".reconciler" / "journal.jsonl").stat().st_size > 0 and any((tmp_path / ".reconciler" / "archive").rglob("*.json"))

    # nightly: no drift passes; drift (a declared backtest renamed in the IDE) fails the job
    assert all(run_line(line, tmp_path, env) == 0 for line in drift)
    make_client(demo_sandbox).update_backtest(23456789, "7d63f27d70d66b724a6934243c559195", name="renamed in the IDE")
    assert all(run_line(line, tmp_path, env) == 2 for line in drift)


def test_pre_commit_hook(tmp_path: Path) -> None:
    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "reconciler-validate"
    pattern = re.compile(hook["files"])
    assert pattern.search("manifests/team.yaml") and pattern.search("infra/manifests/x.yml") and not pattern.search(".github/workflows/ci.yml")
    good = tmp_path / "manifests" / "good.yaml"
    good.parent.mkdir()
    shutil.copy(EXAMPLE, good)
    bad = tmp_path / "manifests" / "bad.yaml"
    bad.write_text("version: 1\nprojects:\n  - id: 1\n    prune: maybe\n")
    entry = hook["entry"].split()
    assert shutil.which(entry[0]), "the hook's entry must be an installed console script"
    ok = subprocess.run([*entry, str(good)], capture_output=True, text=True, env=cli_env("http://127.0.0.1:9/api/v2"))
    assert ok.returncode == 0 and "Manifest OK" in ok.stdout
    failed = subprocess.run([*entry, str(good), str(bad)], capture_output=True, text=True, env=cli_env())
    assert failed.returncode == 1 and "bad.yaml:4 projects[0].prune: must be true or false" in failed.stderr
