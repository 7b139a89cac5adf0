"""Command-line wiring: the only module that knows about click.

Each command parses its options here and calls one function in
``reconciler.commands``, which returns the exit code. Every expected error
becomes one line on stderr and exit 1 (a traceback only with --verbose).
"""

from __future__ import annotations

import gc
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import click

from reconciler import __version__, defaults, exit_codes
from reconciler.errors import ReconcilerError, Terminated

if TYPE_CHECKING:
    from reconciler.commands.runtime import GlobalOptions



def internal_error_message(exc: BaseException) -> str:
    """Like pre-commit's handler: what broke, which version, and what to do about it."""
    return (f"internal error ({type(exc).__name__}: {str(exc)[:300]}) in reconciler {__version__}. This is a bug, not your input: "
            "please report it with the command, the output of the same command with --verbose, and `reconciler --version`")

# Command modules are imported inside each command, when it runs: `validate` in a
# pre-commit hook then starts without loading requests, the sandbox or apply.


def _run(ctx: click.Context, command: Callable[..., int], *args: Any, **kwargs: Any) -> None:
    from reconciler.commands.runtime import Runtime

    gc.freeze()  # everything imported so far lives as long as the process: out of the collector's sight
    gc.enable()
    options: GlobalOptions = ctx.obj
    runtime = Runtime(options)
    try:
        with runtime:
            code = command(runtime, *args, **kwargs)
    except ReconcilerError as exc:
        _fail(ctx, options, str(exc), exc.exit_code)
    except BrokenPipeError:  # `reconciler ... | head`: the reader has what it wanted
        os._exit(141)
    except OSError as exc:  # a file we were asked to read or write
        where = f" {exc.filename}" if exc.filename else ""
        _fail(ctx, options, f"cannot access{where}: {exc.strerror or exc}", 1)
    except KeyboardInterrupt as exc:
        _interrupted(exc)
    except Exception as exc:  # a bug: still one line (the traceback with --verbose), and its own exit code
        _fail(ctx, options, internal_error_message(exc), exit_codes.INTERNAL)
    if options.exit_at_once:  # the runtime is closed, every file written; what is left is only memory
        _exit_now(code)
    ctx.exit(code)


def _exit_now(code: int) -> None:
    """End the process with `code` without freeing what the command built (GlobalOptions.exit_at_once)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BrokenPipeError:  # `reconciler plan | head`: the reader has what it wanted
            os._exit(141)
        except (OSError, ValueError):
            os._exit(exit_codes.ERROR)
    os._exit(code)


def _interrupted(exc: KeyboardInterrupt) -> None:
    """Ctrl-C or SIGTERM that reached the top: say so and leave at once (no traceback, no second interrupt).

    Apply handles its own stop (calls in flight finish and are journaled) and never lets an interrupt through while
    a mutating call is in flight; what is left here are read-only calls, which are abandoned rather than waited for.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    terminated = isinstance(exc, Terminated)
    sys.stderr.write("terminated\n" if terminated else "interrupted\n")
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(exit_codes.TERMINATED if terminated else exit_codes.INTERRUPTED)


def _fail(ctx: click.Context, options: GlobalOptions, message: str, code: int) -> None:
    if options.verbose:
        import traceback

        traceback.print_exc()
    from reconciler.plan.untrusted import lines_safe

    click.echo(f"error: {lines_safe(message)}", err=True)  # server errors and names reach this line: neutralised here, once
    ctx.exit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="reconciler")
