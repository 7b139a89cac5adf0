"""The plan value and its file format (``format_version`` 1).

The JSON document is what ``plan --format json`` prints and ``plan --out`` saves:
per project every decision with its reasons, the before/after of each action and,
for every backtest an action touches, the fields that action depends on
(``observed``) so that apply can refuse a stale plan. Nothing secret is in it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from reconciler.errors import ReconcilerError
from reconciler.models import is_backtest_id
from reconciler.timeutil import format_iso, parse_datetime

FORMAT_VERSION = 1
KEEP, UPDATE, DELETE = "keep", "update", "delete"


class PlanFileError(ReconcilerError):
    pass


@dataclass(frozen=True, slots=True)
class FieldChange:
    field: str
    before: Any
    after: Any

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "before": self.before, "after": self.after}


@dataclass(slots=True)
class Entry:
    """One live backtest and what the plan does with it."""

    id: str
    name: str
    created: datetime  # formatted only when serialised: formatting 100k datetimes dominates planning
    status: str
    tags: tuple[str, ...]
    action: str
    reasons: tuple[str, ...]
    changes: tuple[FieldChange, ...] = ()
    observed: dict[str, Any] | None = None  # fields the action depends on; only for update/delete

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "name": self.name, "created": format_iso(self.created), "status": self.status,
                                "tags": list(self.tags), "action": self.action, "reasons": list(self.reasons)}
        if self.changes:
            data["changes"] = [c.to_dict() for c in self.changes]
        if self.observed is not None:
            data["observed"] = self.observed
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Entry":
        if data.get("action") not in (KEEP, UPDATE, DELETE) or not is_backtest_id(data.get("id")):
            raise PlanFileError(f"entry {str(data.get('id'))[:40]!r} has an unknown action or an invalid backtest id")
        if any(c.get("field") not in ("name", "note", "tags") for c in data.get("changes", [])):
            raise PlanFileError(f"entry {data['id']} changes a field apply does not manage")
        return cls(id=data["id"], name=data["name"], created=parse_datetime(data["created"]), status=data["status"], tags=tuple(data.get("tags", [])),
                   action=data["action"], reasons=tuple(data.get("reasons", [])),
                   changes=tuple(FieldChange(c["field"], c["before"], c["after"]) for c in data.get("changes", [])),
                   observed=data.get("observed"))


@dataclass
class ProjectPlan:
    project_id: int
    name: str
    entries: list[Entry]
    protect_tags: tuple[str, ...] = ("protected",)
    declared: tuple[str, ...] = ()
    allow_empty: bool = False
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def count(self, action: str) -> int:
        return sum(1 for e in self.entries if e.action == action)

    @property
    def actions(self) -> list[Entry]:
        """Updates first, then deletes; newest first within each."""
        return sorted((e for e in self.entries if e.action != KEEP), key=lambda e: e.action != UPDATE)

    @property
    def label(self) -> str:
        return f"{self.name} ({self.project_id})" if self.name else str(self.project_id)

    def summary(self) -> dict[str, int]:
        return {"update": self.count(UPDATE), "delete": self.count(DELETE), "unchanged": self.count(KEEP)}

    def to_dict(self) -> dict[str, Any]:
        return {"project_id": self.project_id, "name": self.name, "summary": self.summary(), "protect_tags": list(self.protect_tags),
                "declared": list(self.declared), "allow_empty": self.allow_empty, "warnings": self.warnings, "errors": self.errors,
                "backtests": [e.to_dict() for e in self.entries]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ProjectPlan":
        return cls(project_id=data["project_id"], name=data.get("name", ""), entries=[Entry.from_dict(e) for e in data["backtests"]],
                   protect_tags=tuple(data.get("protect_tags", ["protected"])), declared=tuple(data.get("declared", [])), allow_empty=bool(data.get("allow_empty", False)),
                   warnings=list(data.get("warnings", [])), errors=list(data.get("errors", [])))


@dataclass
class Plan:
    reference_time: str
    manifest_digest: str
    api_url: str
    projects: list[ProjectPlan]
    created_at: str = ""
    state: dict[str, Any] | None = None  # set when planned against a recorded state file
    format_version: int = FORMAT_VERSION

    def totals(self) -> dict[str, int]:
        totals = {"update": 0, "delete": 0, "unchanged": 0}
        for project in self.projects:
            for key, value in project.summary().items():
                totals[key] += value
        return totals

    @property
    def has_changes(self) -> bool:
        return any(project.actions for project in self.projects)

    @property
    def errors(self) -> list[str]:
        return [f"{p.label}: {e}" for p in self.projects for e in p.errors]

    @property
    def warnings(self) -> list[str]:
        return [f"{p.label}: {w}" for p in self.projects for w in p.warnings]

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"format_version": self.format_version, "created_at": self.created_at, "reference_time": self.reference_time,
                                "manifest_digest": self.manifest_digest, "api_url": self.api_url}
        if self.state is not None:
            data["state"] = self.state
        data["summary"] = self.totals()
        data["projects"] = [p.to_dict() for p in self.projects]
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=False)  # compact: the C encoder

    @classmethod
    def from_dict(cls, data: Any) -> "Plan":
        if not isinstance(data, dict) or "format_version" not in data:
            raise PlanFileError("not a plan file (no format_version)")
        if data["format_version"] != FORMAT_VERSION:
            raise PlanFileError(f"plan format_version {data['format_version']!r} is not supported (this reconciler reads {FORMAT_VERSION}); re-run plan")
        try:
            return cls(reference_time=data["reference_time"], manifest_digest=data["manifest_digest"], api_url=data["api_url"],
                       projects=[ProjectPlan.from_dict(p) for p in data["projects"]], created_at=data.get("created_at", ""),
                       state=data.get("state"))
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise PlanFileError(f"plan file is damaged ({type(exc).__name__}: {exc}); re-run plan") from None


def load_plan(path: str | Path) -> Plan:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise PlanFileError(f"cannot read plan {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise PlanFileError(f"{path} is not a plan file (not UTF-8)") from None
    try:
        data = json.loads(text)
    except ValueError:
        raise PlanFileError(f"{path} is not a plan file (not JSON)") from None
    try:
        return Plan.from_dict(data)
    except PlanFileError as exc:
        raise PlanFileError(f"{path}: {exc}") from None
