"""Records from validated manifest data: selectors, keep policies and project specs.

Used by the loader (after the schema and the semantic checks passed) and by a saved
plan, which carries each project's rule keys so apply can re-check every delete.
"""

from __future__ import annotations

from typing import Any

from reconciler.manifest.model import (
    Comparison,
    DeclaredBacktest,
    KeepPolicy,
    LabelRule,
    ProjectSpec,
    Selector,
)
from reconciler.manifest.regex import compile_linear
from reconciler.manifest.templates import parse_template
from reconciler.models import PROTECTED_TAG
from reconciler.timeutil import duration

DEFAULT_RULES: dict[str, Any] = {"prune": False, "protect_tags": [PROTECTED_TAG], "allow_empty": False, "protect": [], "delete": [], "keep": [],
                                 "label": [], "grace": None}
#: The keys a project's rules are made of; a saved plan carries them so apply can re-check a delete against them.
RULE_KEYS = tuple(DEFAULT_RULES)


def build_project(rules: dict[str, Any], *, id: int | None, name: str | None, backtests: tuple[DeclaredBacktest, ...] = (), source: str = "") -> ProjectSpec:
    """A project's records from its rule keys (as validated by the schema, defaults merged)."""
    return ProjectSpec(
        id=id,
        name=name,
        prune=rules["prune"],
        protect_tags=tuple(rules["protect_tags"]),
        allow_empty=rules["allow_empty"],
        backtests=backtests,
        protect=tuple(build_selector(s) for s in rules["protect"]),
        delete=tuple(build_selector(s) for s in rules["delete"]),
        keep=tuple(build_keep(k) for k in rules["keep"]),
        labels=tuple(build_label(r) for r in rules.get("label", [])),
        grace=duration(rules["grace"]) if rules.get("grace") else None,
        source=source,
        rules=rules,
    )


def build_selector(raw: dict[str, Any]) -> Selector:
    names = raw.get("name")
    statuses = raw.get("status")
    return Selector(
        names=tuple([names] if isinstance(names, str) else names or ()),
        name_regex=compile_linear(raw["name_regex"]) if "name_regex" in raw else None,
        tags=tuple(raw.get("tags") or ()),
        statuses=tuple([statuses] if isinstance(statuses, str) else statuses or ()),
        older_than=duration(raw["older_than"]) if "older_than" in raw else None,
        newer_than=duration(raw["newer_than"]) if "newer_than" in raw else None,
        optimization=raw.get("optimization"),
        stats=tuple((key, Comparison.parse(text)) for key, text in (raw.get("stats") or {}).items()),
        parameters=tuple((str(key), float(value) if isinstance(value, float) else value) for key, value in (raw.get("parameters") or {}).items()),
    )


def build_keep(raw: dict[str, Any]) -> KeepPolicy:
    per = raw.get("per")
    ((kind, value),) = [(k, v) for k, v in raw.items() if k != "per"]
    if kind == "within":
        return KeepPolicy(kind, within=duration(value), per=per)
    if kind == "best":
        return KeepPolicy(kind, count=value["count"], by=value["by"], order=value.get("order", "desc"), per=per)
    if kind == "match":
        selectors = value if isinstance(value, list) else [value]
        return KeepPolicy(kind, match=tuple(build_selector(s) for s in selectors), per=per)
    return KeepPolicy(kind, count=value, per=per)


def build_label(raw: dict[str, Any]) -> LabelRule:
    selectors = raw["match"] if isinstance(raw["match"], list) else [raw["match"]]
    tags = raw.get("tags") or {}
    return LabelRule(match=tuple(build_selector(s) for s in selectors),
                     name=parse_template(raw["name"]) if "name" in raw else None,
                     note=parse_template(raw["note"]) if "note" in raw else None,
                     add_tags=tuple(tag.strip() for tag in tags.get("add") or ()), remove_tags=tuple(tag.strip() for tag in tags.get("remove") or ()))
