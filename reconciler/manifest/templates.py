"""Label templates: `{field}` or `{field:spec}` over a fixed list of fields, validated when the manifest loads.

A template never evaluates code: it is parsed once into literal text and field
references; rendering looks values up in a small mapping and formats them with the
spec that was checked at load time (strftime for `created`, a Python number format
for `statistics.NAME`, a string format otherwise). Attribute access, indexing and
unknown fields are load errors. (docs/design.md, "Labels")
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Mapping

from reconciler.models import STATISTICS

FIELDS = ("id", "name", "project", "project_id", "status", "optimization", "created")
PREFIXED = ("parameters.", "statistics.")
CREATED_DEFAULT = "%Y-%m-%d %H:%M"
_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_PARAMETER = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")
_NUMBER_SPEC = re.compile(r"[<>^=]?[+\- ]?#?0?\d*[,_]?(\.\d+)?[eEfFgG%]?")
_SAMPLE_TIME = datetime(2024, 3, 5, 14, 22, 10, tzinfo=timezone.utc)


class TemplateError(ValueError):
    pass


class RenderError(ValueError):
    """A value the template cannot format as its spec says (a parameter "abc" under `.2f`): an error of the plan."""


#: Widths and precisions in a format spec: at most the API's longest text (a wider one can only make a name too long).
MAX_SPEC_NUMBER = 200


@dataclass(frozen=True)
class Field:
    key: str  # "name", "parameters.fast", "statistics.sharpeRatio", ...
    spec: str


@dataclass(frozen=True)
class Template:
    text: str
    parts: tuple[str | Field, ...]

    def render(self, values: Mapping[str, object]) -> str | None:
        """The text, or None when a parameter or statistic it uses is missing (then the rule does not label)."""
        out = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            value = values.get(part.key)
            if value is None:
                return None
            if isinstance(value, datetime):
                out.append(value.strftime(part.spec or CREATED_DEFAULT))
            elif part.key.startswith("statistics."):
                out.append(format(float(value), part.spec))  # type: ignore[arg-type]
            elif part.key.startswith("parameters."):
                out.append(_format_parameter(value, part))
            else:
                out.append(format(value if part.spec and isinstance(value, (int, float)) else str(value), part.spec))
        return "".join(out)

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(part.key for part in self.parts if isinstance(part, Field))


def _format_parameter(value: object, part: Field) -> str:
    """Parameters come as they were given at create: mostly strings ("10"), numbers from API clients. A number spec
    (`.2f`) formats a value that reads as a number; anything else under it cannot be rendered."""
    if not part.spec:
        return f"{value:g}" if isinstance(value, float) else str(value)
    if not _wants_number(part.spec):
        return format(str(value), part.spec) if not isinstance(value, (int, float)) or isinstance(value, bool) else format(value, part.spec)
    number: float | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            number = None
    if number is None:
        raise RenderError(f"{{{part.key}:{part.spec}}} formats a number, and the value is {str(value)[:40]!r}")
    return format(number, part.spec)


def _wants_number(spec: str) -> bool:
    return "." in spec or spec[-1:] in "eEfFgG%" or "," in spec or "_" in spec


def parse_template(text: str) -> Template:
    parts: list[str | Field] = []
    position = 0
    for match in _TOKEN.finditer(text):
        parts.append(text[position:match.start()])
        position = match.end()
        token = match.group(0)
        if token in ("{{", "}}"):
            parts.append(token[0])
            continue
        if match.group(1) is None:
            raise TemplateError(f"unmatched {token!r}; write {token * 2} for a literal brace")
        parts.append(_field(match.group(1)))
    parts.append(text[position:])
    return Template(text, tuple(part for part in parts if part != ""))


def _field(inner: str) -> Field:
    key, _, spec = inner.partition(":")
    key = key.strip()
    if key in FIELDS:
        pass
    elif key.startswith("parameters.") and _PARAMETER.fullmatch(key[len("parameters."):]):
        pass
    elif key.startswith("statistics.") and key[len("statistics."):] in STATISTICS:
        pass
    else:
        known = ", ".join(FIELDS) + ", parameters.NAME, statistics.NAME"
        if any(c in key for c in "[]().") and not key.startswith(PREFIXED):
            raise TemplateError(f"{{{inner}}}: templates allow no attribute access, indexing or calls; fields: {known}")
        if key.startswith("statistics."):
            raise TemplateError(f"{{{inner}}}: unknown statistic {key[len('statistics.'):]!r}; known: {', '.join(STATISTICS)}")
        raise TemplateError(f"{{{inner}}}: unknown field {key!r}; fields: {known}")
    _check_spec(key, spec, inner)
    return Field(key, spec)


def _check_spec(key: str, spec: str, inner: str) -> None:
    if key != "created" and any(int(number) > MAX_SPEC_NUMBER for number in re.findall(r"\d+", spec)):
        raise TemplateError(f"{{{inner}}}: width and precision are at most {MAX_SPEC_NUMBER} (the API's longest name)")
    try:
        if key == "created":
            if spec and "%" not in spec:
                raise ValueError("a strftime format such as %Y-%m-%d")
            _SAMPLE_TIME.strftime(spec or CREATED_DEFAULT)
        elif key.startswith("statistics."):
            if not _NUMBER_SPEC.fullmatch(spec):
                raise ValueError("a number format such as .2f")
            format(1.5, spec)
        elif spec:
            if not re.fullmatch(r"[<>^]?\d*", spec) and not (key.startswith("parameters.") and _NUMBER_SPEC.fullmatch(spec)):
                raise ValueError("an alignment and width such as >10")
    except ValueError as exc:
        raise TemplateError(f"{{{inner}}}: bad format {spec!r} for {key} ({exc})") from None
