"""Sandbox seeds: a deterministic realistic demo account, a state file, or nothing."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from reconciler.sandbox.store import BacktestRow, ProjectRow, SandboxStore
from reconciler.statefile import RecordedState, parse_state, read_state
from reconciler.timeutil import format_api_datetime

#: The demo account ends here, so ids, names and dates are the same on every machine.
DEMO_END = datetime(2026, 11, 27, 18, 0, 0, tzinfo=timezone.utc)
DEMO_SEED = 20261127

_ADJECTIVES = ["Smooth", "Clumsy", "Fat", "Muscular", "Sleepy", "Energetic", "Determined", "Calm", "Crawling", "Swimming",
               "Geeky", "Hyper-Active", "Virtual", "Emotional", "Retrospective", "Well Dressed", "Formal", "Casual",
               "Measured", "Alert", "Focused", "Jumping", "Dancing", "Pensive", "Upgraded", "Logical", "Creative"]
_COLOURS = ["Apricot", "Blue", "Red", "Orange", "Yellow", "Green", "Violet", "Black", "White", "Brown", "Tan", "Asparagus",
            "Fluorescent Pink", "Light Brown", "Sky Blue", "Magenta", "Fluorescent Yellow", "Vivid Orange", "Red Orange",
            "Hot Pink", "Gray", "Tan", "Sepia", "Aqua", "Yellow Green", "Brown Fly"]
_ANIMALS = ["Chicken", "Fox", "Koala", "Dog", "Cat", "Elephant", "Penguin", "Hippopotamus", "Rhinoceros", "Mule",
            "Lion", "Zebra", "Beaver", "Gull", "Bat", "Butterfly", "Falcon", "Owl", "Jackal", "Ant", "Bee", "Seahorse",
            "Termite", "Llama", "Alpaca", "Shark", "Whale", "Dolphin", "Kitten", "Horse", "Salmon", "Flamingo"]

#: (project id, name, backtest count, share failed, share in optimizations)
DEMO_PROJECTS = [
    (23456789, "Momentum v2", 1240, 0.08, 0.15),
    (23456790, "Mean Reversion ES", 180, 0.12, 0.10),
    (23456791, "Pairs/Energy Spreads", 240, 0.05, 0.45),
    (23456792, "Scratch", 60, 0.35, 0.0),
    (23456793, "ML Alpha Research", 320, 0.10, 0.20),
]

_NOTES = ["Baseline before the fee model change", "Cited in the Q3 research memo", "Out-of-sample check 2019-2021",
          "Slippage 2 bps, fills at close", "Regression after the universe change", "Reviewed with the risk team",
          "Bug: warm-up too short", "Candidate for live paper trading"]


def random_name(rng: random.Random) -> str:
    return f"{rng.choice(_ADJECTIVES)} {rng.choice(_COLOURS)} {rng.choice(_ANIMALS)}"


def random_id(rng: random.Random) -> str:
    return f"{rng.getrandbits(128):032x}"


def plausible_statistics(rng: random.Random) -> dict[str, float]:
    sharpe = round(rng.gauss(0.6, 0.7), 3)
    annual = round(rng.gauss(0.08, 0.12), 4)
    win = round(min(max(rng.gauss(0.52, 0.08), 0.0), 1.0), 3)
    return {
        "sharpeRatio": sharpe,
        "sortinoRatio": round(sharpe * rng.uniform(1.1, 1.6), 3),
        "compoundingAnnualReturn": annual,
        "netProfit": round(annual * rng.uniform(1.5, 4.0), 4),
        "drawdown": round(abs(rng.gauss(0.18, 0.08)), 4),
        "psr": round(min(max(rng.gauss(0.45, 0.25), 0.0), 1.0), 4),
        "trades": float(5 + rng.randint(5, 4000) // 12),  # the same draw as before (ids and dates stay), fewer orders to archive
        "winRate": win,
        "lossRate": round(1 - win, 3),
        "alpha": round(rng.gauss(0.01, 0.05), 4),
        "beta": round(rng.gauss(0.6, 0.3), 4),
        "treynorRatio": round(rng.gauss(0.1, 0.2), 4),
    }


def with_parameters(stats: dict[str, float], fast: int, slow: int) -> dict[str, float]:
    """An optimization's statistics depend on its parameters: here the 10/100 moving-average cross is the sweet spot."""
    edge = 0.3 - abs(fast - 10) * 0.03 - abs(slow - 100) * 0.002
    return {**stats, "sharpeRatio": round(stats["sharpeRatio"] + edge, 3), "sortinoRatio": round(stats["sortinoRatio"] + 1.3 * edge, 3),
            "netProfit": round(stats["netProfit"] + edge / 4, 4), "compoundingAnnualReturn": round(stats["compoundingAnnualReturn"] + edge / 10, 4)}


