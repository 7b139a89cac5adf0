"""backtest-reconciler: keep QuantConnect cloud backtests in order from a YAML manifest."""

__version__ = "0.2.0"
