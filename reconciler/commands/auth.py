"""`reconciler auth`: check the credentials and the clock before anything else goes wrong."""

from __future__ import annotations

from reconciler import exit_codes
from reconciler.commands.runtime import Runtime


def run(rt: Runtime) -> int:
    client = rt.client()
    client.authenticate()
    rt.out(f"Authenticated as QuantConnect user {client.credentials.user_id} (credentials from {client.credentials.source}).")
    rt.out(f"API URL: {client.api_url}")
    offset = client.clock_offset
    if offset is None:
        rt.out("Clock offset: unknown (the server sent no Date header).")
    else:
        verdict = "fine" if abs(offset) <= 60 else "too large: fix the system clock, signatures embed the time"
        rt.out(f"Clock offset: {offset:+.0f} s (server minus local; {verdict}).")
    return exit_codes.OK