def demo_rows() -> tuple[list[ProjectRow], list[BacktestRow]]:
    rng = random.Random(DEMO_SEED)
    projects, backtests = [], []
    for project_id, name, count, failed_share, optimization_share in DEMO_PROJECTS:
        start = DEMO_END - timedelta(days=730)
        projects.append(ProjectRow(project_id, name, format_api_datetime(start), format_api_datetime(DEMO_END)))
        backtests.extend(_demo_project(rng, project_id, count, failed_share, optimization_share))
    return projects, backtests


def _demo_project(rng: random.Random, project_id: int, count: int, failed_share: float, optimization_share: float) -> list[BacktestRow]:
    rows: list[BacktestRow] = []
    while len(rows) < count:
        # Work comes in sessions, denser in recent months; optimizations come as batches.
        age_days = min(729.9, rng.expovariate(1 / 220))
        created = DEMO_END - timedelta(days=age_days, seconds=rng.randint(0, 3600))
        if rng.random() < optimization_share:
            optimization_id = f"O-{random_id(rng)}"
            for k in range(min(rng.randint(4, 16), count - len(rows))):
                stats = plausible_statistics(rng)
                backtest_id, name = random_id(rng), random_name(rng)  # the draws in the order they always were: ids stay
                fast, slow = rng.choice([5, 10, 20]), rng.choice([50, 100, 200])
                rows.append(BacktestRow(backtest_id, project_id, name, "", format_api_datetime(created + timedelta(seconds=7 * k)),
                                        "Completed.", 1.0, optimization_id, [], with_parameters(stats, fast, slow), {"fast": str(fast), "slow": str(slow)}))
            continue
        failed = rng.random() < failed_share
        name = random_name(rng)
        roll = rng.random()
        if roll < 0.03:
            name = f"release-{rng.randint(1, 3)}.{rng.randint(0, 9)}"
        elif roll < 0.08:
            name = f"scratch-{rng.choice(['test', 'debug', 'try', 'tmp'])}-{rng.randint(1, 99)}"
        tags = []
        tag_roll = rng.random()
        if tag_roll < 0.03:
            tags = ["protected"]
        elif tag_roll < 0.05:
            tags = ["paper", "baseline"]
        elif tag_roll < 0.08:
            tags = ["keep"]
        elif tag_roll < 0.14:
            tags = ["wip"]
        note = rng.choice(_NOTES) if rng.random() < 0.1 else ""
        status = "Runtime Error" if failed else "Completed."
        stats = {key: 0.0 for key in plausible_statistics(rng)} if failed else plausible_statistics(rng)
        rows.append(BacktestRow(random_id(rng), project_id, name, note, format_api_datetime(created), status, 1.0, "", tags, stats, {}))
    rows.sort(key=lambda row: row.created)
    # The newest few are still running or queued, as on a live account.
    for row, status, progress in zip(reversed(rows), ["In Queue...", "Running: 45%"], [0.0, 0.45]):
        row.status, row.progress, row.statistics = status, progress, {}
    return rows


#: Status words a state file may use, as the service spells them (the sandbox serves what the service sends).
_API_STATUS = {"completed": "Completed.", "failed": "Runtime Error", "running": "Running: 50%", "queued": "In Queue..."}


def rows_from_state(state: RecordedState) -> tuple[list[ProjectRow], list[BacktestRow]]:
    projects, backtests = [], []
    for project in state.projects:
        created = format_api_datetime(min((b.created for b in project.backtests), default=DEMO_END - timedelta(days=730)))
        projects.append(ProjectRow(project.project_id, project.name, created, created))
        for b in project.backtests:
            status = _API_STATUS.get(b.raw_status, b.raw_status) or "Completed."
            backtests.append(BacktestRow(b.id, project.project_id, b.name, b.note or "", format_api_datetime(b.created), status,
                                         0.5 if b.in_progress else 1.0, b.optimization_id or "", list(b.tags), dict(b.statistics), dict(b.parameters)))
    return projects, backtests


def apply_seed(store: SandboxStore, seed: str) -> str:
    """Reseed the store from ``demo``, ``empty`` or a state file; returns a description."""
    if seed == "demo":
        projects, backtests = demo_rows()
    elif seed == "empty":
        projects, backtests = [], []
    else:
        state = read_state(Path(seed))
        projects, backtests = rows_from_state(state)
        store.replace_all(projects, backtests, seed, state.artifacts)
        return f"{len(projects)} projects, {len(backtests)} backtests"
    store.replace_all(projects, backtests, seed)
    return f"{len(projects)} projects, {len(backtests)} backtests"


def seed_from_data(store: SandboxStore, data: Any) -> None:
    """Seed from an in-memory state document (tests and benchmarks)."""
    state = parse_state(data)
    projects, backtests = rows_from_state(state)
    store.replace_all(projects, backtests, "data", state.artifacts)
