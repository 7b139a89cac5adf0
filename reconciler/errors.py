"""Expected errors: each becomes one clear line and exit 1 at the CLI boundary."""

from __future__ import annotations

from reconciler import exit_codes


class ReconcilerError(Exception):
    """Base of every error the user can act on (no traceback unless --verbose)."""

    exit_code = exit_codes.ERROR


class ConfigError(ReconcilerError):
    """Bad command-line input, credentials or URL."""


class StateFileError(ReconcilerError):
    """A seed/state file that cannot be read."""


class Terminated(KeyboardInterrupt):
    """SIGTERM (a CI job cancelled or timed out), handled like Ctrl-C: no new calls, summary, exit 143."""
