"""Decide, for every live backtest of a project, keep, delete or update, and record why.

The order is docs/design.md, "Decisions": in-progress, declared (here or anywhere
in the manifest), protect tags, protect, future, delete, keep policies, prune.
Keep policies follow restic's forget: every policy walks every candidate newest
first, the result is the union, and each kept backtest lists every policy that
kept it. No I/O here.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter
from typing import Callable, Hashable, Mapping, Sequence

from reconciler.engine.selectors import first_matches, matches
from reconciler.manifest.model import DeclaredBacktest, KeepPolicy, ProjectSpec
from reconciler.models import (
    IN_PROGRESS,
    KNOWN_STATUSES,
    Action,
    Backtest,
    Change,
    Grace,
    Reason,
    tag_keys,
    without_marks,
)

KEEP, DELETE, UPDATE = Action.KEEP, Action.DELETE, Action.UPDATE
PRUNE, UNMANAGED, FUTURE, DECLARED = Reason("prune"), Reason("unmanaged"), Reason("future"), Reason("declared")
IN_PROGRESS_REASON = Reason("in-progress")


@dataclass(slots=True)
class Decision:
    backtest: Backtest
    action: Action
    reasons: tuple[Reason, ...]
    changes: tuple[Change, ...] = ()
    grace: Grace | None = None  # set by engine.grace on the projects with a `grace` rule


@dataclass(frozen=True)
class Context:
    """What a decision may depend on besides the project's own rules: the reference time, and the
    backtests declared anywhere in the manifest (id -> the project that declares it)."""

    now: datetime
    declared_anywhere: Mapping[str, str]


_by_id = attrgetter("id")
_by_created = attrgetter("created")


def decide(spec: ProjectSpec, backtests: Sequence[Backtest], now: datetime, declared_anywhere: Mapping[str, str] | None = None) -> list[Decision]:
    """One decision per backtest, in newest-first order whatever the input order."""
    context = Context(now, declared_anywhere or {})
    declared = {d.id: d for d in spec.backtests}
    # The one total order: newest first, ties by id (two stable C-level sorts).
    ordered = sorted(sorted(backtests, key=_by_id), key=_by_created, reverse=True)
    decided: dict[str, Decision] = {}
    candidates = ordered
    for rule in active_rules(spec, context):  # the first rule that applies wins: each sees only what earlier ones left
        found = rule(spec, declared, candidates, context)
        if found:
            decided.update(found)
            candidates = [b for b in candidates if b.id not in found]
    kept_by = keep_reasons(spec.keep, candidates, now)
    action, reasons_left = (DELETE, (PRUNE,)) if spec.prune else (KEEP, (UNMANAGED,))  # what no policy keeps
    for backtest in candidates:
        reasons = kept_by.get(backtest.id)
        decided[backtest.id] = Decision(backtest, KEEP, tuple(reasons)) if reasons else Decision(backtest, action, reasons_left)
    return [decided[b.id] for b in ordered]


# --- the first rule that applies wins ---------------------------------------------------
# Each rule takes the backtests no earlier rule decided and returns the decisions it makes (id -> decision): one pass
# over the list per rule, not one call per backtest and rule (a 100,000-backtest plan).

Rule = Callable[[ProjectSpec, dict[str, DeclaredBacktest], Sequence[Backtest], Context], "dict[str, Decision]"]
_SETTLED = frozenset(KNOWN_STATUSES) - frozenset(IN_PROGRESS)


def _in_progress(spec: ProjectSpec, declared: dict[str, DeclaredBacktest], backtests: Sequence[Backtest], context: Context) -> dict[str, Decision]:
    found = {}
    for b in [b for b in backtests if b.status not in _SETTLED]:
        if b.status in IN_PROGRESS:
            found[b.id] = Decision(b, KEEP, (IN_PROGRESS_REASON,))
        else:
            found[b.id] = Decision(b, KEEP, (Reason("unknown-status", detail=repr(b.raw_status or b.status)),))
    return found


def _declared(spec: ProjectSpec, declared: dict[str, DeclaredBacktest], backtests: Sequence[Backtest], context: Context) -> dict[str, Decision]:
    anywhere = context.declared_anywhere
    found = {}
    for b in [b for b in backtests if b.id in declared or b.id in anywhere]:
        target = declared.get(b.id)
        if target is not None:
            changes = declared_changes(target, b)
            found[b.id] = Decision(b, UPDATE if changes else KEEP, (DECLARED,), changes)
        else:  # declared under another project: never deleted, left as it is here
            found[b.id] = Decision(b, KEEP, (Reason("declared", detail=f"in project {anywhere[b.id]}"),))
    return found


def _protect_tags(spec: ProjectSpec, declared: dict[str, DeclaredBacktest], backtests: Sequence[Backtest], context: Context) -> dict[str, Decision]:
    protecting = spec.protecting_tags
    found = {}
    for b in [b for b in backtests if b.tags]:
        live = b.tag_set
        hits = [tag for tag in protecting if tag in live]
        if hits:
            found[b.id] = Decision(b, KEEP, (Reason("protect_tags", text=", ".join(hits)),))
    return found


def _protect(spec: ProjectSpec, declared: dict[str, DeclaredBacktest], backtests: Sequence[Backtest], context: Context) -> dict[str, Decision]:
    return {b.id: Decision(b, KEEP, (Reason("protect", index, spec.protect[index].text),))
            for b, index in first_matches(spec.protect, backtests, context.now)}


def _future(spec: ProjectSpec, declared: dict[str, DeclaredBacktest], backtests: Sequence[Backtest], context: Context) -> dict[str, Decision]:
    now = context.now
    return {b.id: Decision(b, KEEP, (FUTURE,)) for b in backtests if b.created > now}


def _delete(spec: ProjectSpec, declared: dict[str, DeclaredBacktest], backtests: Sequence[Backtest], context: Context) -> dict[str, Decision]:
    return {b.id: Decision(b, DELETE, (Reason("delete", index, spec.delete[index].text),))
            for b, index in first_matches(spec.delete, backtests, context.now)}


RULES: tuple[Rule, ...] = (_in_progress, _declared, _protect_tags, _protect, _future, _delete)
#: The rules that keep a backtest whatever else the manifest says; apply re-checks them before every delete.
PROTECTING_RULES: tuple[Rule, ...] = (_in_progress, _declared, _protect_tags, _protect)


def active_rules(spec: ProjectSpec, context: Context) -> tuple[Rule, ...]:
    """The rules that can apply to this project (an empty selector list never matches)."""
    idle = {_declared: not spec.backtests and not context.declared_anywhere, _protect_tags: not spec.protecting_tags, _protect: not spec.protect,
            _delete: not spec.delete}
    return tuple(rule for rule in RULES if not idle.get(rule, False))


def declared_changes(target: DeclaredBacktest, live: Backtest) -> tuple[Change, ...]:
    changes = []
    if target.name is not None and target.name != live.name:
        changes.append(Change("name", live.name, target.name))
    if target.note is not None and target.note != (live.note or ""):
        changes.append(Change("note", live.note or "", target.note))
    if target.tags is not None and tag_keys(target.tags) != live.tag_set:
        changes.append(Change("tags", list(live.tags), list(target.tags)))
    return tuple(changes)


def kept_now(spec: ProjectSpec, backtest: Backtest, now: datetime, declared_anywhere: Mapping[str, str]) -> Reason | None:
    """Why this backtest must not be deleted now, or None: the rule half of the last check before a delete.

    The decision order replayed on one backtest as it is just before the call, as far
    as it does not depend on the other backtests: in progress, declared anywhere,
    protect tags and `protect` keep it; a `delete` rule that still matches lets it go;
    otherwise a keep `match` keeps it. (Counting policies rank the whole project and
    were settled by the reviewed plan.)
    """
    context = Context(now, declared_anywhere)
    declared = {d.id: d for d in spec.backtests}
    backtest, _ = without_marks(backtest)  # the mark decides nothing (docs/design.md, "Grace")
    for rule in PROTECTING_RULES:
        found = rule(spec, declared, [backtest], context)
        if found:
            return found[backtest.id].reasons[0]
    if first_matches(spec.delete, [backtest], now):
        return None
    for index, policy in enumerate(spec.keep):
        if policy.kind == "match" and any(matches(selector, backtest, now) for selector in policy.match):
            return Reason("keep", index, policy.text)
    return None


_IDLE_EFFECT = {"protect": "protects", "delete": "deletes", "keep": "keeps"}


def idle_selectors(spec: ProjectSpec, decisions: Sequence[Decision], backtests: Sequence[Backtest], now: datetime) -> list[str]:
    """Warnings for the `protect` and `delete` selectors and keep `match` policies that match no backtest of the project:
    rules that do nothing (docs/design.md, "Reviewing a plan"). A rule some decision names matches something; only the
    others are looked for among all the backtests."""
    rules = [("protect", i, (s,), s.text) for i, s in enumerate(spec.protect)] + [("delete", i, (s,), s.text) for i, s in enumerate(spec.delete)]
    rules += [("keep", i, p.match, p.text) for i, p in enumerate(spec.keep) if p.kind == "match"]
    warnings = []
    for rule, index, selectors, text in rules:
        if any(r.index == index and r.rule == rule for d in decisions for r in d.reasons):
            continue  # usually found among the first decisions
        if any(matches(selector, b, now) for b in backtests for selector in selectors):
            continue
        warnings.append(f"{rule}[{index}] ({text}) matches no backtest of this project: it {_IDLE_EFFECT[rule]} nothing "
                        "(check its names, tags and patterns against the live backtests)")
    return warnings


# --- keep policies (a table of small functions, one per kind) ----------------------

Reasons = dict[str, list[Reason]]
Bucket = Callable[[Backtest, int], Hashable]

BUCKETS: dict[str, Bucket] = {
    "last": lambda b, position: position,
    "hourly": lambda b, position: (b.created.year, b.created.month, b.created.day, b.created.hour),
    "daily": lambda b, position: b.created.date(),
    "weekly": lambda b, position: b.created.isocalendar()[:2],
    "monthly": lambda b, position: (b.created.year, b.created.month),
    "yearly": lambda b, position: b.created.year,
}


def _keep_counting(index: int, policy: KeepPolicy, candidates: Sequence[Backtest], now: datetime, reasons: Reasons, suffix: str = "") -> None:
    bucket_of = BUCKETS[policy.kind]
    filled, last = 0, object()
    for position, backtest in enumerate(candidates):
        if filled == policy.count:
            return
        bucket = bucket_of(backtest, position)
        if bucket != last:
            filled += 1
            last = bucket
            reasons[backtest.id].append(Reason("keep", index, policy.text, f"{filled}/{policy.count}{suffix}"))
        elif position == len(candidates) - 1:  # restic >= 0.17: slots left at the oldest keep it too
            filled += 1
            reasons[backtest.id].append(Reason("keep", index, policy.text, f"{filled}/{policy.count}, the oldest{suffix}"))


def _keep_within(index: int, policy: KeepPolicy, candidates: Sequence[Backtest], now: datetime, reasons: Reasons, suffix: str = "") -> None:
    assert policy.within is not None
    horizon = now - policy.within.delta
    for backtest in candidates:
        if backtest.created >= horizon:
            reasons[backtest.id].append(Reason("keep", index, policy.text, suffix.strip()))


def _keep_best(index: int, policy: KeepPolicy, candidates: Sequence[Backtest], now: datetime, reasons: Reasons, suffix: str = "") -> None:
    by = policy.by
    # candidates come newest first and ties go to the newest: plain (value, position) tuples compare in C, the position
    # negated for nlargest so that the earlier of two equal values ranks first (what a stable sort would give)
    if policy.order == "desc":
        scored = heapq.nlargest(policy.count, [(b.statistics[by], -i) for i, b in enumerate(candidates) if by in b.statistics])
        ranked = [candidates[-i] for _, i in scored]
    else:
        scored = heapq.nsmallest(policy.count, [(b.statistics[by], i) for i, b in enumerate(candidates) if by in b.statistics])
        ranked = [candidates[i] for _, i in scored]
    for rank, backtest in enumerate(ranked, start=1):
        reasons[backtest.id].append(Reason("keep", index, policy.text, f"{rank}/{policy.count}{suffix}"))


def _keep_match(index: int, policy: KeepPolicy, candidates: Sequence[Backtest], now: datetime, reasons: Reasons, suffix: str = "") -> None:
    for backtest in candidates:
        if any(matches(selector, backtest, now) for selector in policy.match):
            reasons[backtest.id].append(Reason("keep", index, policy.text, suffix.strip()))


KEEPERS: dict[str, Callable[[int, KeepPolicy, Sequence[Backtest], datetime, Reasons, str], None]] = {
    **{kind: _keep_counting for kind in BUCKETS},
    "within": _keep_within,
    "best": _keep_best,
    "match": _keep_match,
}


#: `per:` groups (restic's --group-by): the key of a backtest's group, and how a reason names the group.
_NO_PARAMETERS: frozenset = frozenset()


def _parameter_set(b: Backtest) -> Hashable:
    parameters = b.parameters
    return frozenset(parameters.items()) if parameters else _NO_PARAMETERS


def _parameter_label(key: Hashable) -> str:
    return " ".join(f"{k}={v}" for k, v in sorted(key, key=lambda item: str(item[0]))) if key else "(none)"  # type: ignore[arg-type]


GROUPS: dict[str, tuple[Callable[[Backtest], Hashable], Callable[[Hashable], str]]] = {
    "optimization": (lambda b: b.optimization_id or "", lambda key: f"{key[:8]}…" if key else "(none)"),  # type: ignore[index]
    "parameters": (_parameter_set, _parameter_label),
}


def keep_reasons(policies: Sequence[KeepPolicy], candidates: Sequence[Backtest], now: datetime) -> Reasons:
    """Every policy sees every candidate (newest first); a backtest is kept if any policy keeps it.
    A policy with `per` runs in each group on its own, with its own slots, and its reasons name the group."""
    reasons: Reasons = defaultdict(list)
    for index, policy in enumerate(policies):
        keeper = KEEPERS[policy.kind]
        if policy.per is None:
            keeper(index, policy, candidates, now, reasons, "")
            continue
        key_of, label_of = GROUPS[policy.per]
        groups: dict[Hashable, list[Backtest]] = defaultdict(list)
        for backtest in candidates:  # newest first within each group, as in the whole list
            groups[key_of(backtest)].append(backtest)
        for key, members in groups.items():
            keeper(index, policy, members, now, reasons, f" per {policy.per} {label_of(key)}")
    return reasons
