"""The QuantConnect API v2 client: one keep-alive session, signed requests, bounded retries."""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import zlib
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Callable, Iterator, Mapping

import requests
import requests.auth
import urllib3
from requests.adapters import HTTPAdapter

from reconciler.api import parse
from reconciler.api.credentials import Credentials
from reconciler.api.errors import (
    APIError,
    AuthenticationError,
    NotFoundError,
    ResponseFormatError,
    TransportError,
)
from reconciler.api.urls import DEFAULT_API_URL, judge_api_url
from reconciler.defaults import REQUEST_DEADLINE, RETRIES
from reconciler.models import Backtest, Project

log = logging.getLogger("reconciler.api")

_NOT_FOUND_HINTS = ("not found", "does not exist", "doesn't exist", "no backtest", "no project", "invalid project", "invalid backtest")
_BODY_KEEP = 4000  # characters of a failed body kept in the exception
#: A whole request, answer included, must finish within this many seconds (a body that trickles in still times out).
DEFAULT_DEADLINE = REQUEST_DEADLINE
#: The largest answer accepted, after decompression: a 20,000-backtest list with statistics is about 13 MiB.
MAX_RESPONSE_BYTES = 64 * 1024 * 1024
#: Archive reads: every point of a chart, orders and insights in pages of `end - start` < 100 (the spec's limit).
MAX_CHART_POINTS = 10_000_000
CHART_END = 4_102_444_800  # 2100-01-01, unix seconds
PAGE_SPAN = 99
MAX_PAGES = 20_000  # 1,980,000 orders: beyond that the answers are not believed


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter; 10 attempts survive a 1-in-4 failure rate over thousands of calls."""

    attempts: int = RETRIES + 1
    base: float = 0.2
    cap: float = 10.0
    max_retry_after: float = 120.0

    def backoff(self, attempt: int, rng: random.Random) -> float:
        return rng.uniform(0, min(self.cap, self.base * (2 ** attempt)))


class QuantConnectClient:
    """Every endpoint the reconciler uses; thread-safe for concurrent calls on one session."""

    def __init__(
        self,
        credentials: Credentials,
        api_url: str = DEFAULT_API_URL,
        *,
        pool_size: int = 16,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        deadline: float = DEFAULT_DEADLINE,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        notify: Callable[[str], None] | None = None,
    ) -> None:
        target = judge_api_url(api_url)
        self._notify = notify  # says what a retry waits for, when the wait is long enough for a person to wonder
        self.loading_deadline = deadline  # how long a chart or orders read may keep answering "loading"
        self.api_url = target.url
        self.credentials = credentials
        self.retry = retry or RetryPolicy()
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.deadline = deadline
        self.max_response_bytes = max_response_bytes
        self._clock = clock
        self._sleep = sleep
        self._rng = random.Random()
        self._auth = _SignedAuth(credentials, clock)
        self._not_before = 0.0  # monotonic time before which no request starts: a 429's Retry-After holds every worker
        self._not_before_lock = threading.Lock()
        self.clock_offset: float | None = None  # server minus local time, from the last response's Date header
        self.session = requests.Session()
        # Loopback (the sandbox) never goes through a proxy from the environment; https proxies and CA bundles still apply.
        self.session.trust_env = not target.loopback
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=max(pool_size, 4), max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers.update({"User-Agent": "qc-backtest-reconciler", "Accept": "application/json", "Accept-Encoding": "gzip, deflate"})

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> "QuantConnectClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- transport -------------------------------------------------------

    def call(self, endpoint: str, payload: dict[str, Any] | None = None, *, envelope_free: str | None = None) -> dict[str, Any]:
        """POST one call; retry transport failures, 429 and 5xx; raise a typed error otherwise.

        envelope_free: the key of an answer documented without `success` (orders): its presence, as a list, is the success.
        """
        url = f"{self.api_url}/{endpoint}"
        body = json.dumps(payload or {})
        last_problem, last_body, last_status = "", "", None
        for attempt in range(self.retry.attempts):
            self._wait_for_rate_limit()
            started = time.monotonic()
            try:
                answer = self._exchange(url, body)
            except _Retryable as exc:
                last_problem = str(exc)
                log.debug("POST /%s attempt %d failed: %s", endpoint, attempt + 1, last_problem)
                self._pause(attempt, None, endpoint, last_problem)
                continue
            elapsed = (time.monotonic() - started) * 1000
            log.debug("POST /%s -> %d in %.0f ms (attempt %d)", endpoint, answer.status, elapsed, attempt + 1)
            if answer.status == 429 or answer.status >= 500:
                last_problem, last_body, last_status = f"HTTP {answer.status}", answer.text[:_BODY_KEEP], answer.status
                retry_after = _retry_after(answer.headers, self._clock()) if answer.status == 429 else None
                if retry_after is not None:
                    self._hold_all(min(retry_after, self.retry.max_retry_after))
                self._pause(attempt, retry_after, endpoint, "HTTP 429 (rate limit)" if answer.status == 429 else last_problem)
                continue
            return self._interpret(endpoint, answer, envelope_free)
        raise TransportError(
            f"/{endpoint} failed after {self.retry.attempts} attempts (last: {last_problem}) at {self.api_url}; check the network or the API URL and try again",
            endpoint=endpoint, status=last_status, body=last_body,
        )

    def _exchange(self, url: str, body: str) -> "_Answer":
        """One request and its whole answer, within the total deadline and the size cap (after decompression)."""
        started = time.monotonic()
        read_timeout = min(self.read_timeout, self.deadline)
        try:
            response = self.session.post(url, data=body, headers=_JSON, auth=self._auth, timeout=(self.connect_timeout, read_timeout),
                                         allow_redirects=False, stream=True)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise _Retryable(type(exc).__name__) from None
        except requests.RequestException as exc:
            raise TransportError(f"{url.rsplit('/api/v2/', 1)[-1]}: {type(exc).__name__}") from None
        try:
            if 300 <= response.status_code < 400:
                location = str(response.headers.get("Location", ""))[:200]
                raise APIError(f"{url[len(self.api_url):]} answered a redirect (HTTP {response.status_code} to {location!r}); the API never redirects, "
                               "and redirects are not followed: check the API URL", status=response.status_code)
            data = _read_body(response, started + self.deadline, self.max_response_bytes)
            return _Answer(response.status_code, response.headers, data)
        finally:
            response.close()

    def _hold_all(self, seconds: float) -> None:
        """The service said when to come back: no worker on this client sends anything before then."""
        with self._not_before_lock:
            self._not_before = max(self._not_before, time.monotonic() + seconds)

    def wait_for_rate_limit(self) -> None:
        """Wait out a Retry-After now, so that a call about to be sent is sent at once (the last check's 2 s window)."""
        self._wait_for_rate_limit()

    def _wait_for_rate_limit(self) -> None:
        delay = self._not_before - time.monotonic()
        if delay > 0:
            self._sleep(delay)

    def _pause(self, attempt: int, retry_after: float | None, endpoint: str = "", problem: str = "") -> None:
        if attempt + 1 >= self.retry.attempts:
            return
        delay = self.retry.backoff(attempt, self._rng)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.retry.max_retry_after))
        if self._notify is not None and (delay >= 1.0 or attempt >= 2):
            self._notify(f"/{endpoint}: {problem}; retrying in {delay:.1f} s (attempt {attempt + 2} of {self.retry.attempts})")
        self._sleep(delay)

    def _interpret(self, endpoint: str, answer: "_Answer", envelope_free: str | None = None) -> dict[str, Any]:
        self.clock_offset = clock_offset(answer.headers, self._clock())
        text = answer.text[:_BODY_KEEP]
        data = answer.json()
        errors = _errors(data)
        if answer.status == 401 or any("hash doesn't match" in e.lower() or "hash does not match" in e.lower() for e in errors or ()):
            raise AuthenticationError(self._auth_message(errors or [], answer), endpoint=endpoint, errors=errors or [], status=answer.status, body=text)
        if answer.status >= 400:
            raise APIError(f"/{endpoint} answered HTTP {answer.status}: {_summary(errors, text)}", endpoint=endpoint, errors=errors or [],
                           status=answer.status, body=text)
        if not isinstance(data, dict):
            raise ResponseFormatError(
                f"/{endpoint} answered something that is not a JSON object: {text[:200]!r}", endpoint=endpoint, status=answer.status, body=text
            )
        if envelope_free and "success" not in data and "errors" not in data and isinstance(data.get(envelope_free), list):
            return data
        if data.get("success") is not True:
            # "Not found" only in the documented shape (errors: a list of strings); anything else is a failure we do not act on.
            kind = NotFoundError if errors is not None and any(h in e.lower() for e in errors for h in _NOT_FOUND_HINTS) else APIError
            raise kind(f"/{endpoint} failed: {_summary(errors, text)}", endpoint=endpoint, errors=errors or [], status=answer.status, body=text)
        return data

    def _auth_message(self, errors: list[str], answer: "_Answer") -> str:
        source = self.credentials.source or "unknown"
        message = f"authentication failed for QuantConnect user id {self.credentials.user_id} (credentials from {source}) at {self.api_url}"
        if errors:
            message += f": {'; '.join(errors).rstrip('.')}"
        skew = clock_offset(answer.headers, self._clock())
        if skew is not None and abs(skew) > 60:
            message += (
                f"; your clock is {abs(skew):.0f} s {'behind' if skew > 0 else 'ahead of'} the server's: fix the system clock (the signature embeds the time)"
            )
        else:
            message += "; check QC_USER_ID and QC_API_TOKEN (or ~/.lean/credentials)"
        return message

    # --- endpoints -------------------------------------------------------

    def authenticate(self) -> dict[str, Any]:
        return self.call("authenticate")

    def list_projects(self) -> list[Project]:
        return parse.projects(self.call("projects/read"))

    def list_backtests(self, project_id: int, include_statistics: bool = False) -> list[Backtest]:
        body = self.call("backtests/list", {"projectId": project_id, "includeStatistics": include_statistics})
        return parse.backtest_list(body, project_id)

    def read_backtest_raw(self, project_id: int, backtest_id: str) -> dict[str, Any]:
        """The whole /backtests/read body (what apply archives), about the backtest asked for and no other."""
        body = self.call("backtests/read", {"projectId": project_id, "backtestId": backtest_id})
        parse.check_identity(body, project_id, backtest_id)
        return body

    def read_backtest(self, project_id: int, backtest_id: str) -> Backtest:
        return parse.backtest(self.read_backtest_raw(project_id, backtest_id)["backtest"], project_id)

    # --- what a backtest produced (the archive) ---------------------------------

    def read_chart(self, project_id: int, backtest_id: str, name: str) -> dict[str, Any]:
        """One chart with all its points (the whole time range, as many points as there are)."""
        payload = {"projectId": project_id, "backtestId": backtest_id, "name": name, "count": MAX_CHART_POINTS, "start": 0, "end": CHART_END}
        body = self._until_ready("backtests/chart/read", payload)
        return parse.chart(body, name)

    def walk_pages(self, endpoint: str, key: str, project_id: int, backtest_id: str, expected: int | None) -> "PageWalk":
        """Orders or insights, one page at a time (an archive streams them to its file: memory holds one page, not a
        million orders); `expected` (the read's `Total Orders`) lets the last short page end the walk without one more call."""
        return PageWalk(self, endpoint, key, project_id, backtest_id, expected)

    def _until_ready(self, endpoint: str, payload: dict[str, Any], key: str | None = None) -> dict[str, Any]:
        """QuantConnect generates charts and orders on demand and answers {"status": "loading"} meanwhile:
        poll with backoff within a deadline; a loading answer is never taken for the data."""
        deadline = time.monotonic() + self.loading_deadline
        delay = 0.2
        while True:
            body = self.call(endpoint, payload, envelope_free=key)
            if body.get("status") != "loading":
                return body
            if time.monotonic() + delay > deadline:
                raise TransportError(f"/{endpoint} was still loading after {self.loading_deadline:.0f} s; try again later", endpoint=endpoint)
            self._sleep(delay)
            delay = min(delay * 2, 5.0)

    def compile_project(self, project_id: int, timeout: float = 60.0) -> str:
        """A successful compile of the project's files, waited for as lean-cli waits (docs/sandbox.md, "Fidelity"): its id."""
        compile_id = self.call("compile/create", {"projectId": project_id}).get("compileId")
        if not isinstance(compile_id, str):
            raise ResponseFormatError("unexpected response from /compile/create: no compileId", endpoint="compile/create")
        deadline, delay = time.monotonic() + timeout, 0.05
        while True:
            body = self.call("compile/read", {"projectId": project_id, "compileId": compile_id})
            state = body.get("state")
            if state == "BuildSuccess":
                return compile_id
            if state != "InQueue":
                logs = [str(line) for line in body.get("logs") or []][-5:]
                raise APIError(f"project {project_id} did not compile ({state}): {' | '.join(logs)[:500]}", endpoint="compile/read")
            if time.monotonic() + delay > deadline:
                raise TransportError(f"project {project_id} was still compiling after {timeout:.0f} s", endpoint="compile/read")
            self._sleep(delay)
            delay = min(delay * 2, 2.0)

    def create_backtest(self, project_id: int, name: str, parameters: dict[str, str | float] | None = None, compile_id: str | None = None) -> Backtest:
        """A new backtest of the project (compiled first unless a compile id is given); it starts queued."""
        payload: dict[str, Any] = {"projectId": project_id, "compileId": compile_id or self.compile_project(project_id), "backtestName": name}
        if parameters:
            payload["parameters"] = parameters
        body = self.call("backtests/create", payload)
        return parse.backtest(body.get("backtest"), project_id, "backtests/create")

    def update_backtest(self, project_id: int, backtest_id: str, *, name: str | None = None, note: str | None = None) -> None:
        payload: dict[str, Any] = {"projectId": project_id, "backtestId": backtest_id}
        if name is not None:
            payload["name"] = name
        if note is not None:
            payload["note"] = note
        self.call("backtests/update", payload)

    def update_backtest_tags(self, project_id: int, backtest_id: str, tags: list[str]) -> None:
        self.call("backtests/tags/update", {"projectId": project_id, "backtestId": backtest_id, "tags": list(tags)})

    def delete_backtest(self, project_id: int, backtest_id: str) -> None:
        self.call("backtests/delete", {"projectId": project_id, "backtestId": backtest_id})


