"""The API client against a real sandbox over HTTP on 127.0.0.1."""

from __future__ import annotations

import logging
import re
import time
from typing import Callable

import pytest
from conftest import FAST_RETRY, SANDBOX_CREDENTIALS, make_client
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.api import parse
from reconciler.api.client import QuantConnectClient, RetryPolicy, _retry_after
from reconciler.api.credentials import Credentials, resolve_credentials
from reconciler.api.errors import APIError, AuthenticationError, NotFoundError, ResponseFormatError, TransportError
from reconciler.api.urls import check_api_url
from reconciler.errors import ConfigError
from reconciler.sandbox.server import Faults, SandboxServer

MOMENTUM = 23456789
SECRET = "sandbox-token-0123456789abcdef"


class RecordingSleep:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        time.sleep(min(seconds, 2.0))


def test_authenticate_and_list(demo_sandbox: SandboxServer) -> None:
    with make_client(demo_sandbox) as client:
        assert client.authenticate()["success"] is True
        backtests = client.list_backtests(MOMENTUM)
        assert len(backtests) >= 1000
        assert all(b.statistics == {} for b in backtests)
        with_stats = client.list_backtests(MOMENTUM, include_statistics=True)
        assert any("sharpeRatio" in b.statistics for b in with_stats)
        assert {p.name for p in client.list_projects()} >= {"Momentum v2", "Scratch"}


def test_wrong_token_names_user_not_token(demo_sandbox: SandboxServer) -> None:
    bad = Credentials("123456", "wrong-token-value-xyz", "QC_USER_ID/QC_API_TOKEN")
    client = QuantConnectClient(bad, demo_sandbox.url, retry=FAST_RETRY)
    with pytest.raises(AuthenticationError) as info:
        client.list_backtests(MOMENTUM)
    message = str(info.value)
    assert "123456" in message and "QC_USER_ID/QC_API_TOKEN" in message
    assert "wrong-token-value-xyz" not in message and "wrong-token-value-xyz" not in repr(info.value)
    assert "Hash doesn't match" in info.value.body  # the failed body is kept
    assert demo_sandbox.app.calls_by_endpoint["backtests/list"] == 1  # a 401 is never retried


def test_unknown_user_is_rejected(demo_sandbox: SandboxServer) -> None:
    client = QuantConnectClient(Credentials("999", SECRET, "test"), demo_sandbox.url, retry=FAST_RETRY)
    with pytest.raises(AuthenticationError):
        client.authenticate()


def test_stale_timestamp_reports_clock_skew(demo_sandbox: SandboxServer) -> None:
    client = make_client(demo_sandbox, clock=lambda: time.time() - 3600)
    with pytest.raises(AuthenticationError) as info:
        client.authenticate()
    assert re.search(r"clock is 3[56]\d\d s behind", str(info.value))
    assert "fix the system clock" in str(info.value)


def test_small_skew_is_accepted(demo_sandbox: SandboxServer) -> None:
    client = make_client(demo_sandbox, clock=lambda: time.time() - 90)
    assert client.authenticate()["success"] is True


def test_retry_on_429_honours_retry_after(start_sandbox: Callable[..., SandboxServer], demo_db) -> None:
    server = start_sandbox(db=demo_db, faults=Faults(rate_limit=2, rate_window=1.0))
    sleep = RecordingSleep()
    client = make_client(server, sleep=sleep)
    for _ in range(5):
        client.authenticate()
    assert server.app.request_count > 5  # some were answered 429 and retried
    assert any(seconds >= 1.0 for seconds in sleep.calls)  # Retry-After: 1 was honoured


def test_retry_after_forms() -> None:
    now = time.time()
    assert _retry_after({"Retry-After": "7"}, now) == 7.0
    date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(now + 30))
    assert 25 <= _retry_after({"Retry-After": date}, now) <= 31  # type: ignore[operator]
    assert _retry_after({"Retry-After": "soon"}, now) is None
    assert _retry_after({"Retry-After": "9" * 400}, now) is None  # not a number of seconds anyone means


