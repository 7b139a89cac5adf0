"""The caps apply refuses to exceed, as a reviewed file (docs/design.md, "The GitOps workflow").

A cap raised in a workflow file is an edit nobody plans; a cap in a file the pull-request job watches is
planned, shown in the comment's first line and reviewed like the manifest. The file is small YAML:

    max_deletes: 200
    max_updates: 500

Both keys are optional (a missing one is the default); any other key is refused, so a typo never
silently leaves the default in place.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from reconciler.defaults import DEFAULT_MAX_DELETES, DEFAULT_MAX_UPDATES
from reconciler.errors import ConfigError
from reconciler.fsutil import read_at_most

CAP_KEYS = ("max_deletes", "max_updates")
FROM_OPTIONS, FROM_DEFAULTS = "options", "defaults"  # a Caps' source when no file gave it
MAX_CAPS_BYTES = 64 * 1024


@dataclass(frozen=True)
class Caps:
    """The caps one apply runs under, and where they came from (a file's name, `options` or `defaults`)."""

    max_deletes: int = DEFAULT_MAX_DELETES
    max_updates: int = DEFAULT_MAX_UPDATES
    source: str = FROM_DEFAULTS

    @property
    def file(self) -> str | None:
        """The caps file's name, or None for caps from options or the defaults (refusals then name the options)."""
        return None if self.source in (FROM_OPTIONS, FROM_DEFAULTS) else self.source

    def to_dict(self) -> dict[str, Any]:
        return {"max_deletes": self.max_deletes, "max_updates": self.max_updates, "source": self.source}

    @classmethod
    def from_dict(cls, data: Any) -> "Caps | None":
        """A plan file's record of its caps; None when absent or damaged (the verdict is then not shown, never guessed)."""
        if not isinstance(data, dict) or not all(_is_cap(data.get(key)) for key in CAP_KEYS):
            return None
        return cls(data["max_deletes"], data["max_updates"], str(data.get("source", ""))[:200])


def _is_cap(value: Any) -> bool:
    return type(value) is int and 0 <= value < 2**53


def load_caps(path: Path) -> Caps:
    """Read a caps file; every problem is one line naming the file and the key."""
    try:
        raw = read_at_most(path, MAX_CAPS_BYTES)
    except OSError as exc:
        raise ConfigError(f"cannot read the caps file {path}: {exc.strerror or exc}") from None
    if raw is None:
        raise ConfigError(f"{path}: a caps file holds two numbers; this one is larger than {MAX_CAPS_BYTES // 1024} KiB")
    try:
        data = yaml.safe_load(raw.decode("utf-8")) if raw.strip() else {}
    except (UnicodeDecodeError, yaml.YAMLError, RecursionError):
        raise ConfigError(f"{path}: not a caps file (YAML such as `max_deletes: 200`)") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a caps file is a mapping such as `max_deletes: 200` and `max_updates: 500`")
    unknown = sorted(str(key) for key in data if key not in CAP_KEYS)
    if unknown:
        raise ConfigError(f"{path}: unknown key {unknown[0]!r}; a caps file has only {' and '.join(CAP_KEYS)}")
    for key, value in data.items():
        if not _is_cap(value):
            raise ConfigError(f"{path}: {key} must be a whole number of backtests, 0 or more (got {str(value)[:40]!r})")
    return Caps(data.get("max_deletes", DEFAULT_MAX_DELETES), data.get("max_updates", DEFAULT_MAX_UPDATES), path.name)
