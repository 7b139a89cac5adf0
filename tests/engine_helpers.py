"""Small builders for engine tests."""

from __future__ import annotations

from datetime import datetime, timezone

from reconciler.manifest.build import build_keep, build_selector
from reconciler.manifest.model import KeepPolicy, ProjectSpec
from reconciler.models import Backtest

UTC = timezone.utc


def bt(n: int, created: str | datetime, *, status: str = "completed", tags: tuple[str, ...] = (), stats: dict | None = None,
       name: str = "", optimization: str | None = None) -> Backtest:
    when = created if isinstance(created, datetime) else datetime.fromisoformat(created).replace(tzinfo=UTC)
    return Backtest(id=f"{n:032x}", project_id=1, name=name or f"run {n}", created=when, status=status, raw_status=status,
                    tags=tags, optimization_id=optimization, statistics=stats or {})


def keep(kind: str, value: object = None, **extra: object) -> KeepPolicy:
    """A keep policy as the manifest writes it, built by the loader's own builder (so reasons read as in a real plan)."""
    if kind == "best":
        return build_keep({"best": {"by": value, **extra}})
    return build_keep({kind: value})


def spec(*, keep_: tuple[KeepPolicy, ...] = (), prune: bool = True, delete: tuple[dict, ...] = (), protect: tuple[dict, ...] = (),
         declared: tuple = (), protect_tags: tuple[str, ...] = ("protected",)) -> ProjectSpec:
    return ProjectSpec(id=1, name=None, prune=prune, keep=keep_, delete=tuple(build_selector(d) for d in delete),
                       protect=tuple(build_selector(p) for p in protect), backtests=declared, protect_tags=protect_tags)