def test_retry_on_500(start_sandbox: Callable[..., SandboxServer], demo_db) -> None:
    server = start_sandbox(db=demo_db, faults=Faults(error_rate=0.25), fault_seed=7)
    client = make_client(server)
    for _ in range(200):
        client.authenticate()
    assert server.app.request_count > 210  # roughly one in four retried


def test_retry_on_dropped_connections_is_idempotent(start_sandbox: Callable[..., SandboxServer], demo_db) -> None:
    server = start_sandbox(db=demo_db, faults=Faults(drop_rate=0.3), fault_seed=3)
    client = make_client(server)
    backtests = make_client(server).list_backtests(23456792)
    for index, backtest in enumerate(backtests[:20]):
        client.update_backtest(23456792, backtest.id, name=f"renamed {index}")
        client.update_backtest_tags(23456792, backtest.id, ["a", "b"])
    after = {b.id: b for b in client.list_backtests(23456792)}
    for index, backtest in enumerate(backtests[:20]):
        assert after[backtest.id].name == f"renamed {index}"
        assert after[backtest.id].tags == ("a", "b")
    assert server.app.request_count > 41


def test_no_retry_on_success_false(demo_sandbox: SandboxServer) -> None:
    sleep = RecordingSleep()
    client = make_client(demo_sandbox, sleep=sleep)
    with pytest.raises(NotFoundError) as info:
        client.read_backtest(MOMENTUM, "0" * 32)
    assert sleep.calls == []
    assert demo_sandbox.app.calls_by_endpoint["backtests/read"] == 1
    assert info.value.errors and "not found" in info.value.errors[0]
    with pytest.raises(APIError):
        client.update_backtest(MOMENTUM, client.list_backtests(MOMENTUM)[0].id, name="x" * 201)
    assert demo_sandbox.app.calls_by_endpoint["backtests/update"] == 1


def test_unknown_project_is_not_found(demo_sandbox: SandboxServer) -> None:
    with pytest.raises(NotFoundError, match="not found"):
        make_client(demo_sandbox).list_backtests(1)


def test_transport_error_after_bounded_attempts() -> None:
    sleep = RecordingSleep()
    client = QuantConnectClient(SANDBOX_CREDENTIALS, "http://127.0.0.1:9/api/v2", retry=RetryPolicy(attempts=3, base=0.001, cap=0.01), sleep=sleep)
    with pytest.raises(TransportError, match="after 3 attempts"):
        client.authenticate()
    assert len(sleep.calls) == 2


