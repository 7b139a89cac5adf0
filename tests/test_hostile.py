"""Hostile networks and bytes (issue 9): the client trusts nothing it did not ask for.

Each test reproduces one finding of the attack review against a hostile server of
our own on 127.0.0.1 (tests/hostile.py), then shows it cannot happen any more.
"""

from __future__ import annotations

import gzip
import json
import os
import time
import zlib
from pathlib import Path
from typing import Any

import pytest
from conftest import SANDBOX_CREDENTIALS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.api.client import QuantConnectClient, RetryPolicy
from reconciler.api.credentials import Credentials, resolve_credentials
from reconciler.api.errors import APIError, NotFoundError, ResponseFormatError, TransportError
from reconciler.apply.executor import ExecutionSettings, Executor
from reconciler.apply.preflight import preflight
from reconciler.apply.records import Archive, Journal, RecordWriteError
from reconciler.errors import ConfigError, ReconcilerError
from reconciler.live import fetch_states
from reconciler.manifest.load import load_manifest
from reconciler.models import Outcome, normalize_status
from reconciler.plan.planner import build_plan
from reconciler.sandbox.server import SandboxServer
from reconciler.timeutil import parse_datetime

from helpers import cli_env, run_cli
from hostile import HostileServer, Reply, ok, summary

QUICK = RetryPolicy(attempts=2, base=0.001, cap=0.01)
BID = "26c7bb06b8487cff1c7b3c44652b30f1"
OTHER = "0123456789abcdef0123456789abcdef"
NOW = parse_datetime("2026-11-28T00:00:00Z")


def client_for(server: HostileServer, **kwargs: Any) -> QuantConnectClient:
    kwargs.setdefault("retry", QUICK)
    return QuantConnectClient(SANDBOX_CREDENTIALS, server.url, **kwargs)


# --- where the token goes --------------------------------------------------------------------


def test_url_that_parsers_read_differently_is_refused_before_any_connection(hostile: HostileServer) -> None:
    """`http://localhost:PORT\\@127.0.0.1:9/api/v2` passed the loopback check (it saw 127.0.0.1) while requests
    connected to the host before the backslash with the Authorization header; here that host is our server."""
    sneaky = f"http://localhost:{hostile.port}\\@127.0.0.1:9/api/v2"
    with pytest.raises(ConfigError, match="backslashes"):
        QuantConnectClient(SANDBOX_CREDENTIALS, sneaky, retry=QUICK)
    result = run_cli("auth", env=cli_env(sneaky))
    assert result.returncode == 1 and "refused" in result.stderr
    assert hostile.seen == []  # nothing reached the host requests would have connected to


