"""`reconciler import --project ...`: a manifest that declares today's backtests, so plan shows no changes."""

from __future__ import annotations

from typing import Any, Sequence

import yaml

from reconciler.commands.runtime import Runtime
from reconciler.live import Fetch, fetch_backtests
from reconciler.defaults import PARALLELISM
from reconciler.projects import pick_projects
from reconciler.timeutil import format_iso, utcnow

_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
SCHEMA_COMMENT = "# yaml-language-server: $schema=./manifest.schema.json\n# (editor help: write the schema beside this file with `reconciler schema > manifest.schema.json`)"


def run(rt: Runtime, wanted: Sequence[str], with_notes: bool = False, parallelism: int = PARALLELISM) -> int:
    client = rt.client(parallelism)
    chosen = pick_projects(client.list_projects(), wanted)
    fetched = fetch_backtests(client, [Fetch(p.id, read_note=lambda b: with_notes) for p in chosen], parallelism=parallelism)
    documents: list[dict[str, Any]] = []
    for project in chosen:
        declared = []
        for b in sorted(fetched[project.id], key=lambda b: (b.created, b.id)):
            entry: dict[str, Any] = {"id": b.id}
            if b.name:
                entry["name"] = b.name
            if with_notes:
                entry["note"] = b.note or ""
            entry["tags"] = list(dict.fromkeys(b.tags))
            declared.append(entry)
        documents.append({"id": project.id, "prune": False, "backtests": declared})
    rt.out(SCHEMA_COMMENT)
    rt.out(f"# Imported by `reconciler import` at {format_iso(utcnow())} from {client.api_url}.")
    rt.out("# Declares every backtest as it is today (declared backtests are never deleted); prune is off.")
    rt.out("# Projects: " + ", ".join(f"{p.id} = {p.name!r}" for p in chosen))
    rt.stdout.write(yaml.dump({"version": 1, "projects": documents}, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1000))
    return 0
