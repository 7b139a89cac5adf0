"""Open (and seed on first use) a sandbox database, and run the server in-process for --sandbox."""

from __future__ import annotations

from pathlib import Path

from reconciler.defaults import DEFAULT_DB
from reconciler.sandbox.seed import apply_seed
from reconciler.sandbox.server import SandboxConfig, SandboxServer
from reconciler.sandbox.store import SandboxStore


def open_store(db: str | Path = DEFAULT_DB, seed: str | None = None) -> tuple[SandboxStore, str | None]:
    """The store, reseeded when a seed is given or the database is new; returns what was seeded."""
    store = SandboxStore(db)
    if seed is None and store.is_seeded():
        return store, None
    try:
        return store, apply_seed(store, seed or "demo")
    except BaseException:
        store.close()
        raise


def start_embedded(db: str | Path = DEFAULT_DB, **config: object) -> SandboxServer:
    """A sandbox on a free loopback port, in a background thread of this process."""
    store, _ = open_store(db)
    return SandboxServer(store, SandboxConfig(port=0, **config)).start()  # type: ignore[arg-type]
