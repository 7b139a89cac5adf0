from datetime import datetime, timedelta, timezone

import pytest

from reconciler.models import normalize_status
from reconciler.timeutil import format_api_datetime, parse_datetime, parse_duration

UTC = timezone.utc


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2024-03-05 14:22:10", datetime(2024, 3, 5, 14, 22, 10, tzinfo=UTC)),
        ("2024-03-05T14:22:10", datetime(2024, 3, 5, 14, 22, 10, tzinfo=UTC)),
        ("2024-03-05T14:22:10Z", datetime(2024, 3, 5, 14, 22, 10, tzinfo=UTC)),
        ("2024-03-05T14:22:10z", datetime(2024, 3, 5, 14, 22, 10, tzinfo=UTC)),
        ("2024-03-05T14:22:10.123Z", datetime(2024, 3, 5, 14, 22, 10, 123000, tzinfo=UTC)),
        ("2024-03-05 14:22:10.1234567", datetime(2024, 3, 5, 14, 22, 10, 123456, tzinfo=UTC)),
        ("2024-03-05T14:22:10.5", datetime(2024, 3, 5, 14, 22, 10, 500000, tzinfo=UTC)),
        ("2024-03-05T16:22:10+02:00", datetime(2024, 3, 5, 14, 22, 10, tzinfo=UTC)),
        ("2024-03-05T09:22:10.25-05:00", datetime(2024, 3, 5, 14, 22, 10, 250000, tzinfo=UTC)),
        ("1709648530", datetime(2024, 3, 5, 14, 22, 10, tzinfo=UTC)),
        (1709648530, datetime(2024, 3, 5, 14, 22, 10, tzinfo=UTC)),
    ],
)
def test_every_date_form_parses_as_utc(text: object, expected: datetime) -> None:
    parsed = parse_datetime(text)
    assert parsed == expected
    assert parsed.tzinfo is not None and parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize("text", ["", "yesterday", "2024-13-01 00:00:00", None, True, [], "2024-03-05 25:00:00", "x" * 100])
def test_bad_dates_are_rejected(text: object) -> None:
    with pytest.raises(ValueError):
        parse_datetime(text)


def test_api_datetime_round_trip() -> None:
    value = datetime(2024, 3, 5, 14, 22, 10, tzinfo=UTC)
    assert format_api_datetime(value) == "2024-03-05 14:22:10"
    assert parse_datetime(format_api_datetime(value)) == value


@pytest.mark.parametrize(
    "raw, status",
    [
        ("Completed.", "completed"), ("Completed", "completed"), ("completed", "completed"),
        ("In Queue...", "queued"), ("In Queue", "queued"),
        ("Running: 45%", "running"), ("Running", "running"), ("Running: _%", "running"),
        ("Runtime Error", "failed"), ("Runtime Error.", "failed"),
        ("Build Error", "Build Error"), ("Deleted", "Deleted"), ("", ""),
    ],
)
def test_status_forms(raw: str, status: str) -> None:
    assert normalize_status(raw) == status


@pytest.mark.parametrize("text, delta", [("90min", timedelta(minutes=90)), ("12h", timedelta(hours=12)), ("3d", timedelta(days=3)), ("2w", timedelta(weeks=2)),
                                         ("6mo", timedelta(days=180)), ("1y", timedelta(days=365))])
def test_durations(text: str, delta: timedelta) -> None:
    assert parse_duration(text) == delta


@pytest.mark.parametrize("text", ["0d", "3", "d", "1.5d", "3 d", "3D", "1yr", "-1d", "3dd", "01d", "6m", "90M", "1mon", "36600d", "101y"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)
