"""Command-line wiring: the only module that knows about click.

Each command parses its options here and calls one function in
``reconciler.commands``, which returns the exit code. Every expected error
becomes one line on stderr and exit 1 (a traceback only with --verbose).
"""

from __future__ import annotations

import logging
import sys
import traceback
from pathlib import Path
from typing import Any, Callable

import click

from reconciler import __version__
from reconciler.commands import auth as auth_cmd
from reconciler.commands import sandbox as sandbox_cmd
from reconciler.commands.runtime import GlobalOptions, Runtime
from reconciler.errors import ReconcilerError
from reconciler.sandbox import server as sandbox_server
from reconciler.sandbox.embedded import DEFAULT_DB


def _run(ctx: click.Context, command: Callable[..., int], *args: Any, **kwargs: Any) -> None:
    options: GlobalOptions = ctx.obj
    runtime = Runtime(options)
    try:
        with runtime:
            code = command(runtime, *args, **kwargs)
    except ReconcilerError as exc:
        if options.verbose:
            traceback.print_exc()
        click.echo(f"error: {exc}", err=True)
        ctx.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        ctx.exit(130)
    ctx.exit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="reconciler")
@click.option("--api-url", envvar="QC_API_URL", metavar="URL", help="QuantConnect API base URL (env QC_API_URL).")
@click.option("--user-id", metavar="ID", help="QuantConnect user id (else QC_USER_ID, else ~/.lean/credentials).")
@click.option("--api-token", metavar="TOKEN", help="QuantConnect API token (prefer QC_API_TOKEN: options show up in process lists).")
@click.option("--sandbox", is_flag=True, help="Run against the embedded local sandbox (no account needed).")
@click.option("--sandbox-db", type=click.Path(path_type=Path), default=DEFAULT_DB, show_default=True, help="Database of the embedded sandbox.")
@click.option("-v", "--verbose", is_flag=True, help="Debug logs of API calls (never the token) and tracebacks on errors.")
@click.option("--no-color", is_flag=True, help="No colour (also NO_COLOR=1; colour is off when output is not a terminal).")
@click.pass_context
def cli(ctx: click.Context, api_url: str | None, user_id: str | None, api_token: str | None, sandbox: bool, sandbox_db: Path, verbose: bool, no_color: bool) -> None:
    """Keep QuantConnect cloud backtests in order from a YAML manifest: plan, then apply."""
    ctx.obj = GlobalOptions(api_url=api_url, user_id=user_id, api_token=api_token, sandbox=sandbox, sandbox_db=sandbox_db, verbose=verbose, no_color=no_color)
    if verbose:
        logging.basicConfig(level=logging.DEBUG, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
        logging.getLogger("urllib3").setLevel(logging.INFO)


@cli.command()
@click.pass_context
def auth(ctx: click.Context) -> None:
    """Check the credentials: prints the user id, the API URL and the clock offset."""
    _run(ctx, auth_cmd.run)


# --- sandbox --------------------------------------------------------------------


@cli.group()
def sandbox() -> None:
    """The local QuantConnect-compatible API server."""


@sandbox.command("serve")
@click.option("--host", default=sandbox_server.DEFAULT_HOST, show_default=True, help="Loopback address to bind.")
@click.option("--port", default=sandbox_server.DEFAULT_PORT, show_default=True, type=click.IntRange(0, 65535), help="Port (0 picks a free one and prints it).")
@click.option("--db", type=click.Path(path_type=Path), default=DEFAULT_DB, show_default=True, help="SQLite database (kept across restarts).")
@click.option("--seed", metavar="demo|empty|FILE", help="Reseed: the demo account (default for a new database), nothing, or a JSON/YAML state file.")
@click.option("--user-id", default=sandbox_server.DEFAULT_USER_ID, show_default=True, help="User id the sandbox accepts.")
@click.option("--api-token", default=sandbox_server.DEFAULT_API_TOKEN, help="API token the sandbox accepts.")
@click.option("--latency-ms", default=0.0, type=click.FloatRange(0, 60000), help="Added latency per request.")
@click.option("--error-rate", default=0.0, type=click.FloatRange(0, 1), help="Share of requests answered with a random 500.")
@click.option("--rate-limit", default=0, type=click.IntRange(0), help="Requests per minute per user, then 429 with Retry-After (0: none).")
@click.option("--drop-rate", default=0.0, type=click.FloatRange(0, 1), help="Share of calls performed and then dropped without an answer.")
@click.option("--fault-seed", type=int, help="Seed of the fault-injection random generator.")
@click.option("--access-log", is_flag=True, help="Log each request to stderr.")
@click.pass_context
def sandbox_serve(ctx: click.Context, host: str, port: int, db: Path, seed: str | None, user_id: str, api_token: str, latency_ms: float,
                  error_rate: float, rate_limit: int, drop_rate: float, fault_seed: int | None, access_log: bool) -> None:
    """Serve the QuantConnect API v2 from a local SQLite database."""
    faults = sandbox_server.Faults(latency_ms=latency_ms, error_rate=error_rate, drop_rate=drop_rate, rate_limit=rate_limit)
    config = sandbox_server.SandboxConfig(host=host, port=port, user_id=user_id, api_token=api_token, faults=faults, fault_seed=fault_seed, access_log=access_log)
    _run(ctx, sandbox_cmd.serve, config, db, seed)


@sandbox.command("reset")
@click.option("--db", type=click.Path(path_type=Path), default=DEFAULT_DB, show_default=True, help="SQLite database.")
@click.option("--seed", metavar="demo|empty|FILE", default="demo", show_default=True, help="What to seed.")
@click.pass_context
def sandbox_reset(ctx: click.Context, db: Path, seed: str) -> None:
    """Throw the sandbox state away and reseed it."""
    _run(ctx, sandbox_cmd.reset, db, seed)


def main(argv: list[str] | None = None) -> None:
    """Entry point: usage errors exit 1 too, so exit 2 only ever means "changes" (--detailed-exitcode)."""
    try:
        code = cli.main(args=argv, prog_name="reconciler", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(1)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    sys.exit(code or 0)
