"""Manifest records: plain data the engine interprets (restic-style: policy as data)."""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Callable, Mapping

from reconciler.models import PROTECTED_TAG, tag_key, tag_keys
from reconciler.timeutil import Duration

if TYPE_CHECKING:
    from reconciler.manifest.regex import Pattern
    from reconciler.manifest.templates import Template

COMPARISON = re.compile(r"\s*(<=|>=|==|!=|<|>)\s*([-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)\s*")  # fullmatch
_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq, "!=": operator.ne,
}


@dataclass(frozen=True)
class Comparison:
    op: str
    value: float

    @classmethod
    def parse(cls, text: str) -> "Comparison":
        match = COMPARISON.fullmatch(text)
        if not match:
            raise ValueError(f'not a comparison: {text!r} (use an operator and a number, such as "< 0.5" or ">= 10")')
        return cls(match.group(1), float(match.group(2)))

    def holds(self, value: float) -> bool:
        return _OPERATORS[self.op](value, self.value)

    def __str__(self) -> str:
        return f"{self.op} {self.value:g}"


@dataclass(frozen=True)
class Selector:
    """Every field given must hold. Empty tuples and None mean "not constrained"."""

    names: tuple[str, ...] = ()
    name_regex: "Pattern | None" = None  # RE2: linear time
    tags: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    older_than: Duration | None = None
    newer_than: Duration | None = None
    optimization: bool | None = None
    stats: tuple[tuple[str, Comparison], ...] = ()
    parameters: tuple[tuple[str, str | float | bool], ...] = ()

    @cached_property
    def tag_set(self) -> frozenset[str]:
        return tag_keys(self.tags)

    @cached_property
    def text(self) -> str:
        """What reasons show, derived from the selector itself (`status failed; older_than 3d`)."""
        parts = [(key, value) for key, value in (
            ("name", ", ".join(self.names)), ("name_regex", self.name_regex.pattern if self.name_regex is not None else ""),
            ("tags", ", ".join(self.tags)), ("status", ", ".join(self.statuses)),
            ("older_than", str(self.older_than or "")), ("newer_than", str(self.newer_than or "")),
            ("optimization", "" if self.optimization is None else str(self.optimization).lower()),
            ("stats", ", ".join(f"{key} {comparison}" for key, comparison in self.stats)),
            ("parameters", ", ".join(f"{key}={_parameter_text(value)}" for key, value in self.parameters))) if value]
        return "; ".join(f"{key} {value}" for key, value in parts)

    def __str__(self) -> str:
        return self.text

    @property
    def reads_statistics(self) -> bool:
        return bool(self.stats)


def _parameter_text(value: str | float | bool) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return f"{value:g}" if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class KeepPolicy:
    kind: str
    count: int = 0
    within: Duration | None = None
    by: str = ""
    order: str = "desc"
    match: tuple[Selector, ...] = ()
    per: str | None = None  # "optimization" or "parameters": the policy runs in each group on its own (restic's --group-by)

    @cached_property
    def text(self) -> str:
        """What reasons show, derived from the policy (restic's String()): `daily`, `within 14d`, `best sharpeRatio asc`."""
        return _POLICY_TEXT.get(self.kind, lambda p: p.kind)(self)

    def __str__(self) -> str:
        return self.text

    @property
    def reads_statistics(self) -> bool:
        return self.kind == "best" or any(s.reads_statistics for s in self.match)


@dataclass(frozen=True)
class LabelRule:
    """Name, note and tag every kept backtest `match` selects; the first matching rule that can render labels it."""

    match: tuple[Selector, ...]
    name: "Template | None" = None
    note: "Template | None" = None
    add_tags: tuple[str, ...] = ()
    remove_tags: tuple[str, ...] = ()

    @cached_property
    def text(self) -> str:
        """What reasons show: what it matches and what it sets (`optimization true -> name, tags`)."""
        sets = [field for field, value in (("name", self.name), ("note", self.note), ("tags", self.add_tags or self.remove_tags)) if value]
        return " | ".join(map(str, self.match)) + " -> " + ", ".join(sets)

    @property
    def reads_statistics(self) -> bool:
        return any(s.reads_statistics for s in self.match) or any(
            key.startswith("statistics.") for t in (self.name, self.note) if t is not None for key in t.fields)


_POLICY_TEXT: dict[str, Callable[[KeepPolicy], str]] = {
    "within": lambda p: f"within {p.within}",
    "best": lambda p: f"best {p.by}{' asc' if p.order == 'asc' else ''}",
    "match": lambda p: "match " + " | ".join(map(str, p.match)),
}


@dataclass(frozen=True)
class DeclaredBacktest:
    id: str
    name: str | None = None
    note: str | None = None
    tags: tuple[str, ...] | None = None
    line: int = 0


@dataclass(frozen=True)
class ProjectSpec:
    id: int | None
    name: str | None
    prune: bool = False
    protect_tags: tuple[str, ...] = (PROTECTED_TAG,)
    allow_empty: bool = False
    backtests: tuple[DeclaredBacktest, ...] = ()
    protect: tuple[Selector, ...] = ()
    delete: tuple[Selector, ...] = ()
    keep: tuple[KeepPolicy, ...] = ()
    labels: tuple[LabelRule, ...] = ()  # the manifest's `label` rules
    grace: Duration | None = None  # mark first, delete once this has passed (docs/design.md, "Grace")
    source: str = ""  # file:line where the project is declared
    rules: Mapping[str, Any] = field(default_factory=dict, compare=False)  # the rule keys as the manifest wrote them (defaults merged)

    @property
    def reference(self) -> str:
        """The project as the manifest names it: its id, or its quoted name (in errors about the manifest)."""
        return str(self.id) if self.id is not None else repr(self.name)

    @cached_property  # read once per backtest by the engine
    def protecting_tags(self) -> tuple[str, ...]:
        """protect_tags plus `protected`, which no manifest can switch off, compared as tag keys."""
        return tuple(dict.fromkeys(tag_key(tag) for tag in (*self.protect_tags, PROTECTED_TAG)))

    @property
    def reads_statistics(self) -> bool:
        return (any(s.reads_statistics for s in (*self.protect, *self.delete)) or any(k.reads_statistics for k in self.keep)
                or any(rule.reads_statistics for rule in self.labels))

    @property
    def labels_notes(self) -> bool:
        """A label rule writes notes: the plan must read the note of every backtest it may label."""
        return any(rule.note is not None for rule in self.labels)

    @cached_property
    def managed_notes(self) -> frozenset[str]:
        return frozenset(d.id for d in self.backtests if d.note is not None)


@dataclass(frozen=True)
class Manifest:
    projects: tuple[ProjectSpec, ...]
    files: tuple[str, ...] = ()
    digest: str = ""
    warnings: tuple[str, ...] = ()  # rules that do nothing, found at load (a `defaults` block in a file with no project)

    @cached_property
    def declared_anywhere(self) -> dict[str, str]:
        """Every declared backtest id -> the project that declares it: never deleted, whichever project it lives in."""
        return {d.id: spec.reference for spec in self.projects for d in spec.backtests}
