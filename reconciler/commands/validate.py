"""`reconciler validate PATHS`: schema and semantic checks, offline."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from reconciler import exit_codes
from reconciler.commands.runtime import Runtime
from reconciler.manifest.load import load_manifest


def run(rt: Runtime, paths: Sequence[Path]) -> int:
    manifest = load_manifest(paths)
    declared = sum(len(p.backtests) for p in manifest.projects)
    files = len(manifest.files)
    for warning in manifest.warnings:
        rt.err(f"warning: {warning}")
    rt.out(
        f"Manifest OK: {files} file{'s' if files != 1 else ''}, {len(manifest.projects)} project{'s' if len(manifest.projects) != 1 else ''}, "
        f"{declared} declared backtest{'s' if declared != 1 else ''}."
    )
    return exit_codes.OK