@click.option("--api-url", envvar="QC_API_URL", metavar="URL", help="QuantConnect API base URL (env QC_API_URL).")
@click.option("--user-id", metavar="ID", help="QuantConnect user id, used when neither QC_USER_ID/QC_API_TOKEN nor ~/.lean/credentials is set.")
@click.option("--api-token", metavar="TOKEN", help="QuantConnect API token (prefer QC_API_TOKEN: options show up in process lists).")
@click.option("--sandbox", is_flag=True, help="Run against the embedded local sandbox (no account needed).")
@click.option("--sandbox-db", type=click.Path(path_type=Path), default=defaults.DEFAULT_DB, show_default=True, help="Database of the embedded sandbox.")
@click.option(
    "--retries", default=defaults.RETRIES, show_default=True, type=click.IntRange(0, 30), help="Retries per API call on connection errors, 429 and 5xx."
)
@click.option(
    "--request-timeout",
    default=defaults.REQUEST_DEADLINE,
    show_default=True,
    type=click.FloatRange(1, 3600),
    metavar="SECONDS",
    help="Total time one API request may take, answer included (a body that trickles in still times out).",
)
@click.option("-v", "--verbose", is_flag=True, help="Debug logs of API calls (never the token) and tracebacks on errors.")
@click.option("--no-color", is_flag=True, help="No colour (also NO_COLOR=1; colour is off when output is not a terminal).")
@click.pass_context
def cli(
    ctx: click.Context,
    api_url: str | None,
    user_id: str | None,
    api_token: str | None,
    sandbox: bool,
    sandbox_db: Path,
    retries: int,
    request_timeout: float,
    verbose: bool,
    no_color: bool,
) -> None:
    """Keep QuantConnect cloud backtests in order from a YAML manifest: plan, then apply."""
    from reconciler.commands.runtime import GlobalOptions

    launch = ctx.obj if isinstance(ctx.obj, Launch) else Launch()
    ctx.obj = GlobalOptions(
        exit_at_once=launch.exit_at_once,
        api_url=api_url,
        user_id=user_id,
        api_token=api_token,
        sandbox=sandbox,
        sandbox_db=sandbox_db,
        retries=retries,
        request_timeout=request_timeout,
        verbose=verbose,
        no_color=no_color,
    )
    if verbose:
        import logging

        logging.basicConfig(level=logging.DEBUG, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
        logging.getLogger("urllib3").setLevel(logging.INFO)


_PATHS = click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
_PARALLELISM = click.option("--parallelism", default=defaults.PARALLELISM, show_default=True, type=click.IntRange(1, 64), help="Concurrent API calls.")


def _format(*choices: str, help: str | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The one --format option: its choices per command, the first the default."""
    return click.option("--format", "fmt", type=click.Choice(list(choices)), default=choices[0], show_default=True, help=help)


_FORMAT = _format("text", "json", "markdown", "html",
                  help="text for people, json for machines, markdown for a pull-request comment, html for a picture (one self-contained file).")


def _planning_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options plan and apply share."""
    for option in reversed(
        [
            click.option("--now", metavar="TIMESTAMP", help="Reference time (ISO 8601) for a reproducible plan; default: now."),
            click.option("--project", "projects", multiple=True, metavar="ID_OR_NAME", help="Only this project (repeatable)."),
            click.option("--strict", is_flag=True, help="Warnings (a declared backtest missing live) become errors."),
            click.option("--no-grace", is_flag=True, help="Delete at once what the plan deletes, whatever the manifest's `grace` says (no trash: mark first)."),
            _PARALLELISM,
            click.option("--caps", "caps_file", type=click.Path(path_type=Path, dir_okay=False), metavar="FILE",
                         help="A reviewed YAML file with max_deletes and max_updates (the CI recipes' reconciler-caps.yaml); "
                              "plan fails when apply would refuse under them."),
            click.option("--max-deletes", type=click.IntRange(0), metavar="N",
                         help=f"Refuse a plan that deletes more backtests (default {defaults.DEFAULT_MAX_DELETES}); plan fails when it does."),
            click.option("--max-updates", type=click.IntRange(0), metavar="N",
                         help=f"Refuse a plan that updates (renames, re-notes, re-tags) more backtests (default {defaults.DEFAULT_MAX_UPDATES})."),
        ]
    ):
        command = option(command)
    return command


@cli.command()
@_PATHS
@click.pass_context
def validate(ctx: click.Context, paths: tuple[Path, ...]) -> None:
    """Check manifests (schema and semantics), offline."""
    from reconciler.commands import validate as validate_cmd

    _run(ctx, validate_cmd.run, paths)


@cli.command()
@_PATHS
@_planning_options
@_FORMAT
@click.option("--out", type=click.Path(path_type=Path), help="Save the plan (JSON) for `apply --plan`.")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 0: no changes, 2: changes, 1: error.")
@click.option("--show-kept", is_flag=True, help="Also list kept backtests with their reasons.")
@click.option("--state", type=click.Path(path_type=Path, dir_okay=False), help="Plan against a recorded state file (from `snapshot`), offline.")
@click.pass_context
def plan(
    ctx: click.Context,
    paths: tuple[Path, ...],
    now: str | None,
    projects: tuple[str, ...],
    strict: bool,
    no_grace: bool,
    parallelism: int,
    caps_file: Path | None,
    max_deletes: int | None,
    max_updates: int | None,
    fmt: str,
    out: Path | None,
    detailed_exitcode: bool,
    show_kept: bool,
    state: Path | None,
) -> None:
    """Show what apply would change, and why."""
    from reconciler.commands import plan as plan_cmd

    options = plan_cmd.PlanOptions(paths=paths, now=now, projects=projects, strict=strict, no_grace=no_grace, parallelism=parallelism, state=state,
                                   caps_file=caps_file, max_deletes=max_deletes, max_updates=max_updates)
    _run(ctx, plan_cmd.run, options, fmt=fmt, out=out, detailed_exitcode=detailed_exitcode, show_kept=show_kept)


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--plan",
    "plan_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Apply a saved plan (from `plan --out`) without asking; with PATHS, refuse it unless it was made from that manifest.",
)
@_planning_options
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option(
    "--archive-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=defaults.DEFAULT_ARCHIVE_DIR,
    show_default=True,
    help="Where each backtest is archived before its delete (read with `reconciler archive`).",
)
@click.option(
    "--archive",
    "archive_mode",
    type=click.Choice(["full", "summary"]),
    default="full",
    show_default=True,
    help="full: the read, every chart with all its points, every order and insight; summary: the read alone.",
)
@click.option("--no-archive", is_flag=True, help="Delete without archiving first (the deleted backtest is then gone for good).")
@click.option(
    "--archive-max-bytes",
    default=defaults.ARCHIVE_MAX_BYTES,
    show_default=True,
    type=click.IntRange(1),
    help="Archive budget: bytes one backtest's archive may take on disk; past it the backtest is not deleted.",
)
@click.option(
    "--archive-max-calls",
    default=defaults.ARCHIVE_MAX_CALLS,
    show_default=True,
    type=click.IntRange(1),
    help="Archive budget: calls fetching one backtest's archive may make.",
)
@click.option(
    "--archive-max-seconds",
    default=defaults.ARCHIVE_MAX_SECONDS,
    show_default=True,
    type=click.FloatRange(0, min_open=True),
    help="Archive budget: seconds fetching one backtest's archive may take.",
)
@click.option(
    "--journal",
    type=click.Path(path_type=Path, dir_okay=False),
    default=defaults.DEFAULT_JOURNAL,
    show_default=True,
    help="JSON-lines journal of every mutating call.",
)
@click.option("--fail-fast", is_flag=True, help="Stop starting new calls at the first failure.")
@click.option("--max-rps", type=click.FloatRange(0, min_open=True), help="At most this many calls per second, across all workers.")
@_format("text", "json", help="json: a machine-readable result on stdout.")
@click.option("--show-plan", is_flag=True, help="Show every row of the plan before acting (default: the summary per project and reason).")
@click.pass_context
def apply(
    ctx: click.Context,
    paths: tuple[Path, ...],
    plan_file: Path | None,
    now: str | None,
    projects: tuple[str, ...],
    strict: bool,
    no_grace: bool,
    parallelism: int,
    caps_file: Path | None,
    max_deletes: int | None,
    max_updates: int | None,
    yes: bool,
    archive_dir: Path,
    archive_mode: str,
    no_archive: bool,
    archive_max_bytes: int,
    archive_max_calls: int,
    archive_max_seconds: float,
    journal: Path,
    fail_fast: bool,
    max_rps: float | None,
    fmt: str,
    show_plan: bool,
) -> None:
    """Make the changes of the plan (PATHS), or of a saved, reviewed plan (--plan)."""
    from reconciler.commands import apply as apply_cmd
    from reconciler.commands import plan as plan_cmd

    if not paths and not plan_file:
        raise click.UsageError("give manifest PATHS, or --plan plan.json (with the manifest PATHS it was made from, to check they match)")
    if plan_file and (now or projects or strict or no_grace):
        raise click.UsageError(
            "--now, --project, --strict and --no-grace shape a new plan; a saved plan (--plan) is applied as it was reviewed "
            "(make it with `plan --no-grace --out` to delete at once)"
        )
    planning = plan_cmd.PlanOptions(paths=paths, now=now, projects=projects, strict=strict, no_grace=no_grace, parallelism=parallelism,
                                    caps_file=caps_file, max_deletes=max_deletes, max_updates=max_updates)
    options = apply_cmd.ApplyOptions(
        plan_file=plan_file,
        yes=yes,
        archive_dir=None if no_archive else archive_dir,
        archive_full=archive_mode == "full",
        archive_budget=(archive_max_bytes, archive_max_calls, archive_max_seconds),
        journal=journal,
        fail_fast=fail_fast,
        max_rps=max_rps,
        fmt=fmt,
        show_plan=show_plan,
    )
    _run(ctx, apply_cmd.run, planning, options)


@cli.command()
@click.argument("plan_file", type=click.Path(path_type=Path))
@_FORMAT
@click.option("--show-kept", is_flag=True, help="Also list kept backtests with their reasons.")
@click.pass_context
def show(ctx: click.Context, plan_file: Path, fmt: str, show_kept: bool) -> None:
    """Render a saved plan (no network)."""
    from reconciler.commands import show as show_cmd

    _run(ctx, show_cmd.run, plan_file, fmt, show_kept)


@cli.command("import")
@click.option("--project", "projects", multiple=True, required=True, metavar="ID_OR_NAME", help="Project to import (repeatable).")
@click.option("--with-notes", is_flag=True, help="Also declare notes (one /backtests/read per backtest).")
@click.option("--since", metavar="DATE", help="Only backtests created at or after this date or time (ISO 8601).")
@click.option("--status", "statuses", multiple=True, metavar="STATUS", help="Only backtests with this status: completed, failed, running, queued (repeatable).")
@click.option("--tag", "tags", multiple=True, metavar="TAG", help="Only backtests carrying this tag (repeatable: any of them).")
@click.option("--optimization", metavar="ID", help="Only the backtests of this optimization.")
@_PARALLELISM
@click.pass_context
def import_(ctx: click.Context, projects: tuple[str, ...], with_notes: bool, since: str | None, statuses: tuple[str, ...], tags: tuple[str, ...],
            optimization: str | None, parallelism: int) -> None:
    """Print a manifest that declares today's backtests, or those the filters pick (plan on it shows no changes)."""
    from reconciler.commands import import_ as import_cmd

    filters = import_cmd.ImportFilters(since=since, statuses=statuses, tags=tags, optimization=optimization)
    _run(ctx, import_cmd.run, projects, with_notes, parallelism, filters)


_JOURNAL_TO_READ = click.option(
    "--journal",
    type=click.Path(path_type=Path, dir_okay=False),
    default=defaults.DEFAULT_JOURNAL,
    show_default=True,
    help="The journal apply wrote (its --journal).",
)
_SINCE = click.option("--since", metavar="TIMESTAMP", help="Only what apply did at or after this time (ISO 8601: 2026-11-28 or 2026-11-28T09:00:00Z).")


@cli.command()
@_JOURNAL_TO_READ
@click.option("--project", type=int, metavar="ID", help="Only this project's backtests.")
@_SINCE
@_format("text", "json", help="json: every run and step, for scripts.")
@click.pass_context
def history(ctx: click.Context, journal: Path, project: int | None, since: str | None, fmt: str) -> None:
    """What apply did: each run (start, end, plan and manifest digests, counts) and each backtest's outcome, offline."""
    from reconciler.commands import history as history_cmd

    _run(ctx, history_cmd.run, journal, project, since, fmt)


@cli.command()
@_JOURNAL_TO_READ
@_SINCE
@click.option("--out", type=click.Path(path_type=Path), help="Save the revert plan (JSON) for `apply --plan`.")
@_FORMAT
@_PARALLELISM
@click.pass_context
def revert(ctx: click.Context, journal: Path, since: str | None, out: Path | None, fmt: str, parallelism: int) -> None:
    """A plan that puts back the names, notes and tags apply changed (deletes are listed with their archives)."""
    from reconciler.commands import revert as revert_cmd

    _run(ctx, revert_cmd.run, journal, since, out, fmt, parallelism)


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--project", "projects", multiple=True, metavar="ID_OR_NAME", help="Project to record (repeatable); PATHS add the manifest's projects.")
@click.option("-o", "--output", required=True, metavar="FILE", help="Where to write the state (JSON); - for stdout.")
@click.option("--with-notes", is_flag=True, help="Record every note (one /backtests/read each); by default only notes the manifest manages.")
@_PARALLELISM
@click.pass_context
def snapshot(ctx: click.Context, paths: tuple[Path, ...], projects: tuple[str, ...], output: str, with_notes: bool, parallelism: int) -> None:
    """Record the live state (what plan reads) for offline plans and bug reports."""
    from reconciler.commands import snapshot as snapshot_cmd

    _run(ctx, snapshot_cmd.run, paths, projects, output, with_notes, parallelism)


@cli.command()
@_format("text", "json", help="json: for scripts.")
@_PARALLELISM
@click.pass_context
def projects(ctx: click.Context, fmt: str, parallelism: int) -> None:
    """List the account's projects: id, name, number of backtests (to write the first manifest)."""
    from reconciler.commands import projects as projects_cmd

    _run(ctx, projects_cmd.run, fmt, parallelism)


@cli.command()
def schema() -> None:
    """Print the manifest JSON Schema (for editors and the YAML language server)."""
    from reconciler.manifest.schema import schema_text

    click.echo(schema_text(), nl=False)


@cli.command()
@click.pass_context
def auth(ctx: click.Context) -> None:
    """Check the credentials: prints the user id, the API URL and the clock offset."""
    from reconciler.commands import auth as auth_cmd

    _run(ctx, auth_cmd.run)


# --- archive ---------------------------------------------------------------------

_ARCHIVE_DIR = click.option(
    "--archive-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=defaults.DEFAULT_ARCHIVE_DIR,
    show_default=True,
    help="Where apply archived (its --archive-dir).",
)


@cli.group()
def archive() -> None:
    """Read what apply archived before each delete, offline."""


@archive.command("ls")
@_ARCHIVE_DIR
@click.option("--project", type=int, metavar="ID", help="Only this project.")
@_format("text", "json", "csv", help="text for people; json and csv for scripts and spreadsheets.")
@click.pass_context
def archive_ls(ctx: click.Context, archive_dir: Path, project: int | None, fmt: str) -> None:
    """List archives: id, name, created, key statistics, size, when archived."""
    from reconciler.commands import archive as archive_cmd

    _run(ctx, archive_cmd.ls, archive_dir, project, fmt)


@archive.command("show")
@click.argument("backtest_id")
@_ARCHIVE_DIR
@click.pass_context
def archive_show(ctx: click.Context, backtest_id: str, archive_dir: Path) -> None:
    """Statistics, the equity curve as a sparkline, counts of orders and insights."""
    from reconciler.commands import archive as archive_cmd

    _run(ctx, archive_cmd.show, archive_dir, backtest_id)


@archive.command("export")
@click.argument("backtest_id")
@click.option("--what", required=True, metavar="equity|orders|insights|chart:NAME",
              help="The equity curve, the orders (LEAN's names for type, status, direction), the insights, or any chart by name.")
@_format("csv", "json", help="csv: a header row, then one row per point, order or insight; json: one document.")
@_ARCHIVE_DIR
@click.pass_context
def archive_export(ctx: click.Context, backtest_id: str, what: str, fmt: str, archive_dir: Path) -> None:
    """Export part of an archive on standard output, for a spreadsheet or a script."""
    from reconciler.commands import archive as archive_cmd

    _run(ctx, archive_cmd.export, archive_dir, backtest_id, what, fmt)


# --- sandbox --------------------------------------------------------------------


@cli.group()
def sandbox() -> None:
    """The local QuantConnect-compatible API server."""


@sandbox.command("serve")
@click.option("--host", default=defaults.SANDBOX_HOST, show_default=True, help="Loopback address to bind.")
@click.option("--port", default=defaults.SANDBOX_PORT, show_default=True, type=click.IntRange(0, 65535), help="Port (0 picks a free one and prints it).")
@click.option("--db", type=click.Path(path_type=Path), default=defaults.DEFAULT_DB, show_default=True, help="SQLite database (kept across restarts).")
@click.option("--seed", metavar="demo|empty|FILE", help="Reseed: the demo account (default for a new database), nothing, or a JSON/YAML state file.")
@click.option("--user-id", default=defaults.SANDBOX_USER_ID, show_default=True, help="User id the sandbox accepts.")
@click.option("--api-token", default=defaults.SANDBOX_API_TOKEN, help="API token the sandbox accepts.")
@click.option("--latency-ms", default=0.0, type=click.FloatRange(0, 60000), help="Added latency per request.")
@click.option("--error-rate", default=0.0, type=click.FloatRange(0, 1), help="Share of requests answered with a random 500.")
@click.option("--rate-limit", default=0, type=click.IntRange(0), help="Requests per minute per user, then 429 with Retry-After (0: none).")
@click.option("--drop-rate", default=0.0, type=click.FloatRange(0, 1), help="Share of calls performed and then dropped without an answer.")
@click.option("--loading", is_flag=True, help='The first chart or orders read of each backtest answers {"status": "loading"}.')
@click.option("--fault-seed", type=int, help="Seed of the fault-injection random generator.")
@click.option("--access-log", is_flag=True, help="Log each request to stderr.")
@click.option("--run-seconds", default=3.0, show_default=True, type=click.FloatRange(0, 3600),
              help="How long a created backtest takes: queued, then running with rising progress, then completed.")
@click.pass_context
def sandbox_serve(
    ctx: click.Context,
    host: str,
    port: int,
    db: Path,
    seed: str | None,
    user_id: str,
    api_token: str,
    latency_ms: float,
    error_rate: float,
    rate_limit: int,
    drop_rate: float,
    loading: bool,
    fault_seed: int | None,
    access_log: bool,
    run_seconds: float,
) -> None:
    """Serve the QuantConnect API v2 from a local SQLite database."""
    from reconciler.commands import sandbox as sandbox_cmd
    from reconciler.sandbox import server as sandbox_server

    faults = sandbox_server.Faults(latency_ms=latency_ms, error_rate=error_rate, drop_rate=drop_rate, rate_limit=rate_limit, loading=loading)
    config = sandbox_server.SandboxConfig(
        host=host, port=port, user_id=user_id, api_token=api_token, faults=faults, fault_seed=fault_seed, access_log=access_log,
        run_seconds=run_seconds,
    )
    _run(ctx, sandbox_cmd.serve, config, db, seed)


@sandbox.command("reset")
@click.option("--db", type=click.Path(path_type=Path), default=defaults.DEFAULT_DB, show_default=True, help="SQLite database.")
@click.option("--seed", metavar="demo|empty|FILE", default="demo", show_default=True, help="What to seed.")
@click.pass_context
def sandbox_reset(ctx: click.Context, db: Path, seed: str) -> None:
    """Throw the sandbox state away and reseed it."""
    from reconciler.commands import sandbox as sandbox_cmd

    _run(ctx, sandbox_cmd.reset, db, seed)


def _terminate(signum: int, frame: object) -> None:
    raise Terminated()


@dataclass(frozen=True)
class Launch:
    """How the process was started, handed to the group through click's `obj` (GlobalOptions.exit_at_once)."""

    exit_at_once: bool = False


def main(argv: list[str] | None = None, *, exit_at_once: bool = False) -> None:
    """Entry point: usage errors exit 1 too, so exit 2 only ever means "changes" (--detailed-exitcode)."""
    signal.signal(signal.SIGTERM, _terminate)  # a cancelled CI job: handled like Ctrl-C
    try:
        code = cli.main(args=argv, prog_name="reconciler", standalone_mode=False, obj=Launch(exit_at_once))
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exit_codes.ERROR)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(exit_codes.INTERRUPTED)
    except KeyboardInterrupt as exc:
        _interrupted(exc)
    sys.exit(code or exit_codes.OK)


def _list_exit_codes(group: click.Group) -> None:
    """Every command's --help ends with the exit codes (defined once, in reconciler.exit_codes)."""
    for command in group.commands.values():
        command.epilog = exit_codes.HELP
        if isinstance(command, click.Group):
            _list_exit_codes(command)


cli.epilog = exit_codes.HELP
_list_exit_codes(cli)