class PageWalk:
    """docs/design.md, "Records": every item of a paged read, page by page. A page shorter than asked for does not end the
    walk (a server may page by 50): an empty page does, or a short one once `expected` items are in. Pages advance by what
    came back; a page that repeats items of the one before, or goes back (order ids only rise), ends the walk as an error.
    `reported` is the largest `length` any page claimed (a lower bound on how many exist: the spec calls it the "total
    number of returned" items, which may mean the page or the whole), `calls` the pages asked for."""

    def __init__(self, client: "QuantConnectClient", endpoint: str, key: str, project_id: int, backtest_id: str, expected: int | None) -> None:
        self._client, self.endpoint, self.key = client, endpoint, key
        self._payload = {"projectId": project_id, "backtestId": backtest_id}
        self.expected = expected
        self.count = self.reported = self.calls = 0

    def __iter__(self) -> Iterator[list[dict[str, Any]]]:
        start, previous = 0, None
        while True:
            if self.calls >= MAX_PAGES:
                raise ResponseFormatError(f"/{self.endpoint} kept answering pages after {MAX_PAGES} pages; refused", endpoint=self.endpoint)
            self.calls += 1
            body = self._client._until_ready(self.endpoint, {**self._payload, "start": start, "end": start + PAGE_SPAN}, self.key)
            page = parse.page(body, self.key, self.endpoint)
            length = body.get("length")
            if type(length) is int and length > self.reported:
                self.reported = length
            if not page:
                return
            if previous is not None and _overlaps(previous, page):
                raise ResponseFormatError(f"/{self.endpoint} answered a page that repeats or goes back (at item {start:,}); refused", endpoint=self.endpoint)
            previous = page
            self.count += len(page)
            start += len(page)
            yield page
            if self.expected is not None and len(page) < PAGE_SPAN and self.count >= max(self.expected, self.reported):
                return


