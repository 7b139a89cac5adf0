"""Where the user id and API token come from, and how a request is signed."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from reconciler.errors import ConfigError

LEAN_CREDENTIALS = Path("~/.lean/credentials")


@dataclass(frozen=True)
class Credentials:
    user_id: str
    api_token: str = field(repr=False)
    source: str = ""

    def __repr__(self) -> str:  # never show the token, even in a debugger or a traceback
        return f"Credentials(user_id={self.user_id!r}, source={self.source!r})"

    def sign(self, timestamp: int) -> dict[str, str]:
        """Headers for one request: a fresh timestamp and sha256(token:timestamp)."""
        digest = hashlib.sha256(f"{self.api_token}:{timestamp}".encode()).hexdigest()
        basic = base64.b64encode(f"{self.user_id}:{digest}".encode()).decode()
        return {"Authorization": f"Basic {basic}", "Timestamp": str(timestamp)}


def resolve_credentials(
    user_id: str | None = None,
    api_token: str | None = None,
    environ: Mapping[str, str] | None = None,
    lean_file: Path | None = None,
) -> Credentials:
    """QC_USER_ID/QC_API_TOKEN, else lean-cli's file, else the options (the order the README documents)."""
    env = os.environ if environ is None else environ
    if env.get("QC_USER_ID") and env.get("QC_API_TOKEN"):
        return _checked(env["QC_USER_ID"], env["QC_API_TOKEN"], "QC_USER_ID/QC_API_TOKEN")
    path = (lean_file or LEAN_CREDENTIALS).expanduser()
    if path.is_file():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read {path}: {type(exc).__name__}") from None
        if isinstance(data, dict) and data.get("user-id") and data.get("api-token"):
            return _checked(str(data["user-id"]), str(data["api-token"]), str(path))
    if user_id and api_token:
        return _checked(user_id, api_token, "--user-id/--api-token")
    raise ConfigError(
        "no QuantConnect credentials: set QC_USER_ID and QC_API_TOKEN, or log in with lean-cli "
        "(~/.lean/credentials), or pass --user-id and --api-token; to try the tool without an account add --sandbox"
    )


def _checked(user_id: str, api_token: str, source: str) -> Credentials:
    user_id = str(user_id).strip()
    if not (user_id.isascii() and user_id.isdigit()) or len(user_id) > 20:
        # never echo the value: a token pasted into the user id field would be printed
        raise ConfigError(f"the QuantConnect user id from {source} must be a number (it is not; check that the user id and the API token are not swapped)")
    return Credentials(user_id=user_id, api_token=str(api_token).strip(), source=source)
