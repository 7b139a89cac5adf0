"""The sandbox HTTP server: the QuantConnect API v2 paths, auth scheme and bodies, on loopback.

Fault injection (latency, random 500s, a per-user rate limit with 429 and
Retry-After, and connections dropped after the call took effect) lets tests and
benchmarks exercise the client's retries against a real socket.
"""

from __future__ import annotations

import base64
import collections
import hashlib
import hmac
import json
import math
import random
import re
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

from reconciler.defaults import SANDBOX_API_TOKEN as DEFAULT_API_TOKEN
from reconciler.defaults import SANDBOX_HOST as DEFAULT_HOST
from reconciler.defaults import SANDBOX_PORT as DEFAULT_PORT
from reconciler.defaults import SANDBOX_USER_ID as DEFAULT_USER_ID
from reconciler.models import MAX_TAGS, MAX_TEXT_LENGTH, STATISTICS
from reconciler.sandbox import artifacts, results
from reconciler.sandbox.errors import BadRequest
from reconciler.sandbox.lifecycle import Lifecycle
from reconciler.sandbox.store import BacktestRow, ProjectRow, SandboxStore

ORGANIZATION_ID = "d6d62db48592c72e67b534553413b602"
MAX_BODY_BYTES = 1024 * 1024


@dataclass
class Faults:
    latency_ms: float = 0.0
    error_rate: float = 0.0
    drop_rate: float = 0.0
    rate_limit: int = 0  # requests per window per user; 0 = unlimited
    rate_window: float = 60.0
    loading: bool = False  # the first chart or orders read of each backtest answers {"status": "loading"}


@dataclass
class SandboxConfig:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    user_id: str = DEFAULT_USER_ID
    api_token: str = field(default=DEFAULT_API_TOKEN, repr=False)
    faults: Faults = field(default_factory=Faults)
    max_clock_skew: float = 300.0
    fault_seed: int | None = None
    access_log: bool = False
    request_seconds: float = 5.0  # a connection that has not sent a whole request by then is dropped (slowloris)
    idle_seconds: float = 15.0  # a keep-alive connection with no new request for this long is closed
    max_connections: int = 128  # connections served at once; one more is closed at once
    run_seconds: float = 3.0  # a created backtest is queued, runs and completes in this time
    compile_seconds: float = 0.2  # a compile is InQueue this long


class Encoded(str):
    """A value that is JSON text already (built by SQLite): spliced into the answer as it is."""


def encode_answer(payload: dict[str, Any]) -> bytes:
    if not any(isinstance(value, Encoded) for value in payload.values()):
        return json.dumps(payload).encode()
    return ("{" + ",".join(f"{json.dumps(key)}:{value if isinstance(value, Encoded) else json.dumps(value)}" for key, value in payload.items()) + "}").encode()


class _Unauthorized(Exception):
    pass


