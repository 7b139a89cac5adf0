"""The sandbox as a real server: persistence, seeds, concurrency, request forms, robustness, spec conformance."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import re
import threading
import time
from pathlib import Path
from typing import Any, Callable

import jsonschema
import pytest
import requests
import yaml
from conftest import make_client
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from reconciler.models import STATISTICS, normalize_status
from reconciler.sandbox.seed import DEMO_END
from reconciler.sandbox.server import DEFAULT_API_TOKEN, DEFAULT_USER_ID, SandboxServer
from reconciler.sandbox.store import SandboxStore
from reconciler.statefile import read_state, state_document, write_state
from reconciler.timeutil import parse_datetime

from helpers import ServeProcess, cli_env, run_cli

SPEC = Path(__file__).parent / "data" / "QuantConnect-Platform-2.0.0.yaml"
MOMENTUM = 23456789


def signed_headers(token: str = DEFAULT_API_TOKEN, timestamp: int | None = None) -> dict[str, str]:
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hashlib.sha256(f"{token}:{timestamp}".encode()).hexdigest()
    return {"Timestamp": str(timestamp), "Authorization": "Basic " + base64.b64encode(f"{DEFAULT_USER_ID}:{digest}".encode()).decode()}


#: Where QuantConnect's own clients show the spec wrong, they win (docs/sandbox.md, "Fidelity"): these fields may be null.
SPEC_NULLABLE = {
    "BacktestSummaryResult": [*STATISTICS],  # LEAN declares list statistics `decimal?`
    "BacktestResult": ["error", "stacktrace", "totalPerformance"],  # None unless failed / done, as lean-cli's model has them
}


def spec_schema(name: str) -> dict[str, Any]:
    """A component schema of the official spec as a JSON Schema (refs resolved against the spec), with SPEC_NULLABLE applied."""
    spec = yaml.safe_load(SPEC.read_text())
    schemas = spec["components"]["schemas"]
    for schema_name, fields in SPEC_NULLABLE.items():
        for key in fields:
            prop = schemas[schema_name]["properties"][key]
            schemas[schema_name]["properties"][key] = {"anyOf": [prop, {"type": "null"}]}
    schema = json.loads(json.dumps(schemas[name]))
    # The spec's status enum holds a template ('Running: _%'); statuses are checked separately.
    schema.get("properties", {}).get("status", {}).pop("enum", None)
    return {**schema, "components": {"schemas": schemas}}


def test_serve_answers_signed_list_matching_the_spec(tmp_path: Path) -> None:
    with ServeProcess("--db", str(tmp_path / "s.sqlite")) as serve:
        assert "QC_USER_ID=123456" in "".join(serve.lines)
        response = requests.post(f"{serve.url}/backtests/list", json={"projectId": MOMENTUM, "includeStatistics": True}, headers=signed_headers(), timeout=30)
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True and body["errors"] == []
    assert body["count"] == len(body["backtests"]) >= 1000
    summary_schema = spec_schema("BacktestSummaryResult")
    jsonschema.validate({**body, "backtests": []}, spec_schema("BacktestSummaryResponse"))
    validator = jsonschema.Draft4Validator(summary_schema)
    statuses = set()
    for item in body["backtests"]:
        validator.validate(item)
        assert set(item) <= set(summary_schema["properties"])
        assert len(item["backtestId"]) == 32
        assert parse_datetime(item["created"]).strftime("%Y-%m-%d %H:%M:%S") == item["created"]
        statuses.add(normalize_status(item["status"]))
    assert statuses == {"completed", "failed", "running", "queued"}
    assert any(item["optimizationId"].startswith("O-") for item in body["backtests"])
    assert any("protected" in item["tags"] for item in body["backtests"])
    created = sorted(parse_datetime(item["created"]) for item in body["backtests"])
    assert (created[-1] - created[0]).days >= 600 and created[-1] <= DEMO_END


def test_read_body_has_what_lean_cli_requires(demo_sandbox: SandboxServer) -> None:
    headers = signed_headers()
    projects = requests.get(f"{demo_sandbox.url}/projects/read", headers=headers, timeout=10).json()
    required = {"projectId", "organizationId", "name", "description", "modified", "created", "language", "collaborators",
                "leanVersionId", "leanPinnedToMaster", "leanEnvironment", "parameters", "libraries", "ownerId"}
    assert len(projects["projects"]) >= 4 and all(required <= set(p) for p in projects["projects"])
    backtest_id = make_client(demo_sandbox).list_backtests(MOMENTUM)[5].id
    read = requests.get(f"{demo_sandbox.url}/backtests/read", params={"projectId": MOMENTUM, "backtestId": backtest_id}, headers=headers, timeout=10).json()
    assert {"backtestId", "projectId", "status", "name", "created", "completed", "progress", "note"} <= set(read["backtest"])
    jsonschema.validate(read, spec_schema("BacktestResponse"))


def test_form_body_and_get_query(demo_sandbox: SandboxServer) -> None:
    backtest = make_client(demo_sandbox).list_backtests(MOMENTUM)[3]
    form = requests.post(f"{demo_sandbox.url}/backtests/update", data={"projectId": str(MOMENTUM), "backtestId": backtest.id, "name": "via form"},
                         headers=signed_headers(), timeout=10).json()
    assert form["success"] is True
    listed = requests.get(f"{demo_sandbox.url}/backtests/list", params={"projectId": MOMENTUM}, headers=signed_headers(), timeout=10).json()
    assert any(item["name"] == "via form" for item in listed["backtests"])
    tags = requests.post(f"{demo_sandbox.url}/backtests/tags/update", data={"projectId": MOMENTUM, "backtestId": backtest.id, "tags": ["x", "y"]},
                         headers=signed_headers(), timeout=10).json()
    assert tags["success"] is True
    assert next(b for b in make_client(demo_sandbox).list_backtests(MOMENTUM) if b.id == backtest.id).tags == ("x", "y")


@pytest.mark.parametrize(
    "headers, fragment",
    [
        ({}, "Missing"),
        ({"Timestamp": "1"}, "Missing"),
        (signed_headers(token="wrong"), "Hash doesn't match"),
        (signed_headers(timestamp=int(time.time()) - 3600), "too far"),
        ({"Timestamp": "1", "Authorization": "Basic !!!"}, "Malformed"),
    ],
)
def test_auth_failures_are_401_with_json(demo_sandbox: SandboxServer, headers: dict[str, str], fragment: str) -> None:
    response = requests.post(f"{demo_sandbox.url}/authenticate", json={}, headers=headers, timeout=10)
    assert response.status_code == 401
    body = response.json()
    assert body["success"] is False and body["errors"][0].startswith("Hash doesn't match") and fragment in body["errors"][0]


@pytest.mark.parametrize(
    "data, content_type",
    [
        (b"{not json", "application/json"),
        (b"[1, 2]", "application/json"),
        (b'{"projectId": "abc"}', "application/json"),
        (b'{"projectId": true}', "application/json"),
        (b'{"projectId": 23456789, "includeStatistics": "maybe"}', "application/json"),
        (b"\xff\xfe", "application/json"),
        (b'{"projectId": 99999999999999999999999}', "application/json"),
    ],
)
def test_malformed_requests_never_crash(demo_sandbox: SandboxServer, data: bytes, content_type: str) -> None:
    response = requests.post(f"{demo_sandbox.url}/backtests/list", data=data, headers={**signed_headers(), "Content-Type": content_type}, timeout=10)
    assert response.status_code in (200, 400)
    body = response.json()
    assert body["success"] is False and body["errors"] and "Traceback" not in response.text
    assert make_client(demo_sandbox).authenticate()["success"] is True  # still alive


def test_unknown_ids_are_success_false(demo_sandbox: SandboxServer) -> None:
    for path, payload in [("backtests/list", {"projectId": 1}), ("backtests/read", {"projectId": MOMENTUM, "backtestId": "f" * 32}),
                          ("backtests/delete", {"projectId": MOMENTUM, "backtestId": "f" * 32}), ("backtests/update", {"projectId": MOMENTUM})]:
        body = requests.post(f"{demo_sandbox.url}/{path}", json=payload, headers=signed_headers(), timeout=10).json()
        assert body["success"] is False and body["errors"], path


def test_unknown_path_is_404(demo_sandbox: SandboxServer) -> None:
    assert requests.post(demo_sandbox.url.replace("/api/v2", "/x"), headers=signed_headers(), timeout=10).status_code == 404


def test_concurrent_requests_from_threads(demo_sandbox: SandboxServer) -> None:
    client = make_client(demo_sandbox, pool_size=8)
    targets = client.list_backtests(23456793)[:80]
    errors: list[BaseException] = []

    def work(chunk: list) -> None:
        try:
            for backtest in chunk:
                client.update_backtest(23456793, backtest.id, note=f"note {backtest.id[:6]}")
                client.list_backtests(23456792)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(targets[i::8],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    for backtest in targets[:10]:
        assert client.read_backtest(23456793, backtest.id).note == f"note {backtest.id[:6]}"


def test_create_backtest(demo_sandbox: SandboxServer) -> None:
    client = make_client(demo_sandbox)
    created = client.create_backtest(23456792, "Fresh Run")
    assert created.status == "queued" and created.name == "Fresh Run"  # queued at create; this sandbox runs it in no time
    listed = {b.id: b for b in client.list_backtests(23456792, True)}
    assert listed[created.id].status == "completed" and "sharpeRatio" in listed[created.id].statistics


def test_state_persists_across_restart(tmp_path: Path) -> None:
    db = tmp_path / "persist.sqlite"
    with ServeProcess("--db", str(db), "--seed", "empty") as serve:
        pass
    store = SandboxStore(db)
    assert store.projects() == []
    store.close()
    with ServeProcess("--db", str(db)) as serve:
        assert "existing state" in "".join(serve.lines)
    with ServeProcess("--db", str(db), "--seed", "demo") as serve:
        body = requests.post(f"{serve.url}/backtests/list", json={"projectId": 23456792}, headers=signed_headers(), timeout=10).json()
        victim = body["backtests"][0]["backtestId"]
        assert requests.post(f"{serve.url}/backtests/delete", json={"projectId": 23456792, "backtestId": victim}, headers=signed_headers(), timeout=10).json()["success"]  # noqa: E501
    with ServeProcess("--db", str(db)) as serve:
        body = requests.post(f"{serve.url}/backtests/list", json={"projectId": 23456792}, headers=signed_headers(), timeout=10).json()
        assert victim not in {item["backtestId"] for item in body["backtests"]}
        assert body["count"] == 59


def test_seed_file_round_trip(demo_db: Path, tmp_path: Path) -> None:
    store = SandboxStore(demo_db)
    state = store.export_state()
    store.close()
    for suffix in (".json", ".yaml"):
        path = tmp_path / f"state{suffix}"
        if suffix == ".json":
            write_state(state, path)
        else:
            path.write_text(yaml.dump(state_document(state), Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper)))
        assert read_state(path) == state
        result = run_cli("sandbox", "reset", "--db", str(tmp_path / f"copy{suffix}.sqlite"), "--seed", str(path))
        assert result.returncode == 0, result.stderr
        copy = SandboxStore(tmp_path / f"copy{suffix}.sqlite")
        assert copy.export_state() == state
        copy.close()


def test_bad_seed_file_is_one_line_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"projects": [{"projectId": 1, "backtests": [{"backtestId": "nope"}]}]}')
    result = run_cli("sandbox", "reset", "--db", str(tmp_path / "x.sqlite"), "--seed", str(bad))
    assert result.returncode == 1
    assert "backtestId" in result.stderr and "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_serve_refuses_non_loopback(tmp_path: Path) -> None:
    result = run_cli("sandbox", "serve", "--host", "0.0.0.0", "--db", str(tmp_path / "x.sqlite"))
    assert result.returncode == 1 and "loopback" in result.stderr


def test_dropped_connection_closes_without_answer(start_sandbox: Callable[..., SandboxServer], demo_db: Path) -> None:
    from reconciler.sandbox.server import Faults

    server = start_sandbox(db=demo_db, faults=Faults(drop_rate=1.0))
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.request("POST", "/api/v2/authenticate", body="{}", headers={**signed_headers(), "Content-Type": "application/json"})
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        connection.getresponse()


params_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True),
    st.text(max_size=30),
    st.lists(st.one_of(st.text(max_size=5), st.integers()), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.sampled_from([23456792, "23456792", "f" * 32]),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    endpoint=st.sampled_from(
        [
            "authenticate",
            "projects/read",
            "backtests/create",
            "backtests/list",
            "backtests/read",
            "backtests/update",
            "backtests/tags/update",
            "backtests/delete",
            "projects/create",
            "projects/update",
            "projects/delete",
            "files/create",
            "files/read",
            "files/update",
            "files/patch",
            "files/delete",
            "compile/create",
            "compile/read",
            "account/read",
        ]
    ),
    params=st.dictionaries(
        st.sampled_from(["projectId", "backtestId", "name", "note", "tags", "includeStatistics", "compileId", "backtestName", "language", "content",
                         "newName", "patch", "parameters", "description"]), params_values, max_size=5
    ),
)
@example(endpoint="projects/update", params={"projectId": 2**63})  # once a 500: SQLite cannot hold it
def test_fuzz_endpoints_never_crash(demo_sandbox: SandboxServer, endpoint: str, params: dict) -> None:
    body = json.dumps(params, allow_nan=True)
    response = requests.post(f"{demo_sandbox.url}/{endpoint}", data=body, headers={**signed_headers(), "Content-Type": "application/json"}, timeout=10)
    assert response.status_code in (200, 400), response.text
    answer = response.json()
    assert isinstance(answer["success"], bool) and isinstance(answer["errors"], list)
    assert answer["success"] or answer["errors"]


def test_list_built_by_sqlite_is_the_python_shape(demo_sandbox: SandboxServer) -> None:
    """/backtests/list is built in SQL for speed; it must say exactly what the Python shape (_summary_body) says."""
    from reconciler.sandbox.server import _summary_body

    store = demo_sandbox.store
    store.update_backtest(23456791, store.backtests(23456791)[0].backtest_id, tags=["a", "b"])
    for project in store.projects():
        for with_stats in (False, True):
            built = store.summaries_json(project.project_id, with_stats)
            assert built is not None
            expected = [_summary_body(row, with_stats) for row in store.backtests(project.project_id)]
            assert json.loads(built[0]) == expected and built[1] == len(expected)


def test_a_null_statistic_is_absent_for_selectors_best_and_labels(start_sandbox: Callable[..., SandboxServer], tmp_path: Path) -> None:
    """LEAN declares list statistics `decimal?`: the list sends null where a backtest has none, and a null matches no
    statistics selector, ranks in no `best` and renders in no label (the next label rule, here none, may label it)."""
    backtests = [{"backtestId": f"{i:032x}", "name": f"run {i}", "created": f"2026-11-{10 + i} 12:00:00", "status": "Completed.",
                  "statistics": {"sharpeRatio": None if i % 2 else i - 3.0, "trades": 10.0}} for i in range(1, 7)]
    server = start_sandbox(state={"projects": [{"projectId": 7, "name": "Nulls", "backtests": backtests}]})
    listed = requests.post(f"{server.url}/backtests/list", json={"projectId": 7, "includeStatistics": True}, headers=signed_headers(), timeout=10).json()
    assert {item["backtestId"]: item["sharpeRatio"] for item in listed["backtests"]} == {b["backtestId"]: b["statistics"]["sharpeRatio"] for b in backtests}
    manifest = tmp_path / "m.yaml"
    manifest.write_text("version: 1\nprojects:\n  - id: 7\n    prune: true\n    delete: [{stats: {sharpeRatio: '< 0'}}]\n"
                        "    keep: [{best: {by: sharpeRatio, count: 3}}, {match: [{stats: {sharpeRatio: '>= 0'}}]}]\n"
                        "    label: [{match: {status: completed}, name: 'sharpe {statistics.sharpeRatio:+.1f}'}]\n")
    plan = json.loads(run_cli("plan", str(manifest), "--format", "json", "--now", "2026-11-28T00:00:00Z", env=cli_env(server.url)).stdout)
    actions = {b["id"]: (b["action"], b["reasons"][0]["rule"], next((c["after"] for c in b.get("changes", [])), None))
               for b in plan["projects"][0]["backtests"]}
    ids = [b["backtestId"] for b in backtests]  # sharpe: 1 None, 2 -1.0, 3 None, 4 1.0, 5 None, 6 3.0
    assert actions[ids[1]] == ("delete", "delete", None)  # -1.0 < 0
    assert actions[ids[3]] == ("update", "label", "sharpe +1.0") and actions[ids[5]] == ("update", "label", "sharpe +3.0")  # kept, labelled
    assert all(actions[ids[i]] == ("delete", "prune", None) for i in (0, 2, 4))  # null: not ranked, not matched, not labelled


def test_every_fidelity_row_names_a_source_and_a_test_that_exists() -> None:
    """docs/sandbox.md, "Fidelity": each behaviour cites its source and the test that checks it; a renamed test fails here."""
    text = (Path(__file__).parent.parent / "docs" / "sandbox.md").read_text()
    table = text.split("## Fidelity", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith(("| Behaviour", "| ---"))]
    assert len(rows) >= 15
    for row in rows:
        behaviour, source, tests = (cell.strip() for cell in row.strip("|").split(" | "))
        assert source and behaviour, row[:80]
        cited = re.findall(r"`(tests/[\w/]+\.py)(?:::(\w+))?", tests)
        assert cited, f"no test named for: {behaviour[:80]}"
        for path, name in cited:
            code = (Path(__file__).parent.parent / path).read_text()
            assert not name or f"def {name}(" in code, f"{path}::{name} does not exist"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(["--- a/main.py", "+++ b/main.py", "@@ -1,2 +1,2 @@", "@@ -0,0 +1 @@", "@@ -9 +9 @@", " x", "-x", "+y", "",
                                           "\\ No newline at end of file", "@@ broken"]), st.text(max_size=12)), max_size=12))
def test_a_hostile_patch_is_refused_never_a_crash(lines: list[str]) -> None:
    from reconciler.sandbox.errors import BadRequest
    from reconciler.sandbox.lifecycle import apply_patch

    try:
        changed = apply_patch({"main.py": "x\nz\n"}, "\n".join(lines))
    except BadRequest as exc:
        assert str(exc)
    else:
        assert set(changed) == {"main.py"} and isinstance(changed["main.py"], str)
