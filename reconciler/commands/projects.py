"""`reconciler projects`: the account's projects, so a new user can write the first manifest."""

from __future__ import annotations

import json

from reconciler import exit_codes
from reconciler.commands.runtime import Runtime
from reconciler.defaults import PARALLELISM
from reconciler.live import Fetch, fetch_backtests
from reconciler.plan.untrusted import terminal_safe

PROJECTS_FORMAT_VERSION = 1


def run(rt: Runtime, fmt: str = "text", parallelism: int = PARALLELISM) -> int:
    client = rt.client(parallelism)
    projects = sorted(client.list_projects(), key=lambda p: p.name.lower())
    listed = fetch_backtests(client, [Fetch(p.id) for p in projects], parallelism=parallelism, progress=rt.progress("counting"))
    rows = [{"id": p.id, "name": p.name, "backtests": len(listed[p.id]),
             "in_progress": sum(1 for b in listed[p.id] if b.in_progress)} for p in projects]
    if fmt == "json":
        rt.stdout.write(json.dumps({"format_version": PROJECTS_FORMAT_VERSION, "projects": rows}, ensure_ascii=False) + "\n")
        return exit_codes.OK
    width = max([len(terminal_safe(r["name"])) for r in rows] + [4])
    rt.out(f"{'ID':>10}  {'NAME':<{width}}  {'BACKTESTS':>9}")
    for row in rows:
        rt.out(f"{row['id']:>10}  {terminal_safe(row['name']):<{width}}  {row['backtests']:>9,}")
    rt.out(f"{len(rows)} project{'s' if len(rows) != 1 else ''}, {sum(r['backtests'] for r in rows):,} backtests. "
           "Start a manifest from today's state with: reconciler import --project ID_OR_NAME > manifests/NAME.yaml")
    return exit_codes.OK
