"""A finished backtest's results as LEAN writes them (docs/sandbox.md, "Fidelity").

LEAN's `StatisticsBuilder` writes `statistics` as strings keyed by the names in
`PerformanceMetrics` (27 of them), `BaseResultsHandler.GetAlgorithmRuntimeStatistics`
writes `runtimeStatistics` (8 keys, .NET "N2" and "P" formats), and `totalPerformance`
carries `tradeStatistics` and `portfolioStatistics` as numbers. Everything here follows
from the backtest's own list statistics (the 12 the list carries), so a read and a list
of the same backtest agree.
"""

from __future__ import annotations

from typing import Any

START_EQUITY = 100_000.0


def _round(value: float, digits: int) -> str:
    """LEAN's `Math.Round(x, digits).ToStringInvariant()`: no trailing zeros, no exponent."""
    text = f"{round(value, digits):.{digits}f}".rstrip("0").rstrip(".") if digits else f"{round(value):.0f}"
    return "0" if text in ("-0", "") else text


def _money(value: float) -> str:
    """.NET "N2" with the account currency: `$1,234.56`, `-$5.00` written by the caller where LEAN does."""
    return f"${value:,.2f}"


def _percent_p(share: float) -> str:
    """.NET "P" under the invariant culture: `12.34 %`."""
    return f"{share * 100:,.2f} %"


def _figures(stats: dict[str, float]) -> dict[str, float]:
    net = stats.get("netProfit", 0.0)
    trades = int(stats.get("trades", 0))
    win = stats.get("winRate", 0.0)
    return {"net": net, "trades": trades, "win": win, "loss": stats.get("lossRate", 1.0 - win if trades else 0.0),
            "end": START_EQUITY * (1 + net), "fees": round(trades * 1.0, 2), "volume": round(trades * 2_500.0, 2)}


def statistics(stats: dict[str, float]) -> dict[str, str]:
    """`statistics`: StatisticsBuilder's keys and string formats."""
    f = _figures(stats)
    average_win, average_loss = 0.012 if f["trades"] else 0.0, -0.009 if f["trades"] else 0.0
    return {
        "Total Orders": str(f["trades"]),
        "Average Win": _round(average_win * 100, 2) + "%",
        "Average Loss": _round(average_loss * 100, 2) + "%",
        "Compounding Annual Return": _round(stats.get("compoundingAnnualReturn", 0.0) * 100, 3) + "%",
        "Drawdown": _round(stats.get("drawdown", 0.0) * 100, 3) + "%",
        "Expectancy": _round(f["win"] * 1.33 - f["loss"], 3),
        "Start Equity": _round(START_EQUITY, 2),
        "End Equity": _round(f["end"], 2),
        "Net Profit": _round(f["net"] * 100, 3) + "%",
        "Sharpe Ratio": _round(stats.get("sharpeRatio", 0.0), 3),
        "Sortino Ratio": _round(stats.get("sortinoRatio", 0.0), 3),
        "Probabilistic Sharpe Ratio": _round(stats.get("psr", 0.0) * 100, 3) + "%",
        "Loss Rate": _round(f["loss"] * 100, 0) + "%",
        "Win Rate": _round(f["win"] * 100, 0) + "%",
        "Profit-Loss Ratio": _round(1.33 if f["trades"] else 0.0, 2),
        "Alpha": _round(stats.get("alpha", 0.0), 3),
        "Beta": _round(stats.get("beta", 0.0), 3),
        "Annual Standard Deviation": _round(abs(stats.get("drawdown", 0.0)) * 0.8, 3),
        "Annual Variance": _round((abs(stats.get("drawdown", 0.0)) * 0.8) ** 2, 3),
        "Information Ratio": _round(stats.get("sharpeRatio", 0.0) * 0.7, 3),
        "Tracking Error": _round(abs(stats.get("drawdown", 0.0)) * 0.5, 3),
        "Treynor Ratio": _round(stats.get("treynorRatio", 0.0), 3),
        "Total Fees": f"${f['fees']:.2f}",
        "Estimated Strategy Capacity": "$12000000.00",
        "Lowest Capacity Asset": "SPY R735QTJ8XC9X" if f["trades"] else "",
        "Portfolio Turnover": _round(min(f["trades"] / 10.0, 100.0), 2) + "%",
        "Drawdown Recovery": str(int(abs(stats.get("drawdown", 0.0)) * 400)),
    }