def test_token_never_in_debug_logs_or_errors(demo_sandbox: SandboxServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client = make_client(demo_sandbox)
    client.list_backtests(MOMENTUM)
    client.update_backtest(MOMENTUM, client.list_backtests(MOMENTUM)[0].id, note="hello")
    bad = QuantConnectClient(Credentials("123456", "another-secret-token", "env"), demo_sandbox.url, retry=FAST_RETRY)
    with pytest.raises(AuthenticationError) as info:
        bad.authenticate()
    assert "POST /backtests/list" in caplog.text
    for secret in (SECRET, "another-secret-token"):
        assert secret not in caplog.text
        assert secret not in str(info.value) and secret not in repr(info.value) and secret not in info.value.body
    assert "another-secret-token" not in repr(bad.credentials)


@pytest.mark.parametrize("url", ["http://127.0.0.1:5612/api/v2", "http://localhost:1/api/v2", "http://[::1]:5/api/v2", "https://www.quantconnect.com/api/v2"])
def test_allowed_urls(url: str) -> None:
    """Refusals are in tests/test_hostile.py, where a server on 127.0.0.1 shows nothing reaches the host requests would use."""
    assert check_api_url(url) == url
    assert QuantConnectClient(SANDBOX_CREDENTIALS, url + "/").api_url == url


def test_credentials_sources(tmp_path) -> None:
    lean = tmp_path / "credentials"
    lean.write_text('{"user-id": "42", "api-token": "lean-token"}')
    assert resolve_credentials(environ={"QC_USER_ID": "7", "QC_API_TOKEN": "t"}, lean_file=lean).user_id == "7"
    assert resolve_credentials(environ={}, lean_file=lean).source == str(lean)
    assert resolve_credentials("9", "opt", environ={"QC_USER_ID": "7", "QC_API_TOKEN": "t"}, lean_file=lean).user_id == "7"
    assert resolve_credentials("9", "opt", environ={}, lean_file=lean).user_id == "42"
    options = resolve_credentials("9", "opt", environ={}, lean_file=tmp_path / "missing")
    assert (options.user_id, options.source) == ("9", "--user-id/--api-token")
    with pytest.raises(ConfigError, match="QC_USER_ID.*lean.*--user-id"):
        resolve_credentials(environ={}, lean_file=tmp_path / "missing")
    with pytest.raises(ConfigError, match="must be a number"):
        resolve_credentials(environ={"QC_USER_ID": "bob", "QC_API_TOKEN": "t"}, lean_file=lean)


def test_signature_is_fresh_per_request() -> None:
    headers_a = SANDBOX_CREDENTIALS.sign(1700000000)
    headers_b = SANDBOX_CREDENTIALS.sign(1700000001)
    assert headers_a["Timestamp"] == "1700000000"
    assert headers_a["Authorization"] != headers_b["Authorization"]
    assert SECRET not in str(headers_a)


# --- response parsing ------------------------------------------------------------


def test_parser_tolerates_real_service_shapes() -> None:
    body = {"success": True, "backtest": [{
        "backtestId": "26c7bb06b8487cff1c7b3c44652b30f1", "name": "Smooth Apricot Chicken", "created": "2024-03-05T14:22:10.123Z",
        "status": "Running: 45%", "tags": None, "sharpeRatio": 1.5, "trades": 12, "psr": "n/a", "unknownField": {"x": 1},
    }]}
    (backtest,) = parse.backtest_list(body, 5)
    assert backtest.status == "running" and backtest.raw_status == "Running: 45%"
    assert backtest.tags == () and backtest.statistics == {"sharpeRatio": 1.5, "trades": 12.0}
    assert backtest.created.tzinfo is not None and backtest.project_id == 5
    assert parse.backtest_list({"success": True, "backtests": []}, 5) == []
    with pytest.raises(ResponseFormatError, match="carries no backtest list"):  # issue 9: it was read as an empty project
        parse.backtest_list({"success": True}, 5)


@pytest.mark.parametrize(
    "item",
    [
        {"backtestId": "../../etc/passwd", "created": "2024-01-01 00:00:00"},
        {"backtestId": "26C7BB06B8487CFF1C7B3C44652B30F1", "created": "2024-01-01 00:00:00"},
        {"backtestId": "26c7bb06b8487cff1c7b3c44652b30f1"},
        {"backtestId": "26c7bb06b8487cff1c7b3c44652b30f1", "created": "soon"},
        {"backtestId": "26c7bb06b8487cff1c7b3c44652b30f1", "created": "2024-01-01 00:00:00", "tags": "protected"},
        {"backtestId": "26c7bb06b8487cff1c7b3c44652b30f1\n", "created": "2024-01-01 00:00:00"},  # `$` let this through
        {"backtestId": "26c7bb06b8487cff1c7b3c44652b30f1", "created": 1e300},
        {"backtestId": "26c7bb06b8487cff1c7b3c44652b30f1", "created": float("nan")},
        {"backtestId": "26c7bb06b8487cff1c7b3c44652b30f1", "created": "99999-01-01 00:00:00"},
        "not an object",
    ],
)
def test_parser_refuses_what_it_cannot_place(item: object) -> None:
    with pytest.raises(ResponseFormatError):
        parse.backtest_list({"backtests": [item]}, 1)


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=40),
              st.sampled_from(["26c7bb06b8487cff1c7b3c44652b30f1", "26c7bb06b8487cff1c7b3c44652b30f1\n", "2024-03-05 14:22:10", "Completed.",
                               "Running: 4%", "Runtime Error", 1e300, -1e300, 2**70, float("inf"), "99999-01-01", "1e300"])),
    lambda children: st.one_of(st.lists(children, max_size=5), st.dictionaries(
        st.sampled_from(["backtestId", "name", "created", "status", "tags", "progress", "optimizationId", "sharpeRatio", "note",
                         "statistics", "projectId", "backtests", "backtest", "projects", "success", "x"]), children, max_size=6)),
    max_leaves=30,
)