@pytest.mark.parametrize("url, fragment", [
    ("http://example.com/api/v2", "refusing plain http:// to example.com"),
    ("http://10.0.0.1/api/v2", "refusing plain http:// to 10.0.0.1"),
    ("http://user@127.0.0.1:9/api/v2", "user information"),
    ("http://127.0.0.1:9/api/v2?x=1", "query or fragment"),
    ("http://127.0.0.1:9/api v2", "spaces"),
    ("ftp://127.0.0.1/x", "not an http(s) URL"),
])
def test_plain_http_to_remote_hosts_and_odd_urls_are_refused(url: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        QuantConnectClient(SANDBOX_CREDENTIALS, url, retry=QUICK)


def test_loopback_never_goes_through_a_proxy(hostile: HostileServer, demo_sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """HTTP_PROXY sent loopback traffic, Authorization included, to the proxy (and --sandbox failed with 502 in proxied CI)."""
    proxy = hostile  # records whatever a client sends it
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, proxy.url.rsplit("/api/v2", 1)[0])
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    client = QuantConnectClient(SANDBOX_CREDENTIALS, demo_sandbox.url, retry=QUICK)
    assert client.authenticate()["success"] is True
    embedded = run_cli(
        "--sandbox", "--sandbox-db", str(tmp_path / "db.sqlite"), "auth", env={**cli_env(), **{k: os.environ[k] for k in ("HTTP_PROXY", "ALL_PROXY")}}
    )
    assert embedded.returncode == 0, embedded.stderr
    assert proxy.seen == []


def test_https_proxy_from_the_environment_is_still_honoured(hostile: HostileServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", hostile.url.rsplit("/api/v2", 1)[0])
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    client = QuantConnectClient(SANDBOX_CREDENTIALS, "https://api.example.invalid/api/v2", retry=QUICK)
    with pytest.raises(TransportError):
        client.authenticate()
    assert [s.method for s in hostile.seen] == ["CONNECT", "CONNECT"] and hostile.seen[0].path == "api.example.invalid:443"


def test_redirects_are_errors_never_followed(hostile: HostileServer) -> None:
    """A 302 on delete led to "18 deleted" while the server still held all 20."""
    hostile.routes["backtests/delete"] = lambda p: Reply(302, {"success": True}, {"Location": "http://evil.invalid/api/v2/backtests/delete"})
    client = client_for(hostile)
    with pytest.raises(APIError, match="answered a redirect .*never redirects") as info:
        client.delete_backtest(1, BID)
    assert not isinstance(info.value, NotFoundError)
    assert len(hostile.calls("backtests/delete")) == 1  # not retried, not followed


# --- how much, and how long ----------------------------------------------------------------------


def test_a_body_that_trickles_in_meets_the_total_deadline(hostile: HostileServer) -> None:
    hostile.routes["authenticate"] = lambda p: Reply(200, {"success": True, "errors": [], "pad": "x" * 100}, trickle=0.05)
    client = client_for(hostile, deadline=0.5, read_timeout=5)
    started = time.monotonic()
    with pytest.raises(TransportError, match="deadline"):
        client.authenticate()
    assert time.monotonic() - started < 3  # two attempts of 0.5 s, not 2 x 6 s of trickle


def test_a_large_body_is_refused_at_the_cap(hostile: HostileServer) -> None:
    """A 100 MB body was accepted."""
    big = b'{"success": true, "errors": [], "pad": "' + b"x" * (70 * 2**20) + b'"}'
    hostile.routes["authenticate"] = lambda p: Reply(200, big)
    with pytest.raises(ResponseFormatError, match="larger than 64 MiB"):
        client_for(hostile).authenticate()
    assert len(hostile.calls("authenticate")) == 1  # a refusal, not a retry


def test_a_gzip_bomb_stops_at_the_cap(hostile: HostileServer) -> None:
    """1.5 MB on the wire took 5.3 GB of memory; now decompression stops at the cap."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = b"0" * 2**20
    bomb = b"".join([compressor.compress(b'{"success": true, "pad": "')] + [compressor.compress(block) for _ in range(1024)] + [compressor.flush()])
    assert len(bomb) < 2 * 2**20  # about 1 MB on the wire for 1 GiB of zeros
    hostile.routes["authenticate"] = lambda p: Reply(200, bomb, {"Content-Encoding": "gzip"})
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ResponseFormatError, match="larger than 64 MiB"):
        client_for(hostile).authenticate()
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mib < 400, f"peak memory grew {grown_mib:.0f} MiB"


def test_gzip_answers_are_read(hostile: HostileServer) -> None:
    hostile.routes["backtests/list"] = lambda p: Reply(
        200, gzip.compress(json.dumps({"success": True, "backtests": [summary(BID)]}).encode()), {"Content-Encoding": "gzip"}
    )
    assert [b.id for b in client_for(hostile).list_backtests(1)] == [BID]


def test_a_connection_closed_mid_body_is_retried(hostile: HostileServer) -> None:
    answers = iter(
        [
            Reply(200, {"success": True, "errors": [], "backtests": [summary(BID)]}, cut_after=20),
            Reply(200, {"success": True, "errors": [], "backtests": [summary(BID)]}),
        ]
    )
    hostile.routes["backtests/list"] = lambda p: next(answers)
    assert [b.id for b in client_for(hostile).list_backtests(1)] == [BID]
    assert len(hostile.calls("backtests/list")) == 2


def test_a_body_shorter_than_its_content_length_is_retried(hostile: HostileServer) -> None:
    hostile.routes["authenticate"] = lambda p: Reply(200, {"success": True, "errors": []}, content_length=500, cut_after=10_000)
    with pytest.raises(TransportError, match="truncated answer|mid-answer"):
        client_for(hostile).authenticate()
    assert len(hostile.calls("authenticate")) == 2


# --- what the answer says ---------------------------------------------------------------------------


def test_a_read_about_another_backtest_is_never_archived_or_acted_on(hostile: HostileServer, tmp_path: Path) -> None:
    """The answer about another id was archived under the requested id and the delete went ahead."""
    hostile.routes["backtests/list"] = lambda p: ok(backtests=[summary(BID)])
    hostile.routes["backtests/read"] = lambda p: ok(backtest={**summary(OTHER), "projectId": 1})
    hostile.routes["backtests/delete"] = lambda p: ok()
    execution = _apply_one_delete(hostile, tmp_path)
    (result,) = execution.results
    assert result.outcome == Outcome.FAILED and f"asked for backtest {BID}, the answer is about '{OTHER}'" in (result.error or "")
    assert hostile.calls("backtests/delete") == [] and not list((tmp_path / "archive").rglob("*"))


def test_success_false_in_an_undocumented_shape_is_a_failure_not_already_gone(hostile: HostileServer, tmp_path: Path) -> None:
    """A delete answered `success:false` with `errors` as a string counted as "already gone" while the server kept it."""
    hostile.routes["backtests/list"] = lambda p: ok(backtests=[summary(BID)])
    hostile.routes["backtests/read"] = lambda p: ok(backtest={**summary(BID), "projectId": 1})
    hostile.routes["backtests/delete"] = lambda p: Reply(200, {"success": False, "errors": "Backtest does not exist"})
    (result,) = _apply_one_delete(hostile, tmp_path).results
    assert result.outcome == Outcome.FAILED and "Backtest does not exist" in (result.error or "")


def test_not_found_on_delete_is_believed_only_when_a_read_agrees(hostile: HostileServer, tmp_path: Path) -> None:
    hostile.routes["backtests/list"] = lambda p: ok(backtests=[summary(BID)])
    hostile.routes["backtests/read"] = lambda p: ok(backtest={**summary(BID), "projectId": 1})
    hostile.routes["backtests/delete"] = lambda p: Reply(200, {"success": False, "errors": ["Backtest does not exist"]})
    (result,) = _apply_one_delete(hostile, tmp_path).results
    assert result.outcome == Outcome.FAILED and result.error == "the delete was answered 'not found' but the backtest still exists"


@pytest.mark.parametrize(
    "body, fragment",
    [
        ({"success": True, "errors": []}, "carries no backtest list"),
        ({"success": True, "backtests": [summary(BID, created=1e300)]}, "no readable creation time"),
        ({"success": True, "backtests": [summary(BID + "\n")]}, "is not 32 hex characters"),
        ({"success": True, "backtests": {"a": 1}}, "the backtest list is not a list"),
        ({"success": "yes", "backtests": []}, "failed"),
    ],
)
def test_answers_the_client_does_not_understand_are_one_line_errors(hostile: HostileServer, tmp_path: Path, body: Any, fragment: str) -> None:
    hostile.routes["backtests/list"] = lambda p: Reply(200, body)
    manifest = tmp_path / "m.yaml"
    manifest.write_text("version: 1\nprojects:\n  - id: 1\n    prune: true\n    allow_empty: true\n")
    result = run_cli("apply", str(manifest), "--yes", env=cli_env(hostile.url), cwd=tmp_path)
    assert result.returncode == 1 and fragment in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert hostile.calls("backtests/delete") == []


def test_out_of_range_values_in_files_are_one_line_errors(tmp_path: Path) -> None:
    """`created: 1e300` in a state file, a seed file or a saved plan, and a plan nested 200k deep, gave tracebacks."""
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"projects": [{"projectId": 1, "name": "P", "backtests": [{"backtestId": BID, "created": 1e300}]}]}))
    manifest = tmp_path / "m.yaml"
    manifest.write_text("version: 1\nprojects:\n  - id: 1\n")
    for args in (["plan", str(manifest), "--state", str(state)], ["sandbox", "reset", "--db", str(tmp_path / "s.sqlite"), "--seed", str(state)]):
        result = run_cli(*args)
        assert result.returncode == 1 and "created: not a timestamp" in result.stderr and "Traceback" not in result.stderr
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 200_000 + "]" * 200_000)
    result = run_cli("show", str(deep))
    assert result.returncode == 1 and "nested too deeply" in result.stderr and "Traceback" not in result.stderr
    state.write_text(json.dumps({"projects": [{"projectId": 1, "name": "P", "backtests": [{"backtestId": BID, "created": "2026-01-01 00:00:00"}]}]}))
    saved = tmp_path / "plan.json"
    assert run_cli("plan", str(manifest), "--state", str(state), "--out", str(saved)).returncode == 0
    plan = json.loads(saved.read_text())
    plan["projects"][0]["backtests"][0]["created"] = 1e300
    saved.write_text(json.dumps(plan))
    result = run_cli("show", str(saved))
    assert result.returncode == 1 and "plan file is damaged" in result.stderr and "Traceback" not in result.stderr


def test_swapped_credentials_never_print_the_token() -> None:
    token = "9f8e7d6c5b4a39281706f5e4d3c2b1a0feedface"
    with pytest.raises(ConfigError) as info:
        resolve_credentials(environ={"QC_USER_ID": token, "QC_API_TOKEN": "123456"}, lean_file=Path("/nonexistent"))
    assert token not in str(info.value) and "swapped" in str(info.value)
    result = run_cli("auth", env=cli_env("http://127.0.0.1:9/api/v2", QC_USER_ID=token, QC_API_TOKEN="123456"))
    assert result.returncode == 1 and token not in result.stderr + result.stdout


# --- files the tool writes ------------------------------------------------------------------------


def test_records_are_never_written_through_symlinks(tmp_path: Path) -> None:
    """A committed `journal.jsonl -> ~/.bashrc` got JSON appended."""
    target = tmp_path / "bashrc"
    target.write_text("export PATH=$PATH\n")
    link = tmp_path / "journal.jsonl"
    link.symlink_to(target)
    with pytest.raises(RecordWriteError, match="symbolic link"):
        Journal(link)
    assert target.read_text() == "export PATH=$PATH\n"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "archive").mkdir()
    (tmp_path / "archive" / "1").symlink_to(elsewhere)
    with pytest.raises(RecordWriteError, match="symbolic link"):
        Archive(tmp_path / "archive").write(1, BID, {"backtest": {}})
    assert list(elsewhere.iterdir()) == []


def test_a_torn_journal_line_is_never_glued_to_the_next(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    path.write_text('{"phase": "intent", "backtest": "a"}\n{"phase": "done", "backt')  # a crash mid-write
    journal = Journal(path)
    journal.record(project=1, backtest=BID, action="delete", outcome="deleted")
    journal.close()
    lines = path.read_text().splitlines()
    assert lines[1] == '{"phase": "done", "backt' and json.loads(lines[2])["backtest"] == BID


# --- the manifest ---------------------------------------------------------------------------------


def test_pathological_name_regex_plans_in_linear_time(tmp_path: Path) -> None:
    """`^(a+)+$` against one 40-character name among 10,000 stalled plan for minutes (Python's re backtracks)."""
    names = [f"run {n}" for n in range(9_999)] + ["a" * 40 + "!"]
    state = tmp_path / "state.json"
    state.write_text(
        json.dumps(
            {
                "projects": [
                    {
                        "projectId": 1,
                        "name": "P",
                        "backtests": [{"backtestId": f"{n:032x}", "name": name, "created": "2026-01-01 00:00:00"} for n, name in enumerate(names)],
                    }
                ]
            }
        )
    )
    manifest = tmp_path / "m.yaml"
    manifest.write_text("version: 1\nprojects:\n  - id: 1\n    delete: [{name_regex: '^(a+)+$'}]\n")
    started = time.monotonic()
    result = run_cli("plan", str(manifest), "--state", str(state), timeout=60)
    assert result.returncode == 0 and "Plan: 0 to update, 0 to delete, 10,000 unchanged." in result.stdout
    assert time.monotonic() - started < 20  # measured in bench/bench_plan.py; with Python's re it does not finish
    manifest.write_text("version: 1\nprojects:\n  - id: 1\n    delete: [{name_regex: '(a)\\1'}]\n")
    refused = run_cli("validate", str(manifest))
    assert refused.returncode == 1 and "invalid regular expression" in refused.stderr and "RE2" in refused.stderr


_yaml_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8), st.floats(allow_nan=False)),
    lambda children: st.one_of(st.lists(children, max_size=6), st.dictionaries(st.text(min_size=1, max_size=6), children, max_size=6)),
    max_leaves=60,
)


