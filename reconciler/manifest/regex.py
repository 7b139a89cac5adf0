"""Regular expressions from manifests run in linear time (docs/design.md, "Hostile input").

Python's `re` backtracks: `^(a+)+$` against 40 a's and a `!` does not finish, and
anyone who can name a backtest could stall CI with it. RE2 (Google's engine, the
`google-re2` bindings) guarantees time linear in the input; it has no
backreferences or look-around, which a name filter does not need.
"""

from __future__ import annotations

from typing import Protocol

import re2

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # the error comes back as one line in the manifest report, not as logs on stderr


class Pattern(Protocol):
    pattern: str

    def search(self, text: str) -> object: ...


def compile_linear(pattern: str) -> Pattern:
    """Compile with RE2; ValueError with RE2's reason when the pattern is invalid or needs backtracking."""
    try:
        return re2.compile(pattern, options=_OPTIONS)
    except re2.error as exc:
        reason = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise ValueError(f"{reason} (patterns run on RE2: no backreferences or look-around)") from None
