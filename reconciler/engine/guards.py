"""Every guard, in one place (docs/design.md, "Guards"): shapes of a plan that can only be a mistake, checked by the planner,
and what apply refuses before its first call. Pure: the callers gather the facts, these functions say what is refused and why."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Protocol, Sequence

from reconciler.defaults import DEFAULT_MAX_DELETES, DEFAULT_MAX_UPDATES
from reconciler.manifest.model import ProjectSpec
from reconciler.models import COMPLETED


class _Record(Protocol):
    id: str
    status: str


def leaves_nothing_completed(records: Iterable[_Record], deleting: set[str]) -> bool:
    """True when deleting these ids leaves the project without one completed backtest.

    In-progress and failed backtests do not count as something kept: a project whose
    every completed run is deleted has been emptied, whatever is still running.
    """
    if not deleting:
        return False
    return not any(r.status == COMPLETED and r.id not in deleting for r in records)


EMPTY_MESSAGE = (
    "this plan would leave the project without a single completed backtest ({deletes:,} to delete); set allow_empty: true on the project if that is intended"
)
DELETE_ALL_MESSAGE = (
    'prune: true with no keep, protect or declared backtests can only mean "delete everything"; '
    "add rules, or set allow_empty: true on the project if that is intended"
)


def can_only_delete_all(spec: ProjectSpec) -> bool:
    return spec.prune and not spec.keep and not spec.protect and not spec.backtests


def apply_refusal(*, stale: Sequence[str], unsafe: Sequence[str], deletes: int, updates: int, max_deletes: int, max_updates: int,
                  emptied: Sequence[str], caps_file: str | None = None) -> str | None:
    """Why apply must not start, or None: a stale saved plan, a delete of what must never be deleted, more deletes or updates
    than the caps (marks and unmarks are updates), a project left without a completed backtest. `caps_file` is the caps file's
    name when a file gave the caps (None: options or defaults): the refusal says where to raise them."""
    if stale:
        lines = "\n".join(f"  {line}" for line in stale)
        return (f"the saved plan is stale: the live state changed since it was made; nothing was applied:\n{lines}\n"
                "Run plan again, review it, and apply the new plan.")
    if unsafe:
        lines = "\n".join(f"  {line}" for line in unsafe)
        return f"the plan deletes backtests that must never be deleted; nothing was applied:\n{lines}"
    for word, count, cap, default, what in (("deletes", deletes, max_deletes, DEFAULT_MAX_DELETES, "the plan"),
                                            ("updates", updates, max_updates, DEFAULT_MAX_UPDATES, "the renames")):
        if count <= cap:
            continue
        if caps_file is None:
            return (f"this plan {word} {count:,} backtests, more than --max-{word} {cap:,} (default {default}); nothing was applied. "
                    f"Review {what}, then re-run with --max-{word} {count}")
        return (f"this plan {word} {count:,} backtests, more than max_{word} {cap:,} in {caps_file}; nothing was applied. "
                f"Review {what}, then raise max_{word} to {count} in {caps_file} (a reviewed change, like the manifest)")
    if emptied:
        return (f"the plan would leave project {emptied[0]} without a single completed backtest; nothing was applied "
                "(set allow_empty: true on the project if that is intended)")
    return None


@dataclass(frozen=True)
class Verdict:
    """What the merge job will do with a reviewed plan: the pull-request comment's first line (docs/design.md, "The GitOps workflow")."""

    applies: bool
    why: str
    blocking: bool = True  # a refusal that a guarded plan fails on; an offline plan within the caps is refused only for being offline

    @property
    def head(self) -> str:
        return "Merge will apply this plan" if self.applies else "Merge will refuse this plan"

    @property
    def line(self) -> str:
        return f"{self.head}: {self.why}"


def merge_verdict(*, errors: int, offline: str | None, deletes: int, updates: int, max_deletes: int, max_updates: int,
                  caps_file: str | None) -> Verdict:
    """The plan-time half of apply's refusal (apply_refusal): errors, the caps, and a plan made offline. Stale and unsafe
    deletes can only be known when apply reads the backtests again, so an applying verdict says so."""
    if errors:
        return Verdict(False, f"the plan has {errors:,} error(s), listed below; fix the manifest and push again")
    if offline is not None:
        live = merge_verdict(errors=errors, offline=None, deletes=deletes, updates=updates, max_deletes=max_deletes, max_updates=max_updates,
                             caps_file=caps_file)
        return Verdict(False, f"it was planned offline against a recorded state ({offline}), as a fork's pull request is; "
                              "a maintainer plans it against the live API (push the branch to this repository) before merging. "
                              f"Against that state, {'it is within the caps' if live.applies else 'it would be refused too'}: {live.why}",
                       blocking=not live.applies)
    for word, count, cap in (("deletes", deletes, max_deletes), ("updates", updates, max_updates)):
        if count <= cap:
            continue
        if caps_file is not None:
            return Verdict(False, f"it {word} {count:,} backtests, more than max_{word} {cap:,} in {caps_file}. "
                                  f"If they are intended, raise max_{word} to {count} in {caps_file} in this pull request")
        return Verdict(False, f"it {word} {count:,} backtests, more than --max-{word} {cap:,}. If they are intended, apply with --max-{word} {count}")
    where = f" in {caps_file}" if caps_file is not None else ""
    return Verdict(True, f"{deletes:,} deletes (max_deletes {max_deletes:,}) and {updates:,} updates (max_updates {max_updates:,}){where}; "
                         "a backtest that changes before the merge is refused as stale, and one created after it is not touched")
