"""Records shared by every layer: what a project and a backtest are, once parsed."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import Enum
from functools import cached_property, lru_cache
from typing import Iterable, Mapping

BACKTEST_ID = re.compile(r"[0-9a-f]{32}")  # always used with fullmatch: `$` would let a trailing newline through

COMPLETED = "completed"
FAILED = "failed"
RUNNING = "running"
QUEUED = "queued"
KNOWN_STATUSES = (COMPLETED, FAILED, RUNNING, QUEUED)
IN_PROGRESS = (RUNNING, QUEUED)
#: What the API accepts (docs/design.md, "Labels"): names and tags of at most 200 characters, at most 100 tags.
MAX_TEXT_LENGTH = 200
MAX_TAGS = 100
#: Always protects, whatever a manifest's protect_tags say: the protection lives on the backtest.
PROTECTED_TAG = "protected"


class Action(str, Enum):
    """What a plan does with one live backtest."""

    KEEP = "keep"
    UPDATE = "update"
    DELETE = "delete"

    __str__ = str.__str__
    __format__ = str.__format__
    __hash__ = str.__hash__  # a dict keyed by "keep" finds Action.KEEP


@dataclass(frozen=True, slots=True)
class Change:
    """One field an update sets: the live value before, the wanted value after."""

    field: str
    before: object
    after: object

    def to_dict(self) -> dict[str, object]:
        return {"field": self.field, "before": self.before, "after": self.after}


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a decision was made, as a record (docs/design.md, "Reviewing a plan"): made where the decision is made,
    rendered at the edge, never read back from its text.

    `rule` is the kind of rule (`keep`, `delete`, `protect`, `protect_tags`, `label`, `prune`, `declared`, ...),
    `index` its place in the manifest's list, `text` the rule's own words (`within 14d`), `detail` what this
    backtest got from it (`3/7`, `per optimization 1f0c2a9b…`, `in project 12`)."""

    rule: str
    index: int | None = None
    text: str = ""
    detail: str = ""

    @property
    def key(self) -> str:
        """The rule a count per reason groups by: `keep[1] (within 14d)`, `prune`."""
        where = self.rule if self.index is None else f"{self.rule}[{self.index}]"
        return f"{where} ({self.text})" if self.text else where

    def __str__(self) -> str:
        return f"{self.key} {self.detail}" if self.detail else self.key

    def to_dict(self) -> dict[str, object]:
        data: dict[str, object] = {"rule": self.rule}
        if self.index is not None:
            data["index"] = self.index
        if self.text:
            data["text"] = self.text
        if self.detail:
            data["detail"] = self.detail
        return data

    @classmethod
    def from_dict(cls, data: object) -> "Reason":
        if not isinstance(data, dict) or not isinstance(data.get("rule"), str):
            raise ValueError("a reason is not a record with a rule")
        index = data.get("index")
        if index is not None and (isinstance(index, bool) or not isinstance(index, int) or index < 0):
            raise ValueError("a reason's index is not a non-negative integer")
        return cls(data["rule"], index, str(data.get("text", "")), str(data.get("detail", "")))


#: Rules whose backtests labels leave alone: in progress, of a status we do not know, or declared (a declaration wins).
LEFT_ALONE_RULES = frozenset({"in-progress", "unknown-status", "declared"})


class Grace(str, Enum):
    """Where a delete under a `grace` rule stands (docs/design.md, "Grace"): what the plan does about the mark."""

    MARK = "mark"  # an update that adds trash:DAY instead of the delete
    MARKED = "marked"  # marked earlier, its day not come: nothing to do yet
    ENDED = "ended"  # its day has come and the plan still deletes it: the delete
    UNMARK = "unmark"  # marked, and the plan now keeps it: an update that removes the mark

    __str__ = str.__str__
    __format__ = str.__format__
    __hash__ = str.__hash__


TRASH_PREFIX = "trash:"
_TRASH_DAY = re.compile(r"trash:(\d{4})-(\d{2})-(\d{2})")  # fullmatch, on a tag's key


def trash_day(tag: str) -> date | None:
    """The day a grace mark (`trash:YYYY-MM-DD`) names, or None for any other tag (a malformed one is a plain tag)."""
    key = tag_key(tag)
    if not key.startswith(TRASH_PREFIX):
        return None
    match = _TRASH_DAY.fullmatch(key)
    try:
        return date(int(match.group(1)), int(match.group(2)), int(match.group(3))) if match else None
    except ValueError:
        return None


def trash_mark(day: date) -> str:
    return f"{TRASH_PREFIX}{day.isoformat()}"


def without_marks(backtest: "Backtest") -> "tuple[Backtest, date | None]":
    """The backtest as the engine sees it (no grace mark: the mark decides nothing) and the day of its mark (the latest)."""
    if not backtest.tags or not any(tag_key(tag).startswith(TRASH_PREFIX) for tag in backtest.tags):
        return backtest, None
    days = [day for day in map(trash_day, backtest.tags) if day is not None]
    if not days:
        return backtest, None
    return replace(backtest, tags=tuple(tag for tag in backtest.tags if trash_day(tag) is None)), max(days)


