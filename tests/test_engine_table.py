"""Golden tests like restic's: one fixed timeline against a table of keep policies, reasons included.

The timeline is tests/golden/timeline.json (made once from a seeded generator: it spans
month, year and ISO-week-53 boundaries, ties on the same second, failed and protected
runs); each policy's expected result is tests/golden/policy_NN.json. After a deliberate
change of the engine, refresh them with `python -m pytest tests/test_engine_table.py
--update-golden` and review the diff like code.
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from reconciler.engine.retention import decide
from reconciler.manifest.build import build_project
from reconciler.models import Backtest
from reconciler.timeutil import format_iso, parse_datetime

GOLDEN = Path(__file__).parent / "golden"
NOW = parse_datetime("2021-01-10T12:00:00Z")

POLICIES: list[list[dict[str, Any]]] = [
    [{"last": 1}],
    [{"last": 5}],
    [{"last": 100}],
    [{"hourly": 4}],
    [{"daily": 3}],
    [{"daily": 12}],
    [{"weekly": 2}],
    [{"weekly": 6}],
    [{"monthly": 3}],
    [{"monthly": 30}],
    [{"yearly": 2}],
    [{"within": "36h"}],
    [{"within": "2w"}],
    [{"best": {"by": "sharpeRatio", "count": 3}}],
    [{"best": {"by": "drawdown", "count": 2, "order": "asc"}}],
    [{"match": {"tags": ["KEEP"]}}],
    [{"last": 2}, {"daily": 3}, {"weekly": 2}],
    [{"monthly": 6}, {"yearly": 3}, {"within": "7d"}],
    [{"daily": 7}, {"best": {"by": "sharpeRatio", "count": 1}}, {"match": {"name": "release-*"}}],
    [{"hourly": 2}, {"daily": 2}, {"weekly": 2}, {"monthly": 2}, {"yearly": 2}],
]


def make_timeline() -> list[dict[str, Any]]:
    """The generator the golden timeline was made with (kept for the record; the test reads the file)."""
    rng = random.Random(20210110)
    start = datetime(2019, 11, 20, tzinfo=NOW.tzinfo)
    entries = []
    for n in range(60):
        created = start + timedelta(minutes=rng.randint(0, 60 * 24 * 420))
        entries.append({"id": f"{n:032x}", "name": rng.choice(["Smooth Fox", "release-1.0", "scratch-3", "Calm Owl"]),
                        "created": format_iso(created), "status": rng.choice(["completed"] * 5 + ["failed"]),
                        "tags": rng.choice([[], [], [], ["keep"], ["Keep "]]),
                        "statistics": {"sharpeRatio": round(rng.gauss(0.5, 1), 3), "drawdown": round(rng.random(), 3)}})
    for twin in ("2020-12-31T23:59:59Z", "2020-12-31T23:59:59Z", "2021-01-03T10:00:00Z", "2021-01-04T00:00:00Z"):
        entries.append({"id": f"{len(entries):032x}", "name": "Edge", "created": twin, "status": "completed", "tags": [],
                        "statistics": {"sharpeRatio": 0.5, "drawdown": 0.2}})
    return entries


def load_timeline(update: bool) -> list[Backtest]:
    path = GOLDEN / "timeline.json"
    if update:
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(json.dumps(make_timeline(), indent=1) + "\n")
    assert path.exists(), f"{path.name} is missing: golden files are written only by --update-golden, and reviewed"
    return [Backtest(id=e["id"], project_id=1, name=e["name"], created=parse_datetime(e["created"]), status=e["status"], raw_status=e["status"],
                     tags=tuple(e["tags"]), statistics=e["statistics"]) for e in json.loads(path.read_text())]


@pytest.mark.parametrize("index", range(len(POLICIES)))
def test_policy_table(index: int, update_golden: bool) -> None:
    policies = POLICIES[index]
    spec = build_project({"prune": True, "protect_tags": ["protected"], "allow_empty": True, "protect": [], "delete": [], "keep": policies},
                         id=1, name=None)
    decisions = decide(spec, load_timeline(update_golden), NOW)
    result = {
        "policies": policies,
        "kept": [
            {"id": d.backtest.id, "created": format_iso(d.backtest.created), "reasons": list(map(str, d.reasons))} for d in decisions if d.action == "keep"
        ],
        "deleted": [d.backtest.id for d in decisions if d.action == "delete"],
    }
    path = GOLDEN / f"policy_{index:02d}.json"
    if update_golden:
        path.write_text(json.dumps(result, indent=1) + "\n")
    assert path.exists(), f"{path.name} is missing: a golden file is written only by --update-golden, and reviewed"
    assert result == json.loads(path.read_text()), f"{path.name} differs; if the change is deliberate, rerun with --update-golden and review"
