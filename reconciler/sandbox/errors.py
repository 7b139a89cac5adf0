"""The sandbox's one failure answer."""


class BadRequest(Exception):
    """Answered as HTTP 200 with `success: false` and the message in `errors`, as the service does."""
