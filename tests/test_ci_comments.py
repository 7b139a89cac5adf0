"""The recipes' plan comment adopts only its own (issue 17): anyone who can comment could plant "Plan: 0 to delete".

The GitLab step runs as it is, in bash with curl and jq, against a GitLab notes API of our
own on 127.0.0.1. The GitHub step's script runs in node against the same calls
actions/github-script would make (the Octokit calls are recorded, not sent anywhere).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

ROOT = Path(__file__).parent.parent
MARKER = "<!-- backtest-reconciler-plan -->"
ME, OTHER = 5, 99


class FakeGitLab:
    """GET /user, and the notes of merge request 7 of project 1: paged by 100, PUT (maybe refused) and POST recorded."""

    def __init__(self, notes: list[dict[str, Any]], refuse_edit: bool = False) -> None:
        self.notes, self.refuse_edit = notes, refuse_edit
        self.edited: list[int] = []
        self.posted: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _reply(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802
                url = urlsplit(self.path)
                if url.path == "/api/v4/user":
                    return self._reply(200, {"id": ME, "username": "plan-bot"})
                page = int(parse_qs(url.query).get("page", ["1"])[0])
                self._reply(200, fake.notes[(page - 1) * 100:page * 100])

            def do_PUT(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers["Content-Length"]))
                if fake.refuse_edit:
                    return self._reply(403, {"message": "403 Forbidden"})
                fake.edited.append(int(self.path.rsplit("/", 1)[-1]))
                self._reply(200, {})

            def do_POST(self) -> None:  # noqa: N802
                fake.posted.append(json.loads(self.rfile.read(int(self.headers["Content-Length"])))["body"])
                self._reply(201, {})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/api/v4"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def note(note_id: int, author: int, body: str = MARKER + "\nPlan: 0 to delete") -> dict[str, Any]:
    return {"id": note_id, "author": {"id": author}, "body": body}


def filler(count: int) -> list[dict[str, Any]]:
    return [note(1000 + n, OTHER, "LGTM") for n in range(count)]


def gitlab_step() -> str:
    script = yaml.safe_load((ROOT / "examples" / "ci" / "gitlab-ci.yml").read_text())["plan"]["script"]
    return next(step for step in script if "marker=" in step)


@pytest.fixture
def gitlab(request: pytest.FixtureRequest) -> Iterator[FakeGitLab]:
    notes, refuse = request.param
    server = FakeGitLab(notes, refuse)
    yield server
    server.stop()


def run_gitlab(server: FakeGitLab, tmp_path: Path, token: str = "t0ken") -> subprocess.CompletedProcess[str]:
    (tmp_path / "plan.md").write_text("### backtest-reconciler plan\n\nPlan: 0 to update, 3 to delete.\n")
    env = {"PATH": "/usr/bin:/bin", "CI_API_V4_URL": server.url, "CI_PROJECT_ID": "1", "CI_MERGE_REQUEST_IID": "7", "GITLAB_API_TOKEN": token}
    return subprocess.run(["bash", "-eo", "pipefail", "-c", gitlab_step()], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.skipif(not (shutil.which("curl") and shutil.which("jq")), reason="the GitLab step needs curl and jq, as its job installs them")
@pytest.mark.parametrize("gitlab, expected", [
    ((filler(120) + [note(7, OTHER), note(8, ME)], False), ("edited", 8)),  # our note on page 2, a forged one before it
    (([note(7, OTHER)] + filler(3), False), ("posted", None)),  # only a forged note: never adopted
    (([note(8, ME)], True), ("posted", None)),  # our note, but the edit is refused: a new one, not the forged view
], indirect=["gitlab"], ids=["own-note-on-page-2", "forged-only", "edit-refused"])
def test_gitlab_adopts_only_its_own_note(gitlab: FakeGitLab, tmp_path: Path, expected: tuple[str, int | None]) -> None:
    result = run_gitlab(gitlab, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    if expected[0] == "edited":
        assert gitlab.edited == [expected[1]] and gitlab.posted == []
    else:
        assert gitlab.edited == [] and len(gitlab.posted) == 1 and gitlab.posted[0].startswith(MARKER + "\n### backtest-reconciler plan")


@pytest.mark.skipif(not (shutil.which("curl") and shutil.which("jq")), reason="the GitLab step needs curl and jq")
@pytest.mark.parametrize("gitlab", [([], False)], indirect=True)
def test_gitlab_step_fails_with_a_message_without_its_token(gitlab: FakeGitLab, tmp_path: Path) -> None:
    result = run_gitlab(gitlab, tmp_path, token="")
    assert result.returncode != 0 and "set a GITLAB_API_TOKEN CI/CD variable" in result.stderr


_NODE_HARNESS = """
const fs = require('fs');
const state = JSON.parse(process.argv[2]);
const calls = [];
const github = {
  paginate: async (fn, args) => state.comments,
  rest: { issues: {
    listComments: () => null,
    updateComment: async (args) => {
      if (state.refuse) { const e = new Error('Forbidden'); e.status = 403; throw e; }
      calls.push(['update', args.comment_id]);
    },
    createComment: async (args) => { calls.push(['create', args.body.split('\\n')[0]]); },
  } },
};
const context = { serverUrl: 'https://github.invalid', runId: 1, repo: { owner: 'o', repo: 'r' }, issue: { number: 3 } };
const core = { warning: (m) => calls.push(['warning', m]) };
(async () => { SCRIPT })().then(() => console.log(JSON.stringify(calls)), (e) => { console.error(e); process.exit(1); });
"""


def github_script() -> str:
    steps = yaml.safe_load((ROOT / "examples" / "ci" / "github-actions.yml").read_text())["jobs"]["plan"]["steps"]
    return next(step for step in steps if "github-script" in step.get("uses", ""))["with"]["script"]


def comment(comment_id: int, login: str, body: str = MARKER + "\nPlan: 0 to delete") -> dict[str, Any]:
    return {"id": comment_id, "user": {"login": login}, "body": body}


@pytest.mark.skipif(shutil.which("node") is None, reason="the GitHub step's script is JavaScript")
@pytest.mark.parametrize(
    "comments, refuse, expected",
    [
        ([comment(7, "mallory"), comment(8, "github-actions[bot]")], False, [["update", 8]]),
        ([comment(7, "mallory")], False, [["create", MARKER]]),
        ([comment(8, "github-actions[bot]")], True, [["warning", "could not edit comment 8 (HTTP 403); posting a new one"], ["create", MARKER]]),
    ],
    ids=["own-comment", "forged-only", "edit-refused"],
)
def test_github_adopts_only_its_own_comment(tmp_path: Path, comments: list[dict[str, Any]], refuse: bool, expected: list[list[Any]]) -> None:
    (tmp_path / "plan.md").write_text("### backtest-reconciler plan\n")
    harness = tmp_path / "harness.js"
    harness.write_text(_NODE_HARNESS.replace("SCRIPT", github_script()))
    result = subprocess.run(
        ["node", str(harness), json.dumps({"comments": comments, "refuse": refuse})], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == expected


def gitlab_fetch_step() -> str:
    script = yaml.safe_load((ROOT / "examples" / "ci" / "gitlab-ci.yml").read_text())["apply"]["script"]
    return next(step for step in script if "merge_requests" in step)


@pytest.mark.skipif(not (shutil.which("curl") and shutil.which("jq")), reason="the GitLab step needs curl and jq, as its image installs them")
@pytest.mark.parametrize("token, expected", [
    ("", "set a GITLAB_API_TOKEN CI/CD variable (api scope) to fetch the reviewed plan"),
    ("t0ken", "GitLab API call failed: http://127.0.0.1:9/api/v4/projects/1/repository/commits/abc123/merge_requests"),
], ids=["no-token", "api-unreachable"])
def test_gitlab_merge_step_says_what_failed(tmp_path: Path, token: str, expected: str) -> None:
    """Issue 21: an empty variable or a failed call died in `curl -sf` with no message."""
    env = {"PATH": "/usr/bin:/bin", "CI_API_V4_URL": "http://127.0.0.1:9/api/v4", "CI_PROJECT_ID": "1", "CI_COMMIT_SHA": "abc123", "GITLAB_API_TOKEN": token}
    result = subprocess.run(["bash", "-eo", "pipefail", "-c", gitlab_fetch_step()], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and expected in result.stdout + result.stderr, result.stdout + result.stderr
    assert not (tmp_path / "plan.json").exists()