class SandboxApp:
    """Request handling independent of the socket plumbing: auth, faults, endpoints."""

    def __init__(self, store: SandboxStore, config: SandboxConfig, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.config = config
        self.clock = clock
        self._rng = random.Random(config.fault_seed)
        self._rng_lock = threading.Lock()
        self._calls: dict[str, collections.deque[float]] = collections.defaultdict(collections.deque)
        self._rate_lock = threading.Lock()
        self.request_count = 0  # every request that reached the app, for tests and benchmarks
        self.calls_by_endpoint: collections.Counter[str] = collections.Counter()
        self.recent_calls: collections.deque[tuple[str, dict[str, Any]]] = collections.deque(maxlen=20000)
        self.lifecycle = Lifecycle(store, config.run_seconds, config.compile_seconds, clock)
        self.endpoints: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            **self.lifecycle.endpoints(),
            "authenticate": lambda params: {},
            "account/read": self.account_read,
            "user/read": self.user_read,
            "projects/create": self.projects_create,
            "projects/read": self.projects_read,
            "backtests/create": self.backtests_create,
            "backtests/list": self.backtests_list,
            "backtests/read": self.backtests_read,
            "backtests/update": self.backtests_update,
            "backtests/tags/update": self.backtests_tags_update,
            "backtests/delete": self.backtests_delete,
            "backtests/chart/read": self.chart_read,
            "backtests/orders/read": self.orders_read,
            "backtests/read/insights": self.insights_read,
        }
        self._served_once: set[tuple[str, ...]] = set()  # for the `loading` knob

    def chance(self, probability: float) -> bool:
        if probability <= 0:
            return False
        with self._rng_lock:
            return self._rng.random() < probability

    # --- auth and rate limit ---------------------------------------------

    def authenticate(self, headers: Any) -> str:
        timestamp = (headers.get("Timestamp") or "").strip()
        authorization = headers.get("Authorization") or ""
        if not authorization.startswith("Basic ") or not timestamp:
            raise _Unauthorized("Hash doesn't match. Missing Authorization or Timestamp header.")
        try:
            user_id, _, digest = base64.b64decode(authorization[6:], validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            raise _Unauthorized("Hash doesn't match. Malformed Authorization header.") from None
        expected = hashlib.sha256(f"{self.config.api_token}:{timestamp}".encode()).hexdigest()
        if user_id != self.config.user_id or not hmac.compare_digest(digest.encode(), expected.encode()):
            raise _Unauthorized("Hash doesn't match. Check the user id and API token.")
        if not timestamp.isdigit() or abs(self.clock() - int(timestamp)) > self.config.max_clock_skew:
            raise _Unauthorized("Hash doesn't match. The timestamp is missing or too far from the server time.")
        return user_id

    def retry_after(self, user_id: str) -> int | None:
        """Seconds until this user may call again, or None when the call is allowed (and counted)."""
        limit, window = self.config.faults.rate_limit, self.config.faults.rate_window
        if limit <= 0:
            return None
        now = time.monotonic()
        with self._rate_lock:
            calls = self._calls[user_id]
            while calls and calls[0] <= now - window:
                calls.popleft()
            if len(calls) >= limit:
                return max(1, math.ceil(calls[0] + window - now))
            calls.append(now)
        return None

    # --- endpoints -------------------------------------------------------

    def projects_read(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("projectId") not in (None, ""):
            project = self.store.project(self.lifecycle.project(params))
            assert project is not None
            projects = [project]
        else:
            projects = self.store.projects()
            start = _int(params, "start") if params.get("start") not in (None, "") else 0
            end = _int(params, "end") if params.get("end") not in (None, "") else len(projects)
            projects = projects[start:end]  # 0-based start, exclusive end, as the spec says
        return {"projects": [_project_body(p, int(self.config.user_id), self.store.description(p.project_id)) for p in projects], "versions": []}

    def projects_create(self, params: dict[str, Any]) -> dict[str, Any]:
        created = self.lifecycle.projects_create(params)
        return {**created, "projects": [_project_body(p, int(self.config.user_id), self.store.description(p.project_id)) for p in created["projects"]]}

    def account_read(self, params: dict[str, Any]) -> dict[str, Any]:
        """The account as lean-cli and QuantConnect's MCP server read it (docs/sandbox.md, "Fidelity")."""
        return {"organizationId": ORGANIZATION_ID, "creditBalance": 1000.0, "card": {"brand": "Visa", "expiration": "12/30", "last4": "4242"}}

    def user_read(self, params: dict[str, Any]) -> dict[str, Any]:
        """The user as `lean whoami` reads it: {"user": {name, profile, badge}} (docs/sandbox.md, "Fidelity")."""
        return {"user": {"name": "Sandbox User", "profile": "https://www.quantconnect.com/u/sandbox-user", "badge": None}}

    def _project(self, params: dict[str, Any]) -> int:
        return self.lifecycle.project(params)

    def _backtest(self, params: dict[str, Any]) -> BacktestRow:
        project_id = self._project(params)
        backtest_id = params.get("backtestId")
        if not isinstance(backtest_id, str) or not backtest_id:
            raise BadRequest("backtestId is required.")
        row = self.store.backtest(project_id, backtest_id)
        if row is None:
            raise BadRequest(f"Backtest {backtest_id[:64]} not found in project {project_id}.")
        return row

    def backtests_list(self, params: dict[str, Any]) -> dict[str, Any]:
        project_id = self._project(params)
        with_stats = _bool(params.get("includeStatistics", False))
        built = self.store.summaries_json(project_id, with_stats)
        if built is not None:
            return {"backtests": Encoded(built[0]), "count": built[1]}
        rows = self.store.backtests(project_id)
        return {"backtests": [_summary_body(row, with_stats) for row in rows], "count": len(rows)}

    def backtests_read(self, params: dict[str, Any]) -> dict[str, Any]:
        row = self._backtest(params)
        body = _result_body(row, int(self.config.user_id))
        recorded = self.store.artifacts(row.backtest_id)
        if recorded is not None:
            body["charts"] = {name: {"name": name} for name in recorded["charts"]}
        return {"backtest": body, "debugging": False}

    def _still_loading(self, *key: str) -> bool:
        if not self.config.faults.loading:
            return False
        with self._rng_lock:
            if key in self._served_once:
                return False
            self._served_once.add(key)
        return True

    def chart_read(self, params: dict[str, Any]) -> dict[str, Any]:
        row = self._backtest(params)
        name = params.get("name")
        if not isinstance(name, str) or not name:
            raise BadRequest("name is required.")
        # LEAN's client sends only `count` (docs/sandbox.md, "Fidelity"): a missing range is the whole chart, a missing count every point
        count = _int(params, "count") if params.get("count") not in (None, "") else 0
        start = _int(params, "start") if params.get("start") not in (None, "") else 0
        end = _int(params, "end") if params.get("end") not in (None, "") else 2**62
        recorded = self.store.artifacts(row.backtest_id)
        chart = (recorded["charts"].get(name) if recorded is not None else
                 artifacts.chart(row.backtest_id, row.statistics, row.progress >= 1, name))
        if chart is None:
            raise BadRequest(f"Chart {name[:100]} not found for backtest {row.backtest_id}.")
        if self._still_loading("chart", row.backtest_id, name):
            return {"status": "loading", "progress": 0.5, "__bare__": {"success": True}}
        series = {}
        for key, item in chart["series"].items():
            points = [point for point in item["values"] if start <= point[0] <= end]
            if count and len(points) > count:  # downsampled to `count` points, the first and the last kept
                step = (len(points) - 1) / max(count - 1, 1)
                points = [points[round(i * step)] for i in range(count)]
            series[key] = {**item, "values": points}
        return {"chart": {**chart, "series": series}}

    def _page(self, params: dict[str, Any]) -> tuple[int, int]:
        start, end = _int(params, "start"), _int(params, "end")
        if not 0 <= end - start <= 100:  # LEAN asks for 0..100 by default and refuses only more (docs/sandbox.md, "Fidelity")
            raise BadRequest("end - start must be between 0 and 100.")
        return start, end

    def orders_read(self, params: dict[str, Any]) -> dict[str, Any]:
        row = self._backtest(params)
        start, end = self._page(params)
        if self._still_loading("orders", row.backtest_id):
            return {"status": "loading", "progress": 0.5, "__bare__": {"success": True}}
        recorded = self.store.artifacts(row.backtest_id)
        page = (recorded["orders"][start:end] if recorded is not None else
                artifacts.orders(row.backtest_id, artifacts.order_count(row.statistics, row.progress >= 1), start, end))
        return {"orders": page, "length": len(page)}  # with success and errors, as lean-cli and LEAN read them

    def insights_read(self, params: dict[str, Any]) -> dict[str, Any]:
        row = self._backtest(params)
        start, end = self._page(params)
        recorded = self.store.artifacts(row.backtest_id)
        page = (recorded["insights"][start:end] if recorded is not None else
                artifacts.insights(row.backtest_id, artifacts.insight_count(row.statistics, row.progress >= 1), start, end))
        return {"insights": page, "length": len(page)}

    def backtests_create(self, params: dict[str, Any]) -> dict[str, Any]:
        project_id = self._project(params)
        name = params.get("backtestName")
        if not isinstance(name, str) or not name or len(name) > MAX_TEXT_LENGTH:
            raise BadRequest(f"backtestName is required and at most {MAX_TEXT_LENGTH} characters.")
        parameters = _parameters(params)
        row = self.lifecycle.create_backtest(project_id, params.get("compileId"), name, parameters)
        return {"backtest": _result_body(row, int(self.config.user_id)), "debugging": False}

    def backtests_update(self, params: dict[str, Any]) -> dict[str, Any]:
        row = self._backtest(params)
        fields = {}
        for key in ("name", "note"):
            value = params.get(key)
            if value is None:
                continue
            if not isinstance(value, str):
                raise BadRequest(f"{key} must be a string.")
            if key == "name" and (not value.strip() or len(value) > MAX_TEXT_LENGTH):
                raise BadRequest(f"name must be 1 to {MAX_TEXT_LENGTH} characters.")
            fields[key] = value
        self.store.update_backtest(row.project_id, row.backtest_id, **fields)
        return {}

    def backtests_tags_update(self, params: dict[str, Any]) -> dict[str, Any]:
        row = self._backtest(params)
        tags = params.get("tags")
        if isinstance(tags, str):
            tags = [tags] if not tags.startswith("[") else _json_list(tags)
        if not isinstance(tags, list) or not all(isinstance(t, str) and 0 < len(t) <= MAX_TEXT_LENGTH for t in tags) or len(tags) > MAX_TAGS:
            raise BadRequest(f"tags must be a list of at most {MAX_TAGS} strings of 1 to {MAX_TEXT_LENGTH} characters.")
        self.store.update_backtest(row.project_id, row.backtest_id, tags=list(dict.fromkeys(tags)))
        return {}

    def backtests_delete(self, params: dict[str, Any]) -> dict[str, Any]:
        row = self._backtest(params)
        self.store.delete_backtest(row.project_id, row.backtest_id)
        return {}


# --- response bodies (official field names and types) ------------------------


def _project_body(project: ProjectRow, owner_id: int, description: str = "") -> dict[str, Any]:
    return {
        "projectId": project.project_id, "organizationId": ORGANIZATION_ID, "name": project.name, "description": description,
        "modified": project.modified, "created": project.created, "ownerId": owner_id, "language": project.language,
        "collaborators": [{"uid": owner_id, "liveControl": True, "permission": "write", "publicId": "sandbox-user",
                           "profileImage": "", "email": "sandbox@example.invalid", "name": "Sandbox User", "bio": "", "owner": True}],
        "leanVersionId": 17000, "leanPinnedToMaster": True, "owner": True, "parameters": [], "libraries": [],
        "leanEnvironment": 1, "encrypted": False, "codeRunning": False, "paperEquity": 100000.0,
    }


def _summary_body(row: BacktestRow, with_stats: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "backtestId": row.backtest_id, "status": row.status, "name": row.name, "created": row.created,
        "progress": row.progress, "optimizationId": row.optimization_id, "tradeableDates": 252 if row.progress >= 1 else 0,
        "parameterSet": row.parameter_set or [], "snapshotId": 0, "tags": row.tags,
        "parameters": len(row.parameter_set), "securityTypes": 1,
    }
    if with_stats:  # every statistic, null where there is none (LEAN declares them `decimal?`)
        body.update({key: float(row.statistics[key]) if key in row.statistics else None for key in STATISTICS})
        if body["trades"] is not None:
            body["trades"] = int(body["trades"])
    return body


def _result_body(row: BacktestRow, owner_id: int) -> dict[str, Any]:
    stats = row.statistics
    done = row.progress >= 1
    failed = row.status.startswith("Runtime Error")
    return {
        # No `tags`: a real read carries none (docs/sandbox.md, "Fidelity"); tags are known from lists only.
        "note": row.note,
        "name": row.name,
        "organizationId": ORGANIZATION_ID,
        "projectId": row.project_id,
        "completed": done,
        "optimizationId": row.optimization_id,
        "backtestId": row.backtest_id,
        "tradeableDates": 252 if done else 0,
        "researchGuide": {"minutes": 12, "backtestCount": 1, "parameters": len(row.parameter_set)},
        "backtestStart": "2020-01-01 00:00:00",
        "backtestEnd": "2023-12-31 00:00:00",
        "created": row.created,
        "snapshotId": 0,
        "status": row.status,
        # null unless it failed: lean-cli's cloud runner reads a non-null error as "finished with an error"
        "error": "Runtime Error: division by zero" if failed else None,
        "stacktrace": "  at OnData in main.py: line 42" if failed else None,
        "progress": row.progress,
        "hasInitializeError": False,
        "charts": {name: {"name": name} for name in artifacts.chart_names(done)},
        "parameterSet": row.parameter_set or [],
        "rollingWindow": {},
        "runtimeStatistics": results.runtime_statistics(stats) if done else {},
        "statistics": results.statistics(stats) if done else {},
        "totalPerformance": results.total_performance(stats) if done else None,
        "nodeName": "B-MICRO",
        "outOfSampleDays": 0,
    }


# --- parameter coercion (JSON bodies, form bodies and query strings) ----------


def _int(params: dict[str, Any], key: str) -> int:
    value = params.get(key)
    if isinstance(value, bool):
        raise BadRequest(f"{key} must be an integer.")
    if isinstance(value, str) and value.strip().isdigit() and len(value) < 19:
        value = int(value)
    if isinstance(value, int) and 0 <= value < 2**62:
        return value
    raise BadRequest(f"{key} is required and must be an integer.")


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "1", "false", "0", ""):
        return value.lower() in ("true", "1")
    if isinstance(value, int):
        return value != 0
    raise BadRequest("includeStatistics must be a boolean.")


_FORM_PARAMETER = re.compile(r"parameters\[([^\]]+)\]")


def _parameters(params: dict[str, Any]) -> dict[str, Any]:
    """`parameters` as a JSON object, or as form fields `parameters[name]=value` (what a form-encoded create sends)."""
    parameters = params.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise BadRequest("parameters must be an object of name to value.")
    parameters = dict(parameters)
    for key, value in params.items():
        match = _FORM_PARAMETER.fullmatch(key)
        if match:
            parameters[match.group(1)] = value
    if not all(isinstance(k, str) and isinstance(v, (str, int, float)) and not isinstance(v, bool) for k, v in parameters.items()):
        raise BadRequest("parameters must be an object of name to value.")
    return parameters


def _json_list(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise BadRequest("tags must be a JSON list of strings.") from None


def _form(text: str) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for key, values in parse_qs(text, keep_blank_values=True).items():
        params[key.removesuffix("[]")] = values if len(values) > 1 or key.endswith("[]") else values[0]
    return params


# --- socket plumbing -----------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # Nagle + delayed ACK: without it every keep-alive response waits ~40 ms
    server_version = "qc-sandbox"
    sys_version = ""
    server: "_HTTPServer"

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.app.config.idle_seconds)

    def handle_one_request(self) -> None:
        """Wait (at most idle_seconds) for a request to begin; from its first byte, the whole request must be in within
        request_seconds, or the connection is dropped: half-sent requests cannot hold the server's threads."""
        try:
            if not self.rfile.peek(1):
                self.close_connection = True
                return
        except OSError:  # the idle timeout, or the client went away
            self.close_connection = True
            return
        self.server.watch(self.connection)
        try:
            super().handle_one_request()
        finally:
            self._request_read()

    def _request_read(self) -> None:
        self.server.unwatch(self.connection)

    def do_GET(self) -> None:  # noqa: N802
        self._request_read()
        self._handle(body=b"")

    def do_POST(self) -> None:  # noqa: N802
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit() or int(length) > MAX_BODY_BYTES:
            self._request_read()
            self._send(400, {"success": False, "errors": ["A Content-Length of at most 1 MiB is required."]})
            self.close_connection = True
            return
        body = self.rfile.read(int(length))
        self._request_read()
        if len(body) < int(length):
            self.close_connection = True
            return
        self._handle(body=body)

    def _handle(self, body: bytes) -> None:
        app = self.server.app
        faults = app.config.faults
        if faults.latency_ms > 0:
            time.sleep(faults.latency_ms / 1000)
        url = urlsplit(self.path)
        if not url.path.startswith("/api/v2/"):
            self._send(404, {"success": False, "errors": [f"Unknown path {url.path[:100]}; the API lives under /api/v2/."]})
            return
        endpoint = url.path[len("/api/v2/") :].strip("/")
        with app._rate_lock:
            app.request_count += 1
            app.calls_by_endpoint[endpoint] += 1
        try:
            user_id = app.authenticate(self.headers)
        except _Unauthorized as exc:
            self._send(401, {"success": False, "errors": [str(exc)]}, {"www_authenticate": 'Basic realm="QuantConnect"'})
            return
        wait = app.retry_after(user_id)
        if wait is not None:
            self._send(429, {"success": False, "errors": ["Too many requests; slow down."]}, {"Retry-After": str(wait)})
            return
        if app.chance(faults.error_rate):
            self._send(500, {"success": False, "errors": ["Internal server error (injected by the sandbox)."]})
            return
        handler = app.endpoints.get(endpoint)
        if handler is None:
            self._send(404, {"success": False, "errors": [f"Unknown endpoint /{endpoint[:100]}."]})
            return
        try:
            params = self._params(url.query, body)
            app.recent_calls.append((endpoint, params))
            app.lifecycle.advance()  # created backtests move on with the clock
            answer = handler(params)
            bare = answer.pop("__bare__", None)  # endpoints whose documented answer has its own envelope
            result = {**bare, **answer} if bare is not None else {"success": True, "errors": [], **answer}
        except BadRequest as exc:
            result = {"success": False, "errors": [str(exc)]}
        except Exception as exc:  # never a stack trace to the client, never a dead server
            print(f"sandbox: internal error on /{endpoint}: {type(exc).__name__}: {exc}", file=sys.stderr)
            self._send(500, {"success": False, "errors": ["Internal server error."]})
            return
        if app.chance(faults.drop_rate):
            self.close_connection = True  # the call took effect; the answer is lost
            return
        self._send(200, result)

    def _params(self, query: str, body: bytes) -> dict[str, Any]:
        params: dict[str, Any] = _form(query)
        if not body.strip():
            return params
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest("The request body is not UTF-8.") from None
        if content_type == "application/x-www-form-urlencoded":
            params.update(_form(text))
            return params
        try:
            data = json.loads(text)
        except ValueError:
            raise BadRequest("The request body is not valid JSON.") from None
        if not isinstance(data, dict):
            raise BadRequest("The request body must be a JSON object.")
        params.update(data)
        return params

    def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = encode_answer(payload)
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        if self.server.app.config.access_log:
            sys.stderr.write(f"sandbox: {self.address_string()} {format % args}\n")


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: SandboxApp) -> None:
        self.app = app
        self._slots = threading.BoundedSemaphore(max(1, app.config.max_connections))
        self._deadlines: dict[socket.socket, float] = {}
        self._watch_lock = threading.Lock()
        self._closing = threading.Event()
        self._reaper: threading.Thread | None = None
        super().__init__(address, _Handler)

    def watch(self, connection: socket.socket) -> None:
        """From now, this connection has request_seconds to send the rest of its request (one reaper thread for all)."""
        with self._watch_lock:
            self._deadlines[connection] = time.monotonic() + self.app.config.request_seconds
            if self._reaper is None:
                self._reaper = threading.Thread(target=self._reap, name="sandbox-reaper", daemon=True)
                self._reaper.start()

    def unwatch(self, connection: socket.socket) -> None:
        with self._watch_lock:
            self._deadlines.pop(connection, None)

    def _reap(self) -> None:
        while not self._closing.wait(min(0.1, self.app.config.request_seconds / 4)):
            now = time.monotonic()
            with self._watch_lock:
                late = [c for c, deadline in self._deadlines.items() if deadline < now]
                for connection in late:
                    del self._deadlines[connection]
            for connection in late:
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def server_close(self) -> None:
        self._closing.set()
        super().server_close()

    def process_request(self, request: Any, client_address: Any) -> None:
        """At most max_connections threads: one more connection is closed at once rather than given a thread."""
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hangs up is not the server's problem


class SandboxServer:
    """A running sandbox: start() for a background thread, serve_forever() for the foreground."""

    def __init__(self, store: SandboxStore, config: SandboxConfig) -> None:
        if config.host not in ("127.0.0.1", "localhost"):
            raise ValueError(f"the sandbox binds to loopback only (127.0.0.1 or localhost), not {config.host!r}")
        self.store = store
        self.config = config
        self.app = SandboxApp(store, config)
        self._httpd = _HTTPServer((config.host, config.port), self.app)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self.config.host}:{self.port}/api/v2"

    def start(self) -> "SandboxServer":
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="sandbox", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._httpd.serve_forever()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> "SandboxServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
