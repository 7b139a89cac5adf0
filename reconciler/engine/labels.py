"""Label rules: the name, note and tags of kept backtests, by rule (docs/design.md, "Labels"). Pure.

Labels apply only to backtests the plan keeps, never to in-progress or declared ones
(a declaration wins). The first rule whose selector matches labels a backtest, unless
its templates need a parameter or statistic the backtest lacks: then the next
matching rule may. A rendered name or tag the API would refuse (over 200 characters)
is an error of the plan, never cut. A completed backtest's parameters and statistics
do not change, so after apply the same rules render the same values: no change.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Mapping, Sequence

from reconciler.engine.retention import Decision
from reconciler.engine.selectors import matches
from reconciler.manifest.model import LabelRule, ProjectSpec
from reconciler.manifest.templates import RenderError
from reconciler.models import (
    LEFT_ALONE_RULES,
    MAX_TAGS,
    MAX_TEXT_LENGTH,
    Action,
    Backtest,
    Change,
    Reason,
    tag_key,
    tag_keys,
)


def label(spec: ProjectSpec, decisions: Sequence[Decision], now: datetime, project_name: str, project_id: int
          ) -> tuple[list[Decision], list[str], dict[str, int]]:
    """The decisions with label updates folded in, the plan errors the labels cause, and which rule labelled which id."""
    if not spec.labels:
        return list(decisions), [], {}
    result, errors, labelled = [], [], {}
    for decision in decisions:
        if decision.action != Action.KEEP or decision.reasons[0].rule in LEFT_ALONE_RULES:
            result.append(decision)
            continue
        changes, index, problems = _label_one(spec.labels, decision.backtest, now, project_name, project_id)
        errors.extend(problems)
        if changes:
            labelled[decision.backtest.id] = index
            result.append(Decision(decision.backtest, Action.UPDATE, (Reason("label", index, spec.labels[index].text), *decision.reasons), changes))
        else:
            result.append(decision)
    return result, errors, labelled


def after_apply(decisions: Sequence[Decision]) -> list[Backtest]:
    """The project as it will be once apply has run: deletes gone, every change made."""
    after = []
    for decision in decisions:
        if decision.action == Action.DELETE:
            continue
        fields = {change.field: change.after for change in decision.changes}
        if "tags" in fields:
            fields["tags"] = tuple(fields["tags"])  # type: ignore[arg-type]
        after.append(replace(decision.backtest, **fields) if fields else decision.backtest)  # type: ignore[arg-type]
    return after


def unsettled(spec: ProjectSpec, decisions: Sequence[Decision], labelled: Mapping[str, int], second: Sequence[Decision]) -> list[str]:
    """Labels never change a decision and settle at once (docs/design.md, "Labels"): `second` is the plan of the project
    as `after_apply` leaves it; any delete or change in it is one the reviewed plan did not show, and an error."""
    errors = []
    rules = ", ".join(f"label[{i}]" for i in sorted(set(labelled.values())))
    first = {d.backtest.id: d for d in decisions}
    for decision in second:
        b = decision.backtest
        index = labelled.get(b.id)
        where = f"label[{index}]" if index is not None else f"relabelling other backtests ({rules})"
        if decision.action == Action.DELETE:
            kept_by = "; ".join(map(str, first[b.id].reasons[1:] if index is not None else first[b.id].reasons))  # a label's reason comes first
            cause = "takes away what keeps backtest" if index is not None else "changes which backtests the keep rules count, and so what keeps backtest"
            errors.append(f"{where} {cause} {b.id} ({kept_by}): the next plan would delete it ({'; '.join(map(str, decision.reasons))}); "
                          "a label never changes a decision: change the label or the rule it affects")
        elif decision.action == Action.UPDATE:
            changed = "; ".join(f"{c.field} {_show(c.before)} -> {_show(c.after)}" for c in decision.changes)
            errors.append(f"{where} does not settle on backtest {b.id}: applied twice it gives another value (the next plan would set {changed}); "
                          "render it from fields a label does not change (a name template that includes {name} grows on every apply)")
    return errors


def _show(value: object) -> str:
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(map(str, value)) + "]"
    return repr(value) if isinstance(value, str) else str(value)


def template_values(b: Backtest, project_name: str, project_id: int) -> Mapping[str, object]:
    values: dict[str, object] = {"id": b.id, "name": b.name, "project": project_name, "project_id": project_id, "status": b.status,
                                 "optimization": b.optimization_id or "", "created": b.created}
    values.update((f"parameters.{k}", v) for k, v in b.parameters.items())
    values.update((f"statistics.{k}", v) for k, v in b.statistics.items())
    return values


class _Unrenderable(Exception):
    def __init__(self, index: int, error: RenderError) -> None:
        super().__init__(index, error)
        self.index, self.error = index, error


def note_reads(spec: ProjectSpec, decisions: Sequence[Decision], now: datetime) -> frozenset[str]:
    """The backtests whose note a label rule will write: the only notes labels make the plan read (one read per
    labelled backtest, docs/design.md, "Labels"). Which rule labels a backtest never depends on its note."""
    if not spec.labels_notes:
        return frozenset()
    wanted = set()
    for decision in decisions:
        if decision.action != Action.KEEP or decision.reasons[0].rule in LEFT_ALONE_RULES:
            continue
        try:
            chosen = _choose(spec.labels, decision.backtest, now, "", 0)
        except _Unrenderable:
            continue  # the plan reports it; no note to read
        if chosen is not None and spec.labels[chosen[0]].note is not None:
            wanted.add(decision.backtest.id)
    return frozenset(wanted)


def _choose(rules: Sequence[LabelRule], b: Backtest, now: datetime, project_name: str,
            project_id: int) -> tuple[int, str | None, str | None] | None:
    """The first matching rule that can render (index, name, note), or None; _Unrenderable when the first that matches cannot."""
    values = None
    for index, rule in enumerate(rules):
        if not any(matches(selector, b, now) for selector in rule.match):
            continue
        values = values or template_values(b, project_name, project_id)
        try:
            name = rule.name.render(values) if rule.name is not None else None
            note = rule.note.render(values) if rule.note is not None else None
        except RenderError as exc:
            raise _Unrenderable(index, exc) from None
        if (rule.name is not None and name is None) or (rule.note is not None and note is None):
            continue  # a parameter or statistic it needs is missing: the next matching rule may label it
        return index, name, note
    return None


def _label_one(rules: Sequence[LabelRule], b: Backtest, now: datetime, project_name: str,
               project_id: int) -> tuple[tuple[Change, ...], int, list[str]]:
    try:
        chosen = _choose(rules, b, now, project_name, project_id)
    except _Unrenderable as exc:
        return (), exc.index, [f"label[{exc.index}] cannot label backtest {b.id}: {exc.error}"]
    if chosen is not None:
        index, name, note = chosen
        rule = rules[index]
        where = f"label[{index}]"
        problems: list[str] = []
        changes = []
        if name is not None:
            if len(name) > MAX_TEXT_LENGTH:
                problems.append(f"{where} renders a name of {len(name)} characters for backtest {b.id}; the API allows {MAX_TEXT_LENGTH}")
            elif name != b.name:
                changes.append(Change("name", b.name, name))
        if note is not None and b.note is not None and note != b.note:
            changes.append(Change("note", b.note, note))
        if rule.add_tags or rule.remove_tags:
            removed = tag_keys(rule.remove_tags)
            wanted = [tag for tag in b.tags if tag_key(tag) not in removed]
            for tag in rule.add_tags:
                if tag_key(tag) not in tag_keys(wanted):
                    wanted.append(tag)
            if len(wanted) > MAX_TAGS:
                problems.append(f"{where} would give backtest {b.id} {len(wanted)} tags; the API allows {MAX_TAGS}")
            elif tag_keys(wanted) != b.tag_set:
                changes.append(Change("tags", list(b.tags), wanted))
        return tuple(changes), index, problems
    return (), -1, []
