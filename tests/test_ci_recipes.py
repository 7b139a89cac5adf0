"""The CI recipes and the pre-commit hook, executed: a recipe that drifts from the CLI breaks the build."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import make_client

from reconciler.sandbox.server import SandboxServer

from helpers import cli_env

ROOT = Path(__file__).parent.parent
EXAMPLE = ROOT / "examples" / "sandbox-demo.yaml"
GITHUB = ROOT / "examples" / "ci" / "github-actions.yml"
GITLAB = ROOT / "examples" / "ci" / "gitlab-ci.yml"


def reconciler_lines(script: str | list[str]) -> list[str]:
    lines = script if isinstance(script, list) else script.splitlines()
    return [line.strip() for line in lines if re.search(r"(^|;|&&|\|\||\bthen)\s*reconciler ", line.strip())]


def github_jobs() -> dict[str, list[str]]:
    workflow = yaml.safe_load(GITHUB.read_text())
    return {name: [line for step in job["steps"] if "run" in step for line in reconciler_lines(step["run"])] for name, job in workflow["jobs"].items()}


def gitlab_jobs() -> dict[str, list[str]]:
    pipeline = yaml.safe_load(GITLAB.read_text())
    return {name: reconciler_lines(job["script"]) for name, job in pipeline.items() if isinstance(job, dict) and "script" in job}


def run_line(line: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """As the CI shell runs it: bash with -e and pipefail."""
    return subprocess.run(["bash", "-eo", "pipefail", "-c", line], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def expect(lines: list[str], code: int, cwd: Path, env: dict[str, str]) -> None:
    """Each line exits with `code`; a failure shows what the line printed (a recipe step is debugged from its output)."""
    for line in lines:
        result = run_line(line, cwd, env)
        assert result.returncode == code, f"{line!r} exited {result.returncode}, not {code}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"


def test_github_recipe_shape() -> None:
    workflow = yaml.safe_load(GITHUB.read_text())
    triggers = workflow.get("on", workflow.get(True))
    assert {"pull_request", "push", "schedule"} <= set(triggers)
    assert workflow["env"]["QC_USER_ID"] == "${{ secrets.QC_USER_ID }}" and workflow["env"]["QC_API_TOKEN"] == "${{ secrets.QC_API_TOKEN }}"
    jobs = workflow["jobs"]
    for name in ("apply", "retention"):
        assert jobs[name]["concurrency"]["group"] == "backtest-reconciler-apply" and jobs[name]["concurrency"]["cancel-in-progress"] is False
        upload = next(step for step in jobs[name]["steps"] if "upload-artifact" in step.get("uses", ""))
        assert ".reconciler/archive/" in upload["with"]["path"] and ".reconciler/journal.jsonl" in upload["with"]["path"]
    saved = next(step for step in jobs["plan"]["steps"] if "upload-artifact" in step.get("uses", ""))
    assert saved["with"]["name"] == "reconciler-plan" and "plan.json" in saved["with"]["path"]
    fetch = next(step for step in jobs["apply"]["steps"] if step.get("name", "").startswith("Fetch the plan reviewed"))
    assert "gh run download" in fetch["run"] and "--name reconciler-plan" in fetch["run"]
    comment = next(step for step in jobs["plan"]["steps"] if "github-script" in step.get("uses", ""))
    assert "updateComment" in comment["with"]["script"] and "createComment" in comment["with"]["script"]
    assert re.findall(r"QC_API_TOKEN:.*", GITHUB.read_text()) == ["QC_API_TOKEN: ${{ secrets.QC_API_TOKEN }}"]
    installs = [step["run"] for job in jobs.values() for step in job["steps"] if step.get("name") == "Install"]
    assert installs and all(re.fullmatch(r"pip install qc-backtest-reconciler==\d+\.\d+\.\d+", run) for run in installs)  # pinned


def test_gitlab_recipe_shape() -> None:
    pipeline = yaml.safe_load(GITLAB.read_text())
    assert pipeline["apply"]["resource_group"] == pipeline["retention"]["resource_group"]
    assert ".reconciler/archive/" in pipeline["apply"]["artifacts"]["paths"] and "plan.json" in pipeline["plan"]["artifacts"]["paths"]
    assert any("schedule" in rule["if"] for rule in pipeline["retention"]["rules"])
    assert "PUT" in "\n".join(pipeline["plan"]["script"])  # the note is updated in place
    assert "artifacts/plan.json" in "\n".join(pipeline["apply"]["script"])  # the merge fetches the reviewed plan
    assert re.search(r"qc-backtest-reconciler==\d+\.\d+\.\d+", "\n".join(pipeline["default"]["before_script"]))


DECLARED = "7d63f27d70d66b724a6934243c559195"  # the demo manifest's "Baseline 2024", tagged paper by the merge


@pytest.mark.parametrize("jobs_of, recipe", [(github_jobs, GITHUB), (gitlab_jobs, GITLAB)], ids=["github", "gitlab"])
def test_recipe_commands_against_the_sandbox(jobs_of, recipe: Path, demo_sandbox: SandboxServer, tmp_path: Path) -> None:
    jobs = jobs_of()
    review = jobs["plan"] + jobs.get("validate", [])  # GitHub validates inside its plan job, GitLab in a job of its own
    validate = [line for line in review if " validate " in line]
    plan = [line for line in review if " validate " not in line]
    merge, retention = jobs["apply"], jobs["retention"]
    assert validate and plan and merge and retention
    assert all("--plan plan.json manifests/" in line for line in merge)  # the reviewed plan, checked against the merged manifest
    recipe_env = yaml.safe_load(recipe.read_text()).get("env") or yaml.safe_load(recipe.read_text())["variables"]
    env = cli_env(demo_sandbox.url, MAX_DELETES=recipe_env["MAX_DELETES"])
    raised = {**env, "MAX_DELETES": "5000"}
    store, client = demo_sandbox.store, make_client(demo_sandbox)
    (tmp_path / "manifests").mkdir()
    manifest = tmp_path / "manifests" / "demo.yaml"
    shutil.copy(EXAMPLE, manifest)

    def all_ids() -> set[str]:
        return {b.backtest_id for p in store.projects() for b in store.backtests(p.project_id)}

    # pull request: validate passes, plan with changes passes, saves the plan, the picture and the comment body
    expect(validate, 0, tmp_path, env)
    expect(plan, 0, tmp_path, env)
    assert (tmp_path / "plan.md").read_text().startswith("### backtest-reconciler plan\n")
    assert (tmp_path / "plan.html").read_text().startswith("<!doctype html>")
    reviewed = json.loads((tmp_path / "plan.json").read_text())
    reviewed_deletes = {b["id"] for p in reviewed["projects"] for b in p["backtests"] if b["action"] == "delete"}
    # ... a broken manifest fails both
    (tmp_path / "manifests" / "broken.yaml").write_text("version: 1\nprojects:\n  - id: 23456790\n    keep: [{daily: 0}]\n")
    expect(validate, 1, tmp_path, env)
    assert run_line(plan[0], tmp_path, env).returncode != 0 or (tmp_path / "plan.failed").exists()  # GitLab fails the job after posting
    posted = (tmp_path / "plan.md").read_text()  # a failed plan posts the error, never an empty comment
    assert posted.startswith("### backtest-reconciler plan failed") and "broken.yaml:4 projects[0].keep[0].daily: must be a positive integer" in posted
    (tmp_path / "manifests" / "broken.yaml").unlink()
    (tmp_path / "plan.failed").unlink(missing_ok=True)

    # between review and merge, new backtests appear that a fresh plan would delete (delete: name scratch-*)
    late = {client.create_backtest(23456789, f"scratch-after-review-{n}").id for n in range(3)}
    before = all_ids()
    # merge: a plan made from another manifest than the one merged is refused; nothing applied
    manifest.write_text(manifest.read_text() + "\n# edited after the review\n")
    expect(merge, 1, tmp_path, raised)
    assert all_ids() == before
    shutil.copy(EXAMPLE, manifest)
    # the recipe's cap refuses the demo's first big clean-up; raised, the reviewed plan is applied and nothing else
    expect(merge, 1, tmp_path, env)
    expect(merge, 0, tmp_path, raised)
    assert before - all_ids() == reviewed_deletes and late <= all_ids()  # what was reviewed is what was deleted
    assert (tmp_path / ".reconciler" / "journal.jsonl").stat().st_size > 0 and any((tmp_path / ".reconciler" / "archive").rglob("*.json"))

    # nightly: new backtests are normal; the reviewed rules apply to them under the cap, and the job passes
    overnight = client.create_backtest(23456789, "Smooth Overnight Fox").id
    expect(retention, 0, tmp_path, env)
    assert not late & all_ids() and overnight in all_ids()  # scratch-* deleted by the rule; the newest run kept (last: 10)
    expect(retention, 0, tmp_path, env)  # and again: nothing left, still green
    # ... a declaration apply cannot fix (the paper-tagged baseline deleted by hand) fails the job, and nothing is applied
    client.delete_backtest(23456789, DECLARED)
    more = client.create_backtest(23456789, "scratch-next-night").id
    expect(retention, 1, tmp_path, env)
    assert more in all_ids()


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
