"""The retention engine: pure functions from (project spec, live backtests, reference time) to decisions."""