VALID_LISTED = {"backtestId": "26c7bb06b8487cff1c7b3c44652b30f1", "name": "n", "created": "2024-03-05 14:22:10", "status": "Completed.",
                "tags": ["a"], "progress": 1, "sharpeRatio": 1.5}


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(sorted(VALID_LISTED)), json_values, max_size=3), st.booleans())
def test_fuzz_a_listed_backtest_field_by_field(damage: dict, damaged: bool) -> None:
    """A valid listed backtest with some fields replaced by anything: records or ResponseFormatError, and an undamaged one
    always parses (so the assertions on records are reached: the fuzz below alone reached them in 0 of 400 examples)."""
    body = {**VALID_LISTED, **(damage if damaged else {})}
    try:
        (record,) = parse.backtest_list({"backtests": [body]}, 1)
    except ResponseFormatError:
        assert damaged, "an undamaged backtest was refused"
        return
    assert record.created.tzinfo is not None and len(record.id) == 32 and isinstance(record.name, str)
    assert all(isinstance(tag, str) for tag in record.tags) and all(isinstance(v, float) for v in record.statistics.values())


@settings(max_examples=400, deadline=None)
@given(json_values)
def test_fuzz_response_parser(body: object) -> None:
    """Anything the service could send parses into records or raises ResponseFormatError; nothing else."""
    for fn in (lambda: parse.backtest_list(body if isinstance(body, dict) else {"backtests": body}, 1),
               lambda: parse.backtest(body, 1),
               lambda: parse.projects(body if isinstance(body, dict) else {"projects": body})):
        try:
            result = fn()
        except ResponseFormatError:
            continue
        for record in result if isinstance(result, list) else [result]:
            if hasattr(record, "created"):
                assert record.created.tzinfo is not None and len(record.id) == 32


def test_parser_refuses_duplicate_ids() -> None:
    item = {"backtestId": "26c7bb06b8487cff1c7b3c44652b30f1", "created": "2024-01-01 00:00:00"}
    with pytest.raises(ResponseFormatError, match="appears twice"):
        parse.backtest_list({"backtests": [item, item]}, 1)


def test_transport_error_keeps_the_last_body(start_sandbox, demo_db) -> None:
    server = start_sandbox(db=demo_db, faults=Faults(error_rate=1.0))
    client = make_client(server, retry=RetryPolicy(attempts=2, base=0.001, cap=0.01))
    with pytest.raises(TransportError) as info:
        client.authenticate()
    assert info.value.status == 500 and "injected by the sandbox" in info.value.body


def test_one_retry_after_holds_every_worker(start_sandbox: Callable[..., SandboxServer], demo_db) -> None:
    """A 429's Retry-After is for the whole client: a worker that did not get the 429 waits too, instead of collecting its own."""
    server = start_sandbox(db=demo_db, faults=Faults(rate_limit=2, rate_window=1.5))
    sleep = RecordingSleep()
    client = make_client(server, sleep=sleep)
    client.authenticate()
    client.authenticate()  # the window's two calls are used
    import threading

    first = threading.Thread(target=client.authenticate)
    first.start()
    deadline = time.monotonic() + 10
    while not sleep.calls and time.monotonic() < deadline:  # the first worker got its 429 and is waiting
        time.sleep(0.01)
    started = time.monotonic()
    client.authenticate()  # the second worker: held before it sends anything
    first.join()
    assert time.monotonic() - started >= 1.0
    assert server.app.request_count == 5  # 2 + the first worker's 429 and retry + the second's one call: one 429 in all


def test_the_parsers_fast_records_have_every_field() -> None:
    """parse.backtest builds records without the frozen dataclass's __init__ (a third of parsing 100,000): it must give
    every field, or a field added to Backtest would be missing from parsed records."""
    import dataclasses

    (record,) = parse.backtest_list({"backtests": [VALID_LISTED]}, 1)
    assert set(vars(record)) >= {f.name for f in dataclasses.fields(record)}
    assert record == dataclasses.replace(record)
