"""The API base URL: the default, and the loopback-only rule for plain http (no requests import here)."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from reconciler.errors import ConfigError

DEFAULT_API_URL = "https://www.quantconnect.com/api/v2"


def check_api_url(url: str) -> str:
    """Refuse plain http:// unless the host is loopback, before any connection."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"API URL {url!r} is not an http(s) URL")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ConfigError(f"refusing plain http:// to {parts.hostname}: the API URL must use https:// unless the host is loopback (127.0.0.1, localhost, ::1)")
    return url.rstrip("/")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
