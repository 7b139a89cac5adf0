"""`reconciler plan PATHS`: what would change, and why."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Sequence

from reconciler import exit_codes
from reconciler.commands.runtime import Runtime
from reconciler.defaults import DEFAULT_MAX_DELETES, DEFAULT_MAX_UPDATES, PARALLELISM
from reconciler.errors import ConfigError
from reconciler.fsutil import write_atomic
from reconciler.manifest.caps import FROM_OPTIONS, Caps, load_caps
from reconciler.manifest.load import load_manifest
from reconciler.plan.model import Plan
from reconciler.plan.planner import build_plan
from reconciler.plan.views import RENDERERS, SHOWS_PROBLEMS
from reconciler.projects import ProjectState
from reconciler.recorded import states_from_file
from reconciler.timeutil import parse_datetime, utcnow


@dataclass
class PlanOptions:
    """The planning options `plan` and `apply` share."""

    paths: Sequence[Path] = ()
    now: str | None = None
    projects: Sequence[str] = ()
    strict: bool = False
    no_grace: bool = False  # delete at once, whatever the projects' `grace` says
    parallelism: int = PARALLELISM
    state: Path | None = None
    caps_file: Path | None = None  # the reviewed caps file (docs/design.md, "The GitOps workflow"); or the two options below
    max_deletes: int | None = None
    max_updates: int | None = None

    @property
    def guarded(self) -> bool:
        """Caps were asked for (a file or an option): plan then fails when the merge would refuse, as apply will."""
        return self.caps_file is not None or self.max_deletes is not None or self.max_updates is not None


def caps_of(options: PlanOptions) -> Caps:
    """The caps plan judges and apply enforces: from the caps file, or from the options, or the defaults; never a mix."""
    if options.caps_file is not None:
        if options.max_deletes is not None or options.max_updates is not None:
            raise ConfigError(f"--caps {options.caps_file} holds the caps; leave out --max-deletes and --max-updates "
                              "(or leave out --caps): the caps come from one place")
        return load_caps(options.caps_file)
    if options.max_deletes is None and options.max_updates is None:
        return Caps()
    return Caps(DEFAULT_MAX_DELETES if options.max_deletes is None else options.max_deletes,
                DEFAULT_MAX_UPDATES if options.max_updates is None else options.max_updates, FROM_OPTIONS)


def reference_time(text: str | None) -> datetime:
    if text is None:
        return utcnow()
    try:
        return parse_datetime(text)
    except ValueError:
        raise ConfigError(f"--now {text!r} is not a timestamp; use ISO 8601 such as 2026-11-28T00:00:00Z") from None


DISTANT_NOW = timedelta(days=1)


def distant_now(options: PlanOptions) -> str | None:
    """apply with a --now more than a day from the clock judges every age from that time: say so (docs/design.md, "Reviewing a plan")."""
    if options.now is None:
        return None
    now, clock = reference_time(options.now), utcnow()
    if abs(now - clock) <= DISTANT_NOW:
        return None
    days = abs(now - clock).total_seconds() / 86400
    return (f"--now {options.now} is {days:,.1f} days {'ahead of' if now > clock else 'behind'} this machine's clock: every age "
            "(older_than, within, newer_than) is counted from it, not from today. Leave out --now to apply as of now")


def make_plan(rt: Runtime, options: PlanOptions) -> tuple[Plan, list[ProjectState]]:
    """Load the manifest (all checks before any network call), fetch what it needs, plan."""
    manifest = load_manifest(options.paths)
    caps = caps_of(options)
    now = reference_time(options.now)
    if options.state is not None:
        states, source = states_from_file(options.state, manifest.projects, options.projects)
        plan = build_plan(states, now, manifest_digest=manifest.digest, api_url=source.get("api_url", ""), declared_anywhere=manifest.declared_anywhere,
                          strict=options.strict, state_source=source, warnings=manifest.warnings,
                          grace=not options.no_grace)
        plan.caps = caps
        return plan, states
    from reconciler.live import (  # here: an offline plan never loads the HTTP stack
        FetchStats,
        fetch_states,
    )

    client = rt.client(options.parallelism)
    stats = FetchStats()
    states = fetch_states(client, manifest.projects, wanted=options.projects, parallelism=options.parallelism, stats=stats, now=now,
                          declared_anywhere=manifest.declared_anywhere,
                          progress=rt.progress("reading backtests"))
    rt.err(
        f"Read {len(states)} project{'s' if len(states) != 1 else ''} ({stats.backtests:,} backtests) "
        f"with {stats.calls} API call{'s' if stats.calls != 1 else ''} in {stats.seconds:.1f} s."
    )
    plan = build_plan(
        states,
        now,
        manifest_digest=manifest.digest,
        api_url=rt.api_identity,
        declared_anywhere=manifest.declared_anywhere,
        strict=options.strict,
        warnings=manifest.warnings,
        grace=not options.no_grace,
    )
    plan.caps = caps
    return plan, states


def emit(rt: Runtime, plan: Plan, fmt: str, show_kept: bool = False) -> None:
    """The document on stdout; for machine formats, warnings and errors also on stderr (the document stays clean)."""
    rt.stdout.write(RENDERERS[fmt](plan, color=rt.color(rt.stdout), show_kept=show_kept))
    if fmt not in SHOWS_PROBLEMS:
        for warning in plan.warnings:
            rt.err(f"warning: {warning}")
        for error in plan.errors:
            rt.err(f"error: {error}")


def apply_hint(rt: Runtime, plan: Plan, out: Path, paths: Sequence[Path], options: PlanOptions | None = None) -> str:
    """The apply command that, pasted, applies this saved plan: with the caps this plan was checked against (the caps
    file, when there is one), or the caps it needs raised, never more."""
    flags = "--sandbox " if rt.options.sandbox else ""
    manifest = " ".join(shlex.quote(str(p)) for p in paths)
    if options is not None and options.caps_file is not None:
        return f"reconciler {flags}apply --plan {shlex.quote(str(out))} {manifest} --caps {shlex.quote(str(options.caps_file))}"
    totals = plan.totals()
    caps = "".join(
        f" --max-{word} {count}"
        for word, count, default in (
            ("deletes", totals["delete"], DEFAULT_MAX_DELETES),
            ("updates", totals["update"] + totals["mark"] + totals["unmark"], DEFAULT_MAX_UPDATES),
        )
        if count > default
    )  # marks and unmarks are tag updates: they count against --max-updates
    return f"reconciler {flags}apply --plan {shlex.quote(str(out))} {manifest}{caps}"


def run(rt: Runtime, options: PlanOptions, *, fmt: str = "text", out: Path | None = None, detailed_exitcode: bool = False, show_kept: bool = False) -> int:
    plan, states = make_plan(rt, options)
    rt.outlive(plan, states)
    emit(rt, plan, fmt, show_kept)
    if out is not None:
        write_atomic(out, plan.to_json() + "\n")
        if plan.state:
            rt.err(f"Saved the plan to {out} (planned offline: review it with `reconciler show {out}`; apply needs a plan of the live API).")
        else:
            rt.err(f"Saved the plan to {out}; apply exactly this plan with: {apply_hint(rt, plan, out, options.paths, options)}")
    if plan.errors:
        return exit_codes.ERROR
    verdict = plan.verdict
    if options.guarded and verdict is not None and not verdict.applies and verdict.blocking:
        rt.err(f"error: {verdict.line}")
        return exit_codes.ERROR
    if detailed_exitcode and plan.has_changes:
        return exit_codes.CHANGES
    return exit_codes.OK
