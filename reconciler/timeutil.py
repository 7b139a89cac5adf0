"""Dates and durations in the forms the QuantConnect API and the manifest use (always UTC)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

_FRACTION = re.compile(r"(\.\d+)")
_DURATION = re.compile(r"([1-9][0-9]{0,8})(min|mo|h|d|w|y)")  # fullmatch: no trailing newline slips through
#: docs/design.md, "Hostile input": a month is 30 days and a year 365; a bare `m` is refused (restic reads 6m as months).
_DURATION_DAYS = {"min": 1 / 1440, "h": 1 / 24, "d": 1, "w": 7, "mo": 30, "y": 365}
DURATION_UNITS_TEXT = "min, h, d, w, mo (30 days) or y (365 days), such as 90min, 12h, 3d, 2w, 6mo"
API_DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"
_fromisoformat = datetime.fromisoformat
_ZERO = timedelta(0)
MAX_DURATION = timedelta(days=36525)  # 100 years: reference time minus it stays a valid date


def parse_datetime(value: object) -> datetime:
    """Parse an API or command-line timestamp into an aware UTC datetime.

    Accepts ISO 8601 with or without ``T``, fractional seconds of any length,
    ``Z`` or numeric offsets (naive values are UTC), and unix seconds.
    Raises ValueError for anything else.
    """
    if type(value) is str and 0 < len(value) <= 64:
        try:  # the fast path: what the service and our own files send (Python 3.11 reads `Z` and 7-digit fractions too)
            parsed = _fromisoformat(value)
        except ValueError:
            pass
        else:
            if parsed.tzinfo is None:
                return parsed.replace(tzinfo=timezone.utc)
            return parsed if parsed.utcoffset() == _ZERO else parsed.astimezone(timezone.utc)
    if isinstance(value, bool):
        raise ValueError(f"not a timestamp: {value!r}")
    if isinstance(value, (int, float)):
        return _from_unix(value)
    if isinstance(value, datetime):
        parsed = value
    else:
        if not isinstance(value, str):
            raise ValueError(f"not a timestamp: {value!r}")
        text = value.strip()
        if not text or len(text) > 64:
            raise ValueError(f"not a timestamp: {value!r}")
        if re.fullmatch(r"\d{9,11}(\.\d+)?", text):
            return _from_unix(float(text))
        if text[-1] in "zZ":
            text = text[:-1] + "+00:00"
        # Python 3.10 accepts only 3 or 6 fraction digits; .NET sends up to 7.
        text = _FRACTION.sub(lambda m: (m.group(1) + "000000")[:7], text, count=1)
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"not a timestamp: {value!r}") from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def _from_unix(seconds: float) -> datetime:
    """Unix seconds; out-of-range values (1e300, NaN) are a ValueError like any other bad timestamp."""
    try:
        return datetime.fromtimestamp(seconds, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise ValueError(f"not a timestamp: {seconds!r}") from None


def format_api_datetime(value: datetime) -> str:
    """The service's ``YYYY-MM-DD HH:MM:SS`` form, in UTC."""
    return value.astimezone(timezone.utc).strftime(API_DATETIME_FORMAT)


def format_iso(value: datetime) -> str:
    """ISO 8601 with ``Z``, for plan files and reports (isoformat: C-fast on hot paths)."""
    if value.utcoffset():
        value = value.astimezone(timezone.utc)
    return value.replace(tzinfo=None, microsecond=0).isoformat() + "Z"


def parse_duration(text: str) -> timedelta:
    """A whole number and one unit of min, h, d, w, mo or y (``90min``, ``12h``, ``3d``, ``2w``, ``6mo``, ``1y``)."""
    match = _DURATION.fullmatch(text) if isinstance(text, str) else None
    if not match:
        bare = re.fullmatch(r"([1-9][0-9]{0,8})m", text) if isinstance(text, str) else None
        if bare:
            n = bare.group(1)
            raise ValueError(f"{text!r} is ambiguous: restic reads it as {n} months, most tools as {n} minutes; write {n}mo or {n}min")
        raise ValueError(f"not a duration: {text!r} (use a whole number and one unit of {DURATION_UNITS_TEXT})")
    count, unit = int(match.group(1)), match.group(2)
    if count * _DURATION_DAYS[unit] > MAX_DURATION.days:
        raise ValueError(f"duration {text!r} is longer than 100 years")
    if unit == "min":
        return timedelta(minutes=count)
    if unit == "h":
        return timedelta(hours=count)
    return timedelta(days=count * int(_DURATION_DAYS[unit]))


@dataclass(frozen=True)
class Duration:
    """A manifest duration: its length, and the text the manifest wrote (what reasons show)."""

    text: str
    delta: timedelta

    def __str__(self) -> str:
        return self.text


def duration(text: str) -> Duration:
    return Duration(text, parse_duration(text))


def utcnow() -> datetime:
    return datetime.now(timezone.utc)
