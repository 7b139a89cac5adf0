"""The API base URL: one judgement for checking and connecting (docs/design.md, "Hostile input").

The host that is checked is the host the HTTP library will connect to: the URL is
prepared as requests prepares it and read back with urllib3's parser, the one the
connection pool uses. A URL that Python's urlsplit reads differently (a backslash,
userinfo, control characters) is refused: the token's signature must never go to a
host other than the one the check approved. Plain http:// only to loopback.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from reconciler.errors import ConfigError

DEFAULT_API_URL = "https://www.quantconnect.com/api/v2"


@dataclass(frozen=True)
class ApiUrl:
    url: str  # as it will be requested, without a trailing slash
    scheme: str
    host: str
    port: int | None

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)


def judge_api_url(url: str) -> ApiUrl:
    """Refuse anything ambiguous, non-http(s), or plain http:// to a host that is not loopback, before any connection."""
    shown = repr(url[:200]) if isinstance(url, str) else "(not text)"
    if not isinstance(url, str) or not url or any(not (0x21 <= ord(c) <= 0x7E) for c in url) or "\\" in url:
        raise ConfigError(f"API URL {shown} has spaces, control characters, backslashes or non-ASCII characters; refused")
    from requests.exceptions import RequestException
    from requests.models import PreparedRequest
    from urllib3.util import parse_url

    try:
        split = urlsplit(url)
        prepared = PreparedRequest()
        prepared.prepare_url(url, None)
        connect = parse_url(prepared.url or "")
        split_port = split.port
    except (ValueError, RequestException) as exc:
        raise ConfigError(f"API URL {shown} is not a valid URL ({type(exc).__name__}); refused") from None
    if split.scheme not in ("http", "https") or not split.hostname:
        raise ConfigError(f"API URL {shown} is not an http(s) URL")
    if "@" in split.netloc or split.username is not None or split.password is not None:
        raise ConfigError(f"API URL {shown} carries user information (user@host); credentials come from QC_USER_ID/QC_API_TOKEN only")
    if split.query or split.fragment:
        raise ConfigError(f"API URL {shown} has a query or fragment; give the base URL, such as {DEFAULT_API_URL}")
    connect_host = (connect.host or "").strip("[]").lower()
    if (connect.scheme, connect_host, connect.port) != (split.scheme, split.hostname.lower(), split_port):
        raise ConfigError(f"API URL {shown} is ambiguous: one parser reads host {split.hostname!r}, the connection would go to "
                          f"{connect_host!r}; refused")
    if split.scheme == "http" and not is_loopback(connect_host):
        raise ConfigError(f"refusing plain http:// to {connect_host}: the API URL must use https:// unless the host is loopback (127.0.0.1, localhost, ::1)")
    return ApiUrl(url=(prepared.url or url).rstrip("/"), scheme=split.scheme, host=connect_host, port=connect.port)


def check_api_url(url: str) -> str:
    return judge_api_url(url).url


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
