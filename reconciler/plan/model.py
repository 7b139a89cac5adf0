"""The plan value and its file format (``format_version`` 3: reasons are records).

The JSON document is what ``plan --format json`` prints and ``plan --out`` saves:
per project every decision with its reasons, the before/after of each action and,
for every backtest an action touches, the fields that action depends on
(``observed``) so that apply can refuse a stale plan. Like a Terraform plan, it also
carries what apply needs to re-check every delete without the manifest: each
project's rules and every backtest the whole manifest declares. Nothing secret is in it.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property
from operator import attrgetter
from pathlib import Path
from typing import Any

from reconciler import __version__
from reconciler.engine.guards import Verdict, merge_verdict
from reconciler.errors import ReconcilerError
from reconciler.fsutil import read_at_most
from reconciler.manifest.build import DEFAULT_RULES, RULE_KEYS, build_project
from reconciler.manifest.caps import Caps
from reconciler.manifest.model import DeclaredBacktest, ProjectSpec
from reconciler.models import MANAGED_FIELDS, Action, Backtest, Change, Grace, Reason, is_backtest_id, project_title, trash_day
from reconciler.timeutil import format_iso, parse_datetime

FORMAT_VERSION = 3
MAX_PLAN_BYTES = 1024 * 1024 * 1024


class PlanFileError(ReconcilerError):
    pass


@dataclass(slots=True)
class Entry:
    """One live backtest and what the plan does with it."""

    id: str
    name: str
    created: datetime  # formatted only when serialised: formatting 100k datetimes dominates planning
    status: str
    tags: tuple[str, ...]
    action: Action
    reasons: tuple[Reason, ...]
    changes: tuple[Change, ...] = ()
    observed: dict[str, Any] | None = None  # fields the action depends on; only for update/delete
    ranked: dict[str, float] | None = None  # the statistics the project's `best` rules rank by (for the HTML report)
    notable: tuple[str, ...] = ()  # why a reviewer must not miss this delete (engine.notable), made by the planner
    notable_weight: int = 0  # how much: the views list the heaviest first (engine.notable.WEIGHTS)
    grace: Grace | None = None  # under a `grace` rule: mark, marked (waiting for its day), ended (the delete), unmark

    @property
    def grace_day(self) -> "date | None":
        """The day a marked row goes: from the mark it carries, or the one this plan adds."""
        tags = next((c.after for c in self.changes if c.field == "tags"), ()) if self.grace == Grace.MARK else self.tags
        days = [day for day in map(trash_day, tags) if day is not None]  # type: ignore[arg-type]
        return max(days) if days else None

    @property
    def kind(self) -> str:
        """What the views call the row: the action, or the grace step it is (`mark`, `marked`, `unmark`)."""
        if self.grace is None or self.grace is Grace.ENDED:
            return _ACTION_WORDS[self.action]
        return _GRACE_WORDS[self.grace]

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "name": self.name, "created": format_iso(self.created), "status": self.status,
                                "tags": list(self.tags), "action": self.action.value, "reasons": [r.to_dict() for r in self.reasons]}
        if self.changes:
            data["changes"] = [c.to_dict() for c in self.changes]
        if self.observed is not None:
            data["observed"] = self.observed
        if self.ranked:
            data["ranked"] = self.ranked
        if self.notable:
            data["notable"] = list(self.notable)
            data["notable_weight"] = self.notable_weight
        if self.grace is not None:
            data["grace"] = self.grace.value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Entry":
        try:
            action = Action(data.get("action"))
        except ValueError:
            action = None
        if action is None or not is_backtest_id(data.get("id")):
            raise PlanFileError(f"entry {str(data.get('id'))[:40]!r} has an unknown action or an invalid backtest id")
        if any(c.get("field") not in MANAGED_FIELDS for c in data.get("changes", [])):
            raise PlanFileError(f"entry {data['id']} changes a field apply does not manage")
        if not isinstance(data["name"], str) or not isinstance(data["status"], str):
            raise PlanFileError(f"entry {data['id']} has a name or status that is not a string")
        tags = tuple(data.get("tags", []))
        if not all(isinstance(tag, str) for tag in tags):
            raise PlanFileError(f"entry {data['id']} has tags that are not strings")
        observed = data.get("observed")
        if observed is not None and not isinstance(observed, dict):
            raise PlanFileError(f"entry {data['id']} has a damaged 'observed' record")
        ranked = data.get("ranked")
        if ranked is not None and (not isinstance(ranked, dict) or not all(isinstance(k, str) and type(v) in (int, float) for k, v in ranked.items())):
            raise PlanFileError(f"entry {data['id']} has damaged statistics")
        return cls(id=data["id"], name=data["name"], created=parse_datetime(data["created"]), status=data["status"], tags=tags,
                   action=action, reasons=tuple(Reason.from_dict(r) for r in data.get("reasons", [])),
                   changes=tuple(Change(c["field"], c["before"], c["after"]) for c in data.get("changes", [])),
                   observed=observed, ranked={k: float(v) for k, v in ranked.items()} if ranked else None,
                   notable=tuple(str(why) for why in data.get("notable", ())), notable_weight=_weight(data), grace=_grace(data))


def observed_fields(backtest: Backtest, *, note: bool) -> dict[str, Any]:
    """An entry's `observed` record: the live fields an update or delete depends on, the note only where it was read."""
    observed: dict[str, Any] = {"name": backtest.name, "tags": list(backtest.tags), "status": backtest.status}
    if note:
        observed["note"] = backtest.note or ""
    return observed


