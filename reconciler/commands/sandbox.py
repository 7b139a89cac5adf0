"""`reconciler sandbox serve|reset`: the local QuantConnect-compatible API."""

from __future__ import annotations

from pathlib import Path

from reconciler import exit_codes
from reconciler.commands.runtime import Runtime
from reconciler.errors import ConfigError
from reconciler.sandbox.embedded import open_store
from reconciler.sandbox.server import SandboxConfig, SandboxServer


def serve(rt: Runtime, config: SandboxConfig, db: Path, seed: str | None) -> int:
    if config.host not in ("127.0.0.1", "localhost"):
        raise ConfigError(f"the sandbox binds to loopback only: use --host 127.0.0.1 (got {config.host})")
    store, seeded = open_store(db, seed)
    try:
        try:
            server = SandboxServer(store, config)
        except OSError as exc:
            raise ConfigError(f"cannot listen on {config.host}:{config.port}: {exc.strerror or exc}; pick another --port (0 picks a free one)") from None
        projects = store.projects()
        total = sum(len(store.backtests(p.project_id)) for p in projects)
        rt.out(f"QuantConnect sandbox listening on {server.url}")
        rt.out(f"  database:    {db} ({'seeded just now' if seeded else 'existing state'}: {len(projects)} projects, {total} backtests)")
        rt.out(f"  credentials: QC_USER_ID={config.user_id} QC_API_TOKEN={config.api_token}  (local test credentials)")
        rt.out(f"  try:         QC_API_URL={server.url} QC_USER_ID={config.user_id} QC_API_TOKEN={config.api_token} reconciler plan examples/sandbox-demo.yaml")
        faults = config.faults
        if faults.latency_ms or faults.error_rate or faults.drop_rate or faults.rate_limit:
            rt.out(
                f"  faults:      latency {faults.latency_ms:g} ms, error rate {faults.error_rate:g}, drop rate {faults.drop_rate:g}, "
                f"rate limit {faults.rate_limit or 'none'}/min"
            )
        rt.out("Press Ctrl-C to stop.")
        rt.stdout.flush()
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            rt.err("sandbox stopped")
        finally:
            server.stop()
    finally:
        store.close()
    return exit_codes.OK


def reset(rt: Runtime, db: Path, seed: str) -> int:
    store, seeded = open_store(db, seed)
    store.close()
    rt.out(f"Sandbox database {db} reseeded from {seed}: {seeded}.")
    return exit_codes.OK