@settings(max_examples=200, deadline=None)
@given(_yaml_values, st.booleans())
def test_size_bound_never_counts_more_than_the_file_without_aliases(value: Any, flow: bool) -> None:
    """A 12.5 MiB alias-free manifest was refused "because of aliases": the expansion estimate counted 16 bytes per
    node. Now a document without aliases never counts more than its own size, so only the file size bounds it."""
    import yaml

    from reconciler.manifest.load import _expanded_size

    text = yaml.safe_dump(value, default_flow_style=flow, allow_unicode=True)
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    if node is not None:
        assert _expanded_size(node, {}) <= len(text.encode()) + 1


def test_manifest_size_messages_are_true(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("version: 1\nprojects:\n  - id: 1\n    note: '" + "x" * (16 * 2**20) + "'\n")
    with pytest.raises(ReconcilerError, match=r"file is 16,777,2\d\d bytes; manifests are limited to 16 MiB"):
        load_manifest([path])
    bomb = (
        "version: 1\na: &a ['"
        + "x" * 1000
        + "']\n"
        + "".join(f"b{i}: &b{i} [*{'a' if i == 0 else f'b{i - 1}'}, *{'a' if i == 0 else f'b{i - 1}'}]\n" for i in range(20))
    )
    path.write_text(bomb)
    with pytest.raises(ReconcilerError, match="YAML aliases expand this document beyond 16 MiB"):
        load_manifest([path])


# --- fuzz: random answers never lead to a delete ------------------------------------------------

_junk = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(),
        st.text(max_size=30),
        st.sampled_from([BID, OTHER, BID.upper(), BID + "\n", "2026-01-02 10:00:00", 1e300, "Completed.", "Running: 5%", "protected"]),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.sampled_from(["success", "errors", "backtest", "backtestId", "projectId", "name", "created", "status", "tags", "note"]), children, max_size=6
        ),
    ),
    max_leaves=20,
)
_read_answers = st.one_of(
    _junk.map(lambda body: Reply(200, body)),
    st.binary(max_size=200).map(lambda data: Reply(200, data)),
    st.builds(
        lambda field, value: Reply(200, {"success": True, "errors": [], "backtest": {**summary(BID), "projectId": 1, field: value}}),
        st.sampled_from(["backtestId", "projectId", "name", "status", "tags", "created"]),
        _junk,
    ),
    st.sampled_from(
        [
            Reply(302, {"success": True}, {"Location": "http://127.0.0.1:9/"}),
            Reply(200, b"\x1f\x8b garbage", {"Content-Encoding": "gzip"}),
            Reply(200, {"success": True}, {"Content-Encoding": "br"}),
            Reply(200, {"success": True, "errors": []}, cut_after=5),
        ]
    ),
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(answer=_read_answers)
def test_fuzz_no_delete_on_a_malformed_read(hostile: HostileServer, tmp_path_factory: pytest.TempPathFactory, answer: Reply) -> None:
    """Whatever the read before a delete answers, the delete is sent only if that answer is a well-formed success
    about the backtest asked for that still looks as planned; and nothing raises but the errors apply handles."""
    hostile.seen.clear()
    hostile.routes["backtests/list"] = lambda p: ok(backtests=[summary(BID)])
    hostile.routes["backtests/read"] = lambda p: answer
    hostile.routes["backtests/delete"] = lambda p: ok()
    (result,) = _apply_one_delete(hostile, tmp_path_factory.mktemp("fuzz")).results
    body = answer.body if isinstance(answer.body, dict) else None
    item = body.get("backtest") if body else None
    planned = {**summary(BID), "projectId": 1}
    understood = (
        answer.status == 200
        and not answer.headers
        and answer.cut_after is None
        and body is not None
        and body.get("success") is True
        and isinstance(item, dict)
        and all(item.get(key) == planned[key] and type(item.get(key)) is type(planned[key]) for key in ("backtestId", "projectId", "name"))
        and isinstance(item.get("status"), str)
        and normalize_status(item["status"]) == "completed"
        and item.get("tags") in ([], None)  # null tags are no tags, as the list says
        and _readable_time(item.get("created"))
    )
    if understood:
        assert result.outcome == Outcome.DELETED
    else:
        assert hostile.calls("backtests/delete") == [], (answer, result)
        assert result.outcome in (Outcome.FAILED, Outcome.SKIPPED, Outcome.ALREADY_GONE), result


def _readable_time(value: Any) -> bool:
    try:
        parse_datetime(value)
    except ValueError:
        return False
    return True


def _apply_one_delete(server: HostileServer, tmp_path: Path) -> Any:
    manifest = tmp_path / "m.yaml"
    manifest.write_text("version: 1\nprojects:\n  - id: 1\n    delete: [{name: 'run*'}]\n    allow_empty: true\n")
    loaded = load_manifest([manifest])
    client = client_for(server)
    states = fetch_states(client, loaded.projects)
    plan = build_plan(states, NOW, manifest_digest=loaded.digest, api_url=server.url)
    checked = preflight(plan, {s.project_id: {b.id: b for b in s.backtests} for s in states})
    journal = Journal(tmp_path / "journal.jsonl")
    try:
        return Executor(client, journal, Archive(tmp_path / "archive", full=False), ExecutionSettings(parallelism=1)).run(plan, checked.tasks)
    finally:
        journal.close()
        client.close()


def test_credentials_repr_never_shows_the_token() -> None:
    assert "secret" not in repr(Credentials("1", "secret-token", "env"))


def test_a_gzip_stream_cut_short_is_retried(hostile: HostileServer) -> None:
    """The HTTP body is whole (its Content-Length holds) but the gzip stream in it ends early: truncated, retried."""
    whole = gzip.compress(json.dumps({"success": True, "errors": [], "backtests": [summary(BID)] * 1}).encode())
    answers = iter([Reply(200, whole[: len(whole) // 2], {"Content-Encoding": "gzip"}), Reply(200, whole, {"Content-Encoding": "gzip"})])
    hostile.routes["backtests/list"] = lambda p: next(answers)
    assert [b.id for b in client_for(hostile).list_backtests(1)] == [BID]
    assert len(hostile.calls("backtests/list")) == 2