_grace_of, _action_of = attrgetter("grace"), attrgetter("action")
_ACTION_WORDS = {action: action.value for action in Action}  # a dict lookup: Enum.value is a descriptor call, 400,000 times a plan
_GRACE_WORDS = {grace: grace.value for grace in Grace}


def _weight(data: dict[str, Any]) -> int:
    weight = data.get("notable_weight", 0)
    return weight if type(weight) is int else 0


def _grace(data: dict[str, Any]) -> Grace | None:
    if data.get("grace") is None:
        return None
    try:
        grace = Grace(data["grace"])
    except ValueError:
        raise PlanFileError(f"entry {data['id']} has an unknown grace step") from None
    expected = {Grace.MARK: Action.UPDATE, Grace.UNMARK: Action.UPDATE, Grace.MARKED: Action.KEEP, Grace.ENDED: Action.DELETE}[grace]
    if Action(data["action"]) != expected:
        raise PlanFileError(f"entry {data['id']}: a grace {grace.value} is not a {data['action']}")
    return grace


@dataclass
class ProjectPlan:
    project_id: int
    name: str
    entries: list[Entry]
    spec: ProjectSpec  # the project's rules, as planned: apply re-checks each delete against them
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def count(self, action: Action) -> int:
        return sum(1 for e in self.entries if e.action == action)

    @property
    def actions(self) -> list[Entry]:
        """Updates first, then deletes; newest first within each."""
        entries = self.entries
        return [e for e in entries if e.action is Action.UPDATE] + [e for e in entries if e.action is Action.DELETE]

    @property
    def waiting(self) -> list[Entry]:
        """Backtests marked by an earlier apply whose day has not come: no action now, shown with the day they go."""
        return [e for e in self.entries if e.grace == Grace.MARKED]

    @property
    def title(self) -> str:
        """The project as every view shows it: `Name (id)`, or the id alone (models.project_title)."""
        return project_title(self.name, self.project_id)

    @property
    def allow_empty(self) -> bool:
        return self.spec.allow_empty

    def summary(self) -> dict[str, int]:
        """Counts per row kind: marks and unmarks are updates apart (they count against --max-updates); waiting marks are unchanged."""
        counts = {"update": 0, "delete": 0, "mark": 0, "unmark": 0, "unchanged": 0}
        if not any(map(_grace_of, self.entries)):  # no grace step: counting actions is enough, in C (300 summaries of 100,000 rows)
            by_action = Counter(map(_action_of, self.entries))
            counts.update(update=by_action[Action.UPDATE], delete=by_action[Action.DELETE], unchanged=by_action[Action.KEEP])
            return counts
        for entry in self.entries:
            kind = entry.kind
            counts["unchanged" if kind in ("keep", "marked") else kind] += 1
        return counts

    def to_dict(self) -> dict[str, Any]:
        return {"project_id": self.project_id, "name": self.name, "summary": self.summary(),
                "rules": {key: self.spec.rules.get(key, DEFAULT_RULES[key]) for key in RULE_KEYS}, "declared": [d.id for d in self.spec.backtests],
                "warnings": self.warnings, "errors": self.errors, "backtests": [e.to_dict() for e in self.entries]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ProjectPlan":
        project_id = data["project_id"]
        if isinstance(project_id, bool) or not isinstance(project_id, int) or project_id <= 0:
            raise PlanFileError(f"project id {str(project_id)[:40]!r} is not a positive integer")
        rules = data["rules"]
        if not isinstance(rules, dict) or set(rules) != set(RULE_KEYS):
            raise PlanFileError(f"project {project_id} has damaged rules")
        declared = data.get("declared", [])
        if not isinstance(declared, list) or not all(is_backtest_id(i) for i in declared):
            raise PlanFileError(f"project {project_id} has damaged declared ids")
        spec = build_project(rules, id=project_id, name=None, backtests=tuple(DeclaredBacktest(id=i) for i in declared))
        return cls(project_id=project_id, name=str(data.get("name", "")), entries=[Entry.from_dict(e) for e in data["backtests"]], spec=spec,
                   warnings=[str(w) for w in data.get("warnings", [])], errors=[str(e) for e in data.get("errors", [])])


@dataclass
class Plan:
    reference_time: str
    manifest_digest: str
    api_url: str
    projects: list[ProjectPlan]
    declared_anywhere: dict[str, str] = field(default_factory=dict)  # every id the manifest declares -> its project
    created_at: str = ""
    state: dict[str, Any] | None = None  # set when planned against a recorded state file
    general_warnings: list[str] = field(default_factory=list)  # about no one project: rules that do nothing, a distant --now
    caps: Caps | None = None  # the caps the plan was judged against (the merge verdict); None in a plan file without them
    tool_version: str = __version__
    format_version: int = FORMAT_VERSION

    def totals(self) -> dict[str, int]:
        totals = {"update": 0, "delete": 0, "mark": 0, "unmark": 0, "unchanged": 0}
        for project in self.projects:
            for key, value in project.summary().items():
                totals[key] += value
        return totals

    @property
    def verdict(self) -> Verdict | None:
        """What the merge job will do with this plan under its caps (engine.guards.merge_verdict); None without caps."""
        if self.caps is None:
            return None
        totals = self.totals()
        offline = None
        if self.state is not None:
            offline = f"recorded {self.state.get('recorded_at') or 'at an unknown time'}, {self.state.get('age') or 'age unknown'}"
        return merge_verdict(errors=len(self.errors), offline=offline, deletes=totals["delete"],
                             updates=totals["update"] + totals["mark"] + totals["unmark"], max_deletes=self.caps.max_deletes,
                             max_updates=self.caps.max_updates, caps_file=self.caps.file)

    @cached_property
    def now(self) -> datetime:
        return parse_datetime(self.reference_time)

    @property
    def has_changes(self) -> bool:
        return any(project.actions for project in self.projects)

    @property
    def notable(self) -> list[tuple[ProjectPlan, Entry]]:
        """The deletes a reviewer must not miss, the heaviest first (a citation, a note, a protect tag...), then in plan order."""
        found = [(p, e) for p in self.projects for e in p.entries if e.notable]
        return sorted(found, key=lambda pe: -pe[1].notable_weight)  # stable: plan order within a weight

    @property
    def errors(self) -> list[str]:
        return [f"{p.title}: {e}" for p in self.projects for e in p.errors]

    @property
    def warnings(self) -> list[str]:
        return [*self.general_warnings, *(f"{p.title}: {w}" for p in self.projects for w in p.warnings)]

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"format_version": self.format_version, "tool_version": self.tool_version, "created_at": self.created_at,
                                "reference_time": self.reference_time, "manifest_digest": self.manifest_digest, "api_url": self.api_url}
        if self.state is not None:
            data["state"] = self.state
        if self.general_warnings:
            data["warnings"] = self.general_warnings
        data["summary"] = self.totals()
        if self.caps is not None:
            data["caps"] = self.caps.to_dict()
            verdict = self.verdict
            data["verdict"] = {"applies": verdict.applies, "why": verdict.why} if verdict else None
        data["declared_anywhere"] = self.declared_anywhere
        data["projects"] = [p.to_dict() for p in self.projects]
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=False)  # compact: the C encoder

    @classmethod
    def from_dict(cls, data: Any) -> "Plan":
        if not isinstance(data, dict) or "format_version" not in data:
            raise PlanFileError("not a plan file (no format_version)")
        version = data["format_version"]
        if version != FORMAT_VERSION:
            newer = isinstance(version, int) and not isinstance(version, bool) and version > FORMAT_VERSION
            hint = "it was made by a newer reconciler (" + str(data.get("tool_version", "unknown version"))[:40] + "): upgrade" if newer else "re-run plan"
            raise PlanFileError(f"plan format_version {str(version)[:20]} is not supported (this reconciler {__version__} reads {FORMAT_VERSION}); {hint}")
        try:
            declared = data.get("declared_anywhere", {})
            if not isinstance(declared, dict) or not all(is_backtest_id(k) and isinstance(v, str) for k, v in declared.items()):
                raise PlanFileError("damaged declared_anywhere")
            return cls(reference_time=data["reference_time"], manifest_digest=str(data["manifest_digest"]), api_url=str(data["api_url"]),
                       projects=[ProjectPlan.from_dict(p) for p in data["projects"]], declared_anywhere=dict(declared),
                       created_at=str(data.get("created_at", "")), state=data.get("state"), tool_version=str(data.get("tool_version", "")),
                       general_warnings=[str(w) for w in data.get("warnings", [])], caps=Caps.from_dict(data.get("caps")))
        except PlanFileError as exc:
            raise PlanFileError(f"plan file is damaged ({exc}); re-run plan") from None
        except (KeyError, TypeError, AttributeError, ValueError, IndexError) as exc:
            raise PlanFileError(f"plan file is damaged ({type(exc).__name__}: {str(exc)[:200]}); re-run plan") from None


def load_plan(path: str | Path) -> Plan:
    try:
        raw = read_at_most(Path(path), MAX_PLAN_BYTES)
    except OSError as exc:
        raise PlanFileError(f"cannot read plan {path}: {exc.strerror or exc}") from None
    if raw is None:
        raise PlanFileError(f"{path} is larger than {MAX_PLAN_BYTES // 2**20} MiB; not a plan file")
    try:
        data = json.loads(raw)
    except UnicodeDecodeError:
        raise PlanFileError(f"{path} is not a plan file (not UTF-8)") from None
    except RecursionError:
        raise PlanFileError(f"{path} is not a plan file (nested too deeply)") from None
    except ValueError:
        raise PlanFileError(f"{path} is not a plan file (not JSON)") from None
    try:
        plan = Plan.from_dict(data)
        plan.now  # noqa: B018 - a reference time that does not parse is a damaged plan, found now rather than at the first delete
        return plan
    except PlanFileError as exc:
        raise PlanFileError(f"{path}: {exc}") from None
    except ValueError:
        raise PlanFileError(f"{path}: plan file is damaged (reference_time is not a timestamp); re-run plan") from None