def _overlaps(previous: list[dict[str, Any]], page: list[dict[str, Any]]) -> bool:
    """Order ids are integers that rise; other ids (insights' hex strings) must not reappear from the page before."""
    last, first = previous[-1].get("id"), page[0].get("id")
    if type(last) is int and type(first) is int:
        return first <= last
    before = {item.get("id") for item in previous if isinstance(item.get("id"), str)}
    return any(item.get("id") in before for item in page if isinstance(item.get("id"), str))


class _SignedAuth(requests.auth.AuthBase):
    """Signs each request as it is sent: a fresh timestamp and hash for every attempt.

    Passing auth explicitly also keeps requests from substituting ~/.netrc credentials.
    """

    def __init__(self, credentials: Credentials, clock: Callable[[], float]) -> None:
        self.credentials = credentials
        self.clock = clock

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers.update(self.credentials.sign(int(self.clock())))
        return request


_JSON = {"Content-Type": "application/json"}
_CHUNK = 64 * 1024


class _Retryable(Exception):
    """A connection error, a timeout, a truncated body: the call may be sent again."""


@dataclass(frozen=True)
class _Answer:
    status: int
    headers: Mapping[str, str]
    data: bytes

    @property
    def text(self) -> str:
        return self.data[: _BODY_KEEP * 4].decode("utf-8", errors="replace")

    def json(self) -> Any:
        try:
            return json.loads(self.data)
        except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested beyond reason
            return None


