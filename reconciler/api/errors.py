"""Typed API errors. The response body of a failed call always travels in the exception."""

from __future__ import annotations

from reconciler.errors import ReconcilerError


class APIError(ReconcilerError):
    """A call the service answered with ``success: false`` (or a body we cannot use)."""

    def __init__(self, message: str, *, endpoint: str = "", errors: list[str] | None = None, status: int | None = None, body: str = "") -> None:
        super().__init__(message)
        self.endpoint = endpoint
        self.errors = list(errors or [])
        self.status = status
        self.body = body


class AuthenticationError(APIError):
    """Credentials rejected (401, or "Hash doesn't match")."""


class NotFoundError(APIError):
    """The project or backtest does not exist (or is not visible to this user)."""


class ResponseFormatError(APIError):
    """A response we do not understand: an error, never a reason to act."""


class TransportError(APIError):
    """Connection failures, timeouts, 429 and 5xx that outlived every retry."""
