"""A local, QuantConnect-compatible API server backed by SQLite, for trying and testing without an account."""
