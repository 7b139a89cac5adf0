"""User-facing defaults, in one place (the CLI shows them in --help without importing the heavy modules)."""

from __future__ import annotations

from pathlib import Path

#: Where the tool writes by default (plan files aside); apply's lock lives here too.
RECORDS_DIR = Path(".reconciler")
DEFAULT_DB = RECORDS_DIR / "sandbox.sqlite"
DEFAULT_JOURNAL = RECORDS_DIR / "journal.jsonl"
DEFAULT_ARCHIVE_DIR = RECORDS_DIR / "archive"
DEFAULT_MAX_DELETES = 100
DEFAULT_MAX_UPDATES = 500  # renames by label rules come in families; a wrong template can still rename thousands at once
PARALLELISM = 4  # concurrent API calls
RETRIES = 9  # retries per call: 10 attempts survive a 1-in-4 failure rate over thousands of calls
#: The last check before a delete takes tags from a /backtests/list fetched at most this many seconds before the call.
LAST_CHECK_LIST_AGE = 2.0
#: What archiving one backtest may cost, whatever the server sends (apply --archive-max-bytes/-calls/-seconds): a
#: 1,000,000-order backtest is about 10,200 calls and 610 MiB (measured: bench/bench_archive_memory.py).
ARCHIVE_MAX_BYTES = 2 * 1024**3
ARCHIVE_MAX_CALLS = 25_000
ARCHIVE_MAX_SECONDS = 3600.0
REQUEST_DEADLINE = 120.0  # seconds one API request may take in all, answer included

SANDBOX_HOST = "127.0.0.1"
SANDBOX_PORT = 5612  # the address lean-cli uses with QC_API=local
SANDBOX_USER_ID = "123456"
SANDBOX_API_TOKEN = "sandbox-token-0123456789abcdef"  # local test credentials, printed on purpose