#: The fields apply manages; a plan that changes anything else is refused.
MANAGED_FIELDS = ("name", "note", "tags")


class Outcome(str, Enum):
    """What became of one planned action when apply ran it."""

    UPDATED = "updated"
    PARTLY_UPDATED = "partly-updated"  # a stop between the name/note call and the tags call
    DELETED = "deleted"
    ALREADY_GONE = "already-gone"
    ALREADY_MATCHING = "already-matching"
    SKIPPED = "skipped"  # changed since planning: the last check before the delete kept it (and only that)
    FAILED = "failed"
    NOT_STARTED = "not-started"

    __str__ = str.__str__
    __format__ = str.__format__
    __hash__ = str.__hash__

    # Predicates (gitops-engine gives its phases methods): each set of outcomes is spelled here once.
    @property
    def failed(self) -> bool:
        """A call that did not take effect as planned: fail-fast stops on it."""
        return self in (Outcome.FAILED, Outcome.PARTLY_UPDATED)

    @property
    def unfinished(self) -> bool:
        """Something planned is not done yet: apply exits 1, and running it again finishes it."""
        return self in (Outcome.FAILED, Outcome.PARTLY_UPDATED, Outcome.NOT_STARTED)

    @property
    def listed(self) -> bool:
        """An outcome apply's summary names one by one, with its error or skip reason."""
        return self in (Outcome.FAILED, Outcome.PARTLY_UPDATED, Outcome.SKIPPED)


def tag_key(tag: str) -> str:
    """Tags compare case-insensitively with surrounding whitespace ignored (docs/design.md, "Tags").

    `Protected`, ` PROTECTED` and `protected` are one tag: the web IDE lets people type any of them.
    """
    return tag.strip().casefold()


def tag_keys(tags: Iterable[str]) -> frozenset[str]:
    return frozenset(tag_key(tag) for tag in tags)

#: Statistics that /backtests/list carries with includeStatistics=true.
STATISTICS = (
    "alpha",
    "beta",
    "compoundingAnnualReturn",
    "drawdown",
    "lossRate",
    "netProfit",
    "psr",
    "sharpeRatio",
    "sortinoRatio",
    "trades",
    "treynorRatio",
    "winRate",
)

_STATUS_PREFIXES = (
    ("completed", COMPLETED),
    ("in queue", QUEUED),
    ("queued", QUEUED),
    ("running", RUNNING),
    ("runtime error", FAILED),
    ("failed", FAILED),  # the normalised word itself, as state files written by hand say it
)


@lru_cache(maxsize=512)  # a few distinct strings, 100,000 backtests
def normalize_status(raw: str) -> str:
    """Map the service's status strings to completed/failed/running/queued.

    Unknown strings come back verbatim; the engine never deletes such a backtest.
    """
    text = raw.strip().lower().rstrip(".")
    for prefix, status in _STATUS_PREFIXES:
        if text == prefix or text.startswith(prefix + ":") or text.startswith(prefix + " ") or text.startswith(prefix + "."):
            return status
    return raw


def is_backtest_id(value: object) -> bool:
    return isinstance(value, str) and BACKTEST_ID.fullmatch(value) is not None


def project_title(name: str, project_id: int) -> str:
    """A project as people read it, one spelling everywhere: `Momentum v2 (23456789)`, or the id alone without a name."""
    return f"{name} ({project_id})" if name else str(project_id)


@dataclass(frozen=True)
class Project:
    id: int
    name: str


@dataclass(frozen=True)
class Backtest:
    id: str
    project_id: int
    name: str
    created: datetime
    status: str  # normalised; an unknown service string is kept verbatim
    raw_status: str = ""
    tags: tuple[str, ...] = ()
    optimization_id: str | None = None
    progress: float = 0.0
    statistics: Mapping[str, float] = field(default_factory=dict)
    note: str | None = None  # only /backtests/read carries it
    parameters: Mapping[str, str | float | bool] = field(default_factory=dict)  # the parameterSet it ran with ({} for none)

    @classmethod
    def parsed(cls, **fields: object) -> "Backtest":
        """A record from fields a parser has already checked, every field given: the frozen dataclass's __init__ sets
        each field through object.__setattr__, which is a third of parsing 100,000 backtests."""
        return cls.from_fields(fields)

    @classmethod
    def from_fields(cls, fields: dict[str, object]) -> "Backtest":
        """As parsed, from a dict of every field, which becomes the record's own (a state file's 100,000 entries)."""
        record = object.__new__(cls)
        object.__setattr__(record, "__dict__", fields)
        return record

    @cached_property
    def tag_set(self) -> frozenset[str]:
        """The tags as compared everywhere (see tag_key)."""
        return tag_keys(self.tags) if self.tags else frozenset()

    @property
    def in_progress(self) -> bool:
        return self.status in IN_PROGRESS
