"""The QuantConnect API v2 client: one keep-alive session, signed requests, bounded retries."""

from __future__ import annotations

import json
import logging
import random
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Callable

import requests
import requests.auth
from requests.adapters import HTTPAdapter

from reconciler.api import parse
from reconciler.api.credentials import Credentials
from reconciler.api.urls import DEFAULT_API_URL, check_api_url
from reconciler.api.errors import APIError, AuthenticationError, NotFoundError, ResponseFormatError, TransportError
from reconciler.models import Backtest, Project

log = logging.getLogger("reconciler.api")

_NOT_FOUND_HINTS = ("not found", "does not exist", "doesn't exist", "no backtest", "no project", "invalid project", "invalid backtest")
_BODY_KEEP = 4000  # characters of a failed body kept in the exception


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter; 10 attempts survive a 1-in-4 failure rate over thousands of calls."""

    attempts: int = 10
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
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.api_url = check_api_url(api_url)
        self.credentials = credentials
        self.retry = retry or RetryPolicy()
        self.timeout = (connect_timeout, read_timeout)
        self._clock = clock
        self._sleep = sleep
        self._rng = random.Random()
        self._auth = _SignedAuth(credentials, clock)
        self.clock_offset: float | None = None  # server minus local time, from the last response's Date header
        self.session = requests.Session()  # proxies and CA bundles from the environment still apply
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=max(pool_size, 4), max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers.update({"User-Agent": "qc-backtest-reconciler", "Accept": "application/json"})

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> "QuantConnectClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- transport -------------------------------------------------------

    def call(self, endpoint: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        """POST one call; retry transport failures, 429 and 5xx; raise a typed error otherwise."""
        url = f"{self.api_url}/{endpoint}"
        body = json.dumps(payload or {})
        last_problem, last_body, last_status = "", "", None
        for attempt in range(self.retry.attempts):
            started = time.monotonic()
            try:
                response = self.session.post(url, data=body, headers=_JSON, auth=self._auth, timeout=self.timeout)
            except (requests.ConnectionError, requests.Timeout) as exc:
                last_problem = f"{type(exc).__name__}"
                log.debug("POST /%s attempt %d failed: %s", endpoint, attempt + 1, last_problem)
                self._pause(attempt, None)
                continue
            except requests.RequestException as exc:
                raise TransportError(f"/{endpoint}: {type(exc).__name__}", endpoint=endpoint) from None
            elapsed = (time.monotonic() - started) * 1000
            log.debug("POST /%s -> %d in %.0f ms (attempt %d)", endpoint, response.status_code, elapsed, attempt + 1)
            if response.status_code == 429 or response.status_code >= 500:
                last_problem, last_body, last_status = f"HTTP {response.status_code}", response.text[:_BODY_KEEP], response.status_code
                self._pause(attempt, _retry_after(response, self._clock()) if response.status_code == 429 else None)
                continue
            return self._interpret(endpoint, response)
        raise TransportError(
            f"/{endpoint} failed after {self.retry.attempts} attempts (last: {last_problem}) at {self.api_url}; check the network or the API URL and try again",
            endpoint=endpoint, status=last_status, body=last_body,
        )

    def _pause(self, attempt: int, retry_after: float | None) -> None:
        if attempt + 1 >= self.retry.attempts:
            return
        delay = self.retry.backoff(attempt, self._rng)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.retry.max_retry_after))
        self._sleep(delay)

    def _interpret(self, endpoint: str, response: requests.Response) -> dict[str, Any]:
        self.clock_offset = clock_offset(response, self._clock())
        text = response.text[:_BODY_KEEP]
        try:
            data = response.json()
        except ValueError:
            data = None
        errors = _errors(data)
        if response.status_code == 401 or any("hash doesn't match" in e.lower() or "hash does not match" in e.lower() for e in errors):
            raise AuthenticationError(self._auth_message(errors, response), endpoint=endpoint, errors=errors, status=response.status_code, body=text)
        if response.status_code >= 400:
            raise APIError(f"/{endpoint} answered HTTP {response.status_code}: {_summary(errors, text)}", endpoint=endpoint, errors=errors, status=response.status_code, body=text)
        if not isinstance(data, dict):
            raise ResponseFormatError(f"/{endpoint} answered something that is not a JSON object: {text[:200]!r}", endpoint=endpoint, status=response.status_code, body=text)
        if data.get("success") is not True:
            kind = NotFoundError if any(h in e.lower() for e in errors for h in _NOT_FOUND_HINTS) else APIError
            raise kind(f"/{endpoint} failed: {_summary(errors, text)}", endpoint=endpoint, errors=errors, status=response.status_code, body=text)
        return data

    def _auth_message(self, errors: list[str], response: requests.Response) -> str:
        message = f"authentication failed for QuantConnect user id {self.credentials.user_id} (credentials from {self.credentials.source or 'unknown'}) at {self.api_url}"
        if errors:
            message += f": {'; '.join(errors).rstrip('.')}"
        skew = clock_offset(response, self._clock())
        if skew is not None and abs(skew) > 60:
            message += f"; your clock is {abs(skew):.0f} s {'behind' if skew > 0 else 'ahead of'} the server's: fix the system clock (the signature embeds the time)"
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
        """The whole /backtests/read body (what apply archives)."""
        body = self.call("backtests/read", {"projectId": project_id, "backtestId": backtest_id})
        if not isinstance(body.get("backtest"), dict):
            raise ResponseFormatError("unexpected response from /backtests/read: no backtest object", endpoint="backtests/read", body=json.dumps(body)[:_BODY_KEEP])
        return body

    def read_backtest(self, project_id: int, backtest_id: str) -> Backtest:
        return parse.backtest(self.read_backtest_raw(project_id, backtest_id)["backtest"], project_id)

    def create_backtest(self, project_id: int, name: str, compile_id: str = "local-compile") -> Backtest:
        body = self.call("backtests/create", {"projectId": project_id, "compileId": compile_id, "backtestName": name})
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


def clock_offset(response: requests.Response, now: float) -> float | None:
    """Server time minus local time, in seconds, from the Date header (None when absent)."""
    header = response.headers.get("Date")
    if not header:
        return None
    try:
        return parsedate_to_datetime(header).timestamp() - now
    except (TypeError, ValueError):
        return None


def _retry_after(response: requests.Response, now: float) -> float | None:
    value = (response.headers.get("Retry-After") or "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError):
        return None


def _errors(data: Any) -> list[str]:
    if isinstance(data, dict):
        errors = data.get("errors")
        if isinstance(errors, list):
            return [str(e) for e in errors]
        if isinstance(errors, str):
            return [errors]
        if isinstance(data.get("message"), str):
            return [data["message"]]
    return []


def _summary(errors: list[str], text: str) -> str:
    return "; ".join(errors) if errors else (text[:200] or "(empty body)")
