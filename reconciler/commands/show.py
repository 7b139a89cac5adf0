"""`reconciler show plan.json`: render a saved plan, offline."""

from __future__ import annotations

from pathlib import Path

from reconciler import exit_codes
from reconciler.commands.plan import emit
from reconciler.commands.runtime import Runtime
from reconciler.plan.model import load_plan


def run(rt: Runtime, path: Path, fmt: str = "text", show_kept: bool = False) -> int:
    emit(rt, load_plan(path), fmt, show_kept)
    return exit_codes.OK