def runtime_statistics(stats: dict[str, float]) -> dict[str, str]:
    """`runtimeStatistics`: GetAlgorithmRuntimeStatistics's keys, sorted as its SortedDictionary sends them."""
    f = _figures(stats)
    values = {
        "Equity": _money(f["end"]),
        "Fees": f"-${f['fees']:,.2f}",
        "Holdings": _money(0.0),
        "Net Profit": _money(f["end"] - START_EQUITY) if f["end"] >= START_EQUITY else f"-{_money(START_EQUITY - f['end'])}",
        "Probabilistic Sharpe Ratio": _round(stats.get("psr", 0.0) * 100, 3) + "%",
        "Return": _percent_p(f["net"]),
        "Unrealized": _money(0.0),
        "Volume": _money(f["volume"]),
    }
    return dict(sorted(values.items()))


def total_performance(stats: dict[str, float]) -> dict[str, Any]:
    """`totalPerformance`: LEAN's AlgorithmPerformance, its trade and portfolio statistics as numbers (camelCase)."""
    f = _figures(stats)
    winning = round(f["trades"] * f["win"])
    portfolio = {
        "averageWinRate": 0.012 if f["trades"] else 0.0, "averageLossRate": -0.009 if f["trades"] else 0.0,
        "profitLossRatio": 1.33 if f["trades"] else 0.0, "winRate": f["win"], "lossRate": f["loss"],
        "expectancy": round(f["win"] * 1.33 - f["loss"], 3), "startEquity": START_EQUITY, "endEquity": round(f["end"], 2),
        "compoundingAnnualReturn": stats.get("compoundingAnnualReturn", 0.0), "drawdown": stats.get("drawdown", 0.0),
        "totalNetProfit": f["net"], "sharpeRatio": stats.get("sharpeRatio", 0.0), "probabilisticSharpeRatio": stats.get("psr", 0.0),
        "sortinoRatio": stats.get("sortinoRatio", 0.0), "alpha": stats.get("alpha", 0.0), "beta": stats.get("beta", 0.0),
        "annualStandardDeviation": abs(stats.get("drawdown", 0.0)) * 0.8, "annualVariance": (abs(stats.get("drawdown", 0.0)) * 0.8) ** 2,
        "informationRatio": stats.get("sharpeRatio", 0.0) * 0.7, "trackingError": abs(stats.get("drawdown", 0.0)) * 0.5,
        "treynorRatio": stats.get("treynorRatio", 0.0), "portfolioTurnover": min(f["trades"] / 1000.0, 1.0),
        "valueAtRisk99": -0.03, "valueAtRisk95": -0.02, "drawdownRecovery": int(abs(stats.get("drawdown", 0.0)) * 400),
    }
    trade = {
        "startDateTime": "2020-01-02T14:31:00Z" if f["trades"] else None, "endDateTime": "2023-12-29T20:59:00Z" if f["trades"] else None,
        "totalNumberOfTrades": f["trades"], "numberOfWinningTrades": winning, "numberOfLosingTrades": f["trades"] - winning,
        "totalProfitLoss": round(f["end"] - START_EQUITY, 2), "totalFees": f["fees"], "winRate": f["win"], "lossRate": f["loss"],
        "averageTradeDuration": "1.02:30:00", "maxConsecutiveWinningTrades": min(winning, 7), "maxConsecutiveLosingTrades": min(f["trades"] - winning, 5),
        "profitLossRatio": 1.33 if f["trades"] else 0.0, "sharpeRatio": stats.get("sharpeRatio", 0.0), "sortinoRatio": stats.get("sortinoRatio", 0.0),
    }
    return {"closedTrades": [], "tradeStatistics": trade, "portfolioStatistics": portfolio}
