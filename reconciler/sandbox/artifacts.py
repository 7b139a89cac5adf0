"""What a backtest produced, for the sandbox: charts, orders and insights, derived from the backtest itself.

Deterministic (seeded by the backtest id) and realistic enough to archive and read
back: an equity curve over the trading days of the backtest period that ends near its
net profit, a benchmark and a drawdown chart, as many orders as its `trades` statistic
says (a failed or unfinished backtest has none), and an insight per two orders.
Shapes follow the official OpenAPI schemas (Chart/Series, Order, Insight).
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from typing import Any

PERIOD_START = datetime(2020, 1, 1, tzinfo=timezone.utc)
PERIOD_END = datetime(2023, 12, 31, tzinfo=timezone.utc)
START_EQUITY = 100_000.0
CHART_NAMES = ("Strategy Equity", "Benchmark", "Drawdown")
_TICKERS = ("SPY", "QQQ", "IWM", "TLT", "GLD", "ES", "NQ", "EURUSD", "AAPL", "MSFT")


def trading_days() -> list[datetime]:
    day, days = PERIOD_START, []
    while day <= PERIOD_END:
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=1)
    return days


_DAYS = trading_days()
_DAY_SECONDS = [int(day.timestamp()) for day in _DAYS]
#: One pool of standard normal draws; each backtest's curves read it from their own offsets (cheap, deterministic).
_NOISE_RNG = random.Random(20200101)
_NOISE = [_NOISE_RNG.gauss(0, 1) for _ in range(8192)]


def _rng(backtest_id: str, salt: str) -> random.Random:
    return random.Random(f"{backtest_id}:{salt}")


def chart_names(finished: bool) -> tuple[str, ...]:
    """The charts /backtests/read lists (a backtest that has not finished has none yet)."""
    return CHART_NAMES if finished else ()


def chart(backtest_id: str, statistics: dict[str, float], finished: bool, name: str) -> dict[str, Any] | None:
    """One chart with all its points (x in unix seconds, y the value); only the one asked for is computed."""
    if name not in chart_names(finished):
        return None
    days = _DAY_SECONDS
    pool = len(_NOISE)
    if name == "Benchmark":
        offset, value, points = _rng(backtest_id, "benchmark").randrange(pool), START_EQUITY, []
        for i, x in enumerate(days):
            value *= 1.0003 + 0.009 * _NOISE[(offset + i) % pool]
            points.append([x, round(value, 2)])
        return _chart(name, {"Benchmark": _series("Benchmark", "$", points)})
    offset = _rng(backtest_id, "equity").randrange(pool)
    drift = (max(1.0 + float(statistics.get("netProfit", 0.0)), 0.05) ** (1 / len(days))) - 1
    equity, values = START_EQUITY, []
    for i in range(len(days)):
        equity *= 1 + drift + 0.006 * _NOISE[(offset + i) % pool]
        values.append(equity)
    if name == "Strategy Equity":  # LEAN writes the equity as candles, [t, open, high, low, close] (a CandlestickSeries, seriesType 2)
        candles, opened = [], START_EQUITY
        for x, close in zip(days, values):
            spread = 0.002 * abs(_NOISE[(offset + x // 86400) % pool])
            candles.append([x, round(opened, 2), round(max(opened, close) * (1 + spread), 2), round(min(opened, close) * (1 - spread), 2), round(close, 2)])
            opened = close
        return _chart(name, {"Equity": {**_series("Equity", "$", candles), "seriesType": 2}})
    peak, drawdown_points = START_EQUITY, []
    for x, value in zip(days, values):
        peak = max(peak, value)
        drawdown_points.append([x, round((value / peak - 1) * 100, 4)])
    return _chart(name, {"Equity Drawdown": _series("Equity Drawdown", "%", drawdown_points)})


def _series(name: str, unit: str, values: list[list[float]]) -> dict[str, Any]:
    return {"name": name, "unit": unit, "index": 0, "seriesType": 0, "values": values}


def _chart(name: str, series: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "chartType": 0, "series": series}


def order_count(statistics: dict[str, float], finished: bool) -> int:
    return int(statistics.get("trades", 0)) if finished else 0


def orders(backtest_id: str, count: int, start: int, end: int) -> list[dict[str, Any]]:
    """Orders start..end-1 of the backtest (each derived on its own, so a page costs only its size)."""
    result = []
    for index in range(max(0, start), min(count, end)):
        rng = _rng(backtest_id, f"order{index}")
        day = _DAYS[index * len(_DAYS) // max(count, 1)]
        time = day.replace(hour=14, minute=30 + rng.randrange(0, 30)).strftime("%Y-%m-%dT%H:%M:%SZ")
        ticker = rng.choice(_TICKERS)
        quantity = rng.choice((1, -1)) * rng.randint(1, 400)
        price = round(rng.uniform(20, 600), 2)
        result.append({
            "id": index + 1, "contingentId": 0, "brokerId": [str(100000 + index)],
            "symbol": {"value": ticker, "id": f"{ticker} R735QTJ8XC9X", "permtick": ticker},
            "price": price, "priceCurrency": "USD", "time": time, "createdTime": time, "lastFillTime": time,
            "quantity": quantity, "type": 0, "status": 3, "tag": "", "securityType": 1, "direction": 0 if quantity > 0 else 1,
            "value": round(abs(quantity) * price, 2), "isMarketable": False, "events": [],
        })
    return result


def insight_count(statistics: dict[str, float], finished: bool) -> int:
    return order_count(statistics, finished) // 2


def insights(backtest_id: str, count: int, start: int, end: int) -> list[dict[str, Any]]:
    result = []
    for index in range(max(0, start), min(count, end)):
        rng = _rng(backtest_id, f"insight{index}")
        day = _DAYS[index * len(_DAYS) // max(count, 1)]
        generated = int(day.timestamp()) + 52_200
        ticker = rng.choice(_TICKERS)
        result.append({
            "id": f"{rng.getrandbits(128):032x}", "groupId": "", "sourceModel": "AlphaModel", "generatedTime": generated,
            "closeTime": generated + 86_400, "symbol": f"{ticker} R735QTJ8XC9X", "ticker": ticker, "type": "price",
            "reference": round(rng.uniform(20, 600), 2), "direction": rng.choice(("up", "down", "flat")), "period": 86_400,
            "magnitude": round(rng.uniform(0, 0.02), 4), "confidence": round(rng.random(), 3), "weight": 0.0,
            "scoreFinal": True, "scoreDirection": round(rng.random(), 3), "scoreMagnitude": round(rng.random(), 3), "estimatedValue": 0.0, "tag": "",
        })
    return result
