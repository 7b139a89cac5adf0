"""Label rules: the name, note and tags of kept backtests, by rule (docs/design.md, "Labels"). Pure.

Labels apply only to backtests the plan keeps, never to in-progress or declared ones
(a declaration wins). The first rule whose selector matches labels a backtest, unless
its templates need a parameter or statistic the backtest lacks: then the next
matching rule may. A rendered name or tag the API would refuse (over 200 characters)
is an error of the plan, never cut. A completed backtest's parameters and statistics
do not change, so after apply the same rules render the same values: no change.
"""

from __future__ import annotations

from datetime import datetime
from typing import Mapping, Sequence

from reconciler.engine.retention import Decision
from reconciler.engine.selectors import matches
from reconciler.manifest.model import LabelRule, ProjectSpec
from reconciler.models import (
    MAX_TAGS,
    MAX_TEXT_LENGTH,
    Action,
    Backtest,
    Change,
    tag_key,
    tag_keys,
)

_LEFT_ALONE = ("in-progress", "declared", "unknown status", "declared in project")


def label(spec: ProjectSpec, decisions: Sequence[Decision], now: datetime, project_name: str, project_id: int) -> tuple[list[Decision], list[str]]:
    """The decisions with label updates folded in, and the plan errors the labels cause."""
    if not spec.labels:
        return list(decisions), []
    result, errors = [], []
    for decision in decisions:
        if decision.action != Action.KEEP or decision.reasons[0].startswith(_LEFT_ALONE):
            result.append(decision)
            continue
        changes, reason, problems = _label_one(spec.labels, decision.backtest, now, project_name, project_id)
        errors.extend(problems)
        if changes:
            result.append(Decision(decision.backtest, Action.UPDATE, (reason, *decision.reasons), changes))
        else:
            result.append(decision)
    return result, errors


def template_values(b: Backtest, project_name: str, project_id: int) -> Mapping[str, object]:
    values: dict[str, object] = {"id": b.id, "name": b.name, "project": project_name, "project_id": project_id, "status": b.status,
                                 "optimization": b.optimization_id or "", "created": b.created}
    values.update((f"parameters.{k}", v) for k, v in b.parameters.items())
    values.update((f"statistics.{k}", v) for k, v in b.statistics.items())
    return values


def _label_one(rules: Sequence[LabelRule], b: Backtest, now: datetime, project_name: str,
               project_id: int) -> tuple[tuple[Change, ...], str, list[str]]:
    values = None
    for index, rule in enumerate(rules):
        if not any(matches(selector, b, now) for selector in rule.match):
            continue
        values = values or template_values(b, project_name, project_id)
        name = rule.name.render(values) if rule.name is not None else None
        note = rule.note.render(values) if rule.note is not None else None
        if (rule.name is not None and name is None) or (rule.note is not None and note is None):
            continue  # a parameter or statistic it needs is missing: the next matching rule may label it
        where = f"label[{index}]"
        problems = []
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
        return tuple(changes), where, problems
    return (), "", []