def _decoder(encoding: str) -> Any:
    """A bounded decompressor for the Content-Encoding, or None for identity; other encodings are refused."""
    if encoding in ("", "identity"):
        return None
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return zlib.decompressobj(zlib.MAX_WBITS)
    raise ResponseFormatError(f"the answer is encoded as {encoding[:40]!r}, which was not asked for; refused")


def _read_body(response: requests.Response, deadline: float, cap: int) -> bytes:
    """The whole body, read in chunks against a monotonic deadline; at most `cap` bytes after decompression.

    Each chunk is one read from the socket (read1), so a body that trickles in still
    meets the deadline; decompression is bounded by max_length, so a gzip bomb stops at
    the cap. A body shorter than its Content-Length (urllib3 raises for it) or a gzip
    stream cut short is a truncated answer: retryable, like a dropped connection.
    """
    raw = response.raw
    decoder = _decoder((response.headers.get("Content-Encoding") or "").strip().lower())
    parts: list[bytes] = []
    size = 0
    while True:
        if time.monotonic() > deadline:
            raise _Retryable("total deadline exceeded while reading the answer")
        try:
            chunk = raw.read1(_CHUNK, decode_content=False)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise _Retryable(f"connection failed mid-answer ({type(exc).__name__})") from None
        if not chunk:
            break
        if decoder is not None:
            try:
                chunk = decoder.decompress(chunk, cap - size + 1)
            except zlib.error:
                raise ResponseFormatError("the answer's compressed body is damaged") from None
        size += len(chunk)
        if size > cap:
            raise ResponseFormatError(f"the answer is larger than {cap // 2**20} MiB (after decompression); refused")
        parts.append(chunk)
    if decoder is not None:
        tail = decoder.flush()
        if not decoder.eof:
            raise _Retryable("truncated compressed answer")
        size += len(tail)
        if size > cap:
            raise ResponseFormatError(f"the answer is larger than {cap // 2**20} MiB (after decompression); refused")
        parts.append(tail)
    return b"".join(parts)


def clock_offset(headers: Mapping[str, str], now: float) -> float | None:
    """Server time minus local time, in seconds, from the Date header (None when absent)."""
    header = headers.get("Date")
    if not header:
        return None
    try:
        return parsedate_to_datetime(header).timestamp() - now
    except (TypeError, ValueError, OverflowError):
        return None


def _retry_after(headers: Mapping[str, str], now: float) -> float | None:
    value = (headers.get("Retry-After") or "").strip()
    if not value:
        return None
    if value.isdigit() and len(value) < 10:
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError, OverflowError):
        return None


def _errors(data: Any) -> list[str] | None:
    """The error strings in the documented shape (a list of strings); None when the body does not have that shape."""
    if not isinstance(data, dict):
        return None
    errors = data.get("errors", [])
    if isinstance(errors, list) and all(isinstance(e, str) for e in errors):
        return errors
    return None


def _summary(errors: list[str] | None, text: str) -> str:
    return "; ".join(e[:500] for e in errors) if errors else (text[:200] or "(empty body)")
