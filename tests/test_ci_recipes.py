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


CAPS = ROOT / "examples" / "ci" / "reconciler-caps.yaml"
PIN = re.compile(r'"qc-backtest-reconciler @ git\+(https://github\.com/[\w.-]+/[\w.-]+)@([0-9a-f]{40})"')


def github_workflow() -> dict:
    return yaml.safe_load(GITHUB.read_text())


def gitlab_pipeline() -> dict:
    return yaml.safe_load(GITLAB.read_text())


Step = tuple[str, bool]  # a shell script, and whether it runs after an earlier step failed (GitHub's `if: always()`)


def github_steps(job: str) -> list[Step]:
    """A job's shell steps as CI runs them, but the install (the test's environment has reconciler) and the GitHub API calls."""
    return [(step["run"], "always()" in str(step.get("if", ""))) for step in github_workflow()["jobs"][job]["steps"]
            if "run" in step and step.get("name") != "Install" and "gh " not in step["run"]]


def gitlab_steps(job: str) -> list[Step]:
    """A job's script lines, but the GitLab API calls (the note step runs against a GitLab of our own in test_ci_comments)."""
    return [(line, False) for line in gitlab_pipeline()[job]["script"] if "curl" not in line and "GITLAB_API_TOKEN" not in line]


def run_step(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """As the CI shell runs it: bash with -e and pipefail."""
    return subprocess.run(["bash", "-eo", "pipefail", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def run_job(steps: list[Step], cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    """The steps in order; after a failure only the `always()` steps run; the job's exit code is the first failure's."""
    code, output = 0, ""
    for script, always in steps:
        if code and not always:
            continue
        result = run_step(script, cwd, env)
        if result.returncode and not code:
            code, output = result.returncode, result.stdout[-3000:] + result.stderr[-3000:]
    return code, output


def expect(steps: list[Step], code: int, cwd: Path, env: dict[str, str]) -> None:
    got, output = run_job(steps, cwd, env)
    assert got == code, f"the job exited {got}, not {code}:\n{output}"


def test_github_recipe_shape() -> None:
    workflow = github_workflow()
    triggers = workflow.get("on", workflow.get(True))
    assert {"pull_request", "push", "schedule"} <= set(triggers)
    assert "reconciler-caps.yaml" in triggers["pull_request"]["paths"]  # raising a cap is planned and reviewed
    jobs = workflow["jobs"]
    for name in ("apply", "retention"):
        assert jobs[name]["concurrency"]["group"] == "backtest-reconciler-apply" and jobs[name]["concurrency"]["cancel-in-progress"] is False
        upload = next(step for step in jobs[name]["steps"] if "upload-artifact" in step.get("uses", "") and "records" in step["with"]["name"])
        assert ".reconciler/archive/" in upload["with"]["path"] and ".reconciler/journal.jsonl" in upload["with"]["path"]
    assert jobs["apply"]["environment"] == "backtests"  # the merge waits for the protected environment's approval
    saved = next(step for step in jobs["plan"]["steps"] if "upload-artifact" in step.get("uses", ""))
    assert saved["with"]["name"] == "reconciler-plan" and "plan.json" in saved["with"]["path"]
    fetch = next(step for step in jobs["apply"]["steps"] if step.get("name", "").startswith("Fetch the plan reviewed"))
    assert "gh run download" in fetch["run"] and "--name reconciler-plan" in fetch["run"]
    comment = next(step for step in jobs["plan"]["steps"] if "github-script" in step.get("uses", ""))
    assert "updateComment" in comment["with"]["script"] and "createComment" in comment["with"]["script"]
    # secrets: never workflow-wide, only in the steps that run reconciler against the API, never in a fork's job
    assert "secrets." not in json.dumps(workflow.get("env", {})) and "secrets." not in json.dumps(jobs["plan-fork"])
    for job in jobs.values():
        for step in job["steps"]:
            if "secrets." in json.dumps(step):
                assert "reconciler " in step.get("run", ""), step
    # every action pinned by commit, no checkout leaves its token on disk, every install pinned to one commit
    uses = [step["uses"] for job in jobs.values() for step in job["steps"] if "uses" in step]
    assert uses and all(re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", use) for use in uses), uses
    assert all(step["with"]["persist-credentials"] is False for job in jobs.values() for step in job["steps"] if "checkout" in step.get("uses", ""))
    installs = [step["run"] for job in jobs.values() for step in job["steps"] if step.get("name") == "Install"]
    assert len(installs) == len(jobs) and set(installs) == {'pip install "$RECONCILER_PACKAGE"'}


def test_gitlab_recipe_shape() -> None:
    pipeline = gitlab_pipeline()
    assert pipeline["apply"]["resource_group"] == pipeline["retention"]["resource_group"]
    assert pipeline["apply"]["environment"]["name"] == "backtests"
    assert ".reconciler/archive/" in pipeline["apply"]["artifacts"]["paths"] and "plan.json" in pipeline["plan"]["artifacts"]["paths"]
    assert any("schedule" in rule["if"] for rule in pipeline["retention"]["rules"])
    assert all("reconciler-caps.yaml" in pipeline[job]["rules"][0]["changes"] for job in ("validate", "plan", "apply"))
    assert "PUT" in "\n".join(pipeline["plan"]["script"])  # the note is updated in place
    assert "artifacts/plan.json" in "\n".join(pipeline["apply"]["script"])  # the merge fetches the reviewed plan
    assert pipeline["default"]["before_script"][-1].startswith('pip install --quiet "$RECONCILER_PACKAGE"')


def test_installs_are_pinned_to_one_commit_of_the_project() -> None:
    """Not on PyPI yet: both recipes install from the repository at one commit; that commit holds what the recipes use."""
    pins = {PIN.search(GITHUB.read_text()).groups(), PIN.search(GITLAB.read_text()).groups()}  # type: ignore[union-attr]
    assert len(pins) == 1
    ((url, commit),) = pins
    assert f'Repository = "{url}"' in (ROOT / "pyproject.toml").read_text()
    assert commit in (ROOT / "README.md").read_text()  # the README says which commit, and how to move it
    shallow = subprocess.run(["git", "rev-parse", "--is-shallow-repository"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    if (ROOT / ".git").exists() and shallow == "false":  # a checkout with its whole history: the commit exists and has the caps file
        shown = subprocess.run(["git", "cat-file", "-e", f"{commit}:reconciler/manifest/caps.py"], cwd=ROOT, capture_output=True)
        assert shown.returncode == 0, f"the recipes pin {commit}, which this repository does not have (with --caps)"


def test_zizmor_finds_nothing_in_the_github_recipe() -> None:
    """zizmor, GitHub workflows' static security audit, offline and at its strictest persona."""
    zizmor = shutil.which("zizmor")
    assert zizmor, "zizmor is a test dependency: pip install -e '.[test]'"
    result = subprocess.run([zizmor, "--offline", "--persona", "pedantic", "--format", "plain", str(GITHUB)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "No findings to report" in result.stdout + result.stderr, result.stdout + result.stderr


DECLARED = "7d63f27d70d66b724a6934243c559195"  # the demo manifest's "Baseline 2024", tagged paper by the merge


def set_caps(directory: Path, max_deletes: int) -> None:
    (directory / "reconciler-caps.yaml").write_text(f"max_deletes: {max_deletes}\nmax_updates: 500\n")


@pytest.mark.parametrize("steps_of, validate_job", [(github_steps, "plan"), (gitlab_steps, "validate")], ids=["github", "gitlab"])
def test_recipe_jobs_against_the_sandbox(steps_of, validate_job: str, demo_sandbox: SandboxServer, tmp_path: Path) -> None:
    review = (steps_of("validate") if validate_job == "validate" else []) + steps_of("plan")
    merge, retention = steps_of("apply"), steps_of("retention")
    assert any("--plan plan.json manifests/ --caps reconciler-caps.yaml" in script for script, _ in merge)  # reviewed plan, merged manifest, same caps
    env = cli_env(demo_sandbox.url, GITHUB_STEP_SUMMARY=str(tmp_path / "summary.md"))
    store, client = demo_sandbox.store, make_client(demo_sandbox)
    (tmp_path / "manifests").mkdir()
    manifest = tmp_path / "manifests" / "demo.yaml"
    shutil.copy(EXAMPLE, manifest)
    shutil.copy(CAPS, tmp_path / "reconciler-caps.yaml")

    def all_ids() -> set[str]:
        return {b.backtest_id for p in store.projects() for b in store.backtests(p.project_id)}

    # A smaller account than the demo's (each delete is archived whole, ~8 calls): every project's newest 40 backtests,
    # the tagged and the declared ones. The first clean-up still exceeds the cap the test sets.
    declared = set(re.findall(r"- id: ([0-9a-f]{32})", EXAMPLE.read_text()))
    for project in store.projects():
        rows = sorted(store.backtests(project.project_id), key=lambda b: b.created, reverse=True)
        for row in rows[40:]:
            if not row.tags and row.backtest_id not in declared:
                store.delete_backtest(project.project_id, row.backtest_id)

    # pull request: a broken manifest fails the job, and the comment carries the error, never an empty body
    (tmp_path / "manifests" / "broken.yaml").write_text("version: 1\nprojects:\n  - id: 23456790\n    keep: [{daily: 0}]\n")
    expect(review, 1, tmp_path, env)
    if validate_job == "validate":  # GitLab's plan job runs on its own too, and posts the error
        expect(steps_of("plan"), 1, tmp_path, env)
    posted = (tmp_path / "plan.md").read_text()
    assert posted.startswith("### backtest-reconciler plan failed") and "broken.yaml:4 projects[0].keep[0].daily: must be a positive integer" in posted
    (tmp_path / "manifests" / "broken.yaml").unlink()
    # the first clean-up is over the cap: the comment's first line says the merge would refuse, the job fails
    set_caps(tmp_path, 10)
    expect(review, 1, tmp_path, env)
    first = (tmp_path / "plan.md").read_text().splitlines()[0].replace("\\_", "_")
    assert re.match(r"\*\*Merge will refuse this plan:\*\* it deletes \d{2,3} backtests, more than max_deletes 10 in reconciler-caps.yaml", first), first
    # raised in the pull request (the caps file is watched), the plan passes and says the merge will apply it
    set_caps(tmp_path, 5000)
    expect(review, 0, tmp_path, env)
    assert re.match(r"\*\*Merge will apply this plan:\*\* \d{2,3} deletes", (tmp_path / "plan.md").read_text())
    assert (tmp_path / "plan.html").read_text().startswith("<!doctype html>")
    reviewed = json.loads((tmp_path / "plan.json").read_text())
    reviewed_deletes = {b["id"] for p in reviewed["projects"] for b in p["backtests"] if b["action"] == "delete"}

    # between review and merge, new backtests appear that a fresh plan would delete (delete: name scratch-*)
    late = {client.create_backtest(23456789, f"scratch-after-review-{n}").id for n in range(3)}
    before = all_ids()
    # merge: a plan made from another manifest than the one merged is refused; nothing applied
    manifest.write_text(manifest.read_text() + "\n# edited after the review\n")
    expect(merge, 1, tmp_path, env)
    assert all_ids() == before
    shutil.copy(EXAMPLE, manifest)
    # the merged caps file is the one the merge obeys: lowered again, it refuses; as reviewed, the plan is applied and nothing else
    set_caps(tmp_path, 10)
    expect(merge, 1, tmp_path, env)
    assert all_ids() == before
    set_caps(tmp_path, 5000)
    expect(merge, 0, tmp_path, env)
    assert before - all_ids() == reviewed_deletes and late <= all_ids()  # what was reviewed is what was deleted
    assert (tmp_path / ".reconciler" / "journal.jsonl").stat().st_size > 0 and any((tmp_path / ".reconciler" / "archive").rglob("*.json"))

    # nightly: new backtests are normal; the reviewed rules apply to them under the caps, and the job passes
    set_caps(tmp_path, 200)
    overnight = client.create_backtest(23456789, "Smooth Overnight Fox").id
    expect(retention, 0, tmp_path, env)
    assert not late & all_ids() and overnight in all_ids()  # scratch-* deleted by the rule; the newest run kept (last: 10)
    expect(retention, 0, tmp_path, env)  # and again: nothing left, still green
    if "plan-fork" in github_workflow()["jobs"] and steps_of is github_steps:
        # a fork's pull request: no secrets at all, an offline plan against the state the nightly job recorded
        assert (tmp_path / "state.json").exists()
        no_secrets = {k: v for k, v in env.items() if not k.startswith("QC_")} | {"QC_API_URL": "http://127.0.0.1:9/api/v2"}
        expect(steps_of("plan-fork"), 0, tmp_path, no_secrets)
        summary = (tmp_path / "summary.md").read_text()
        assert summary.startswith("**Merge will refuse this plan:** it was planned offline against a recorded state (recorded ")
        assert "Planned against the RECORDED STATE state.json" in summary
    # ... a declaration apply cannot fix (the paper-tagged baseline deleted by hand) fails the job, and nothing is applied
    client.delete_backtest(23456789, DECLARED)
    more = client.create_backtest(23456789, "scratch-next-night").id
    expect(retention, 1, tmp_path, env)
    assert more in all_ids()


def test_pre_commit_hook_validates_the_whole_set(tmp_path: Path) -> None:
    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "reconciler-validate" and hook["pass_filenames"] is False  # never only the staged files
    pattern = re.compile(hook["files"])
    assert pattern.search("manifests/team.yaml") and pattern.search("infra/manifests/x.yml") and not pattern.search(".github/workflows/ci.yml")
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    shutil.copy(EXAMPLE, manifests / "good.yaml")
    entry = hook["entry"].split()
    assert shutil.which(entry[0]), "the hook's entry must be an installed console script"

    def run_hook() -> subprocess.CompletedProcess[str]:  # as pre-commit runs it: entry, then args, no file names
        return subprocess.run([*entry, *hook["args"]], cwd=tmp_path, capture_output=True, text=True, env=cli_env("http://127.0.0.1:9/api/v2"))

    ok = run_hook()
    assert ok.returncode == 0 and "Manifest OK" in ok.stdout
    (manifests / "bad.yaml").write_text("version: 1\nprojects:\n  - id: 1\n    prune: maybe\n")
    failed = run_hook()
    assert failed.returncode == 1 and "bad.yaml:4 projects[0].prune: must be true or false" in failed.stderr
    # a commit that stages only a new file listing a project that another, unchanged file lists: caught
    (manifests / "bad.yaml").write_text("version: 1\nprojects:\n  - id: 23456789\n")
    twice = run_hook()
    assert twice.returncode == 1 and "23456789" in twice.stderr and "good.yaml" in twice.stderr, twice.stderr
    # the README's snippet pins the hook's repository at the recipes' commit, not a tag that does not exist
    (url, commit) = PIN.search(GITHUB.read_text()).groups()  # type: ignore[union-attr]
    readme = (ROOT / "README.md").read_text()
    assert f"  - repo: {url}\n    rev: {commit}\n" in readme
