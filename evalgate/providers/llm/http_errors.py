"""What a call over HTTP can end in besides an answer, and which of it is retried (http_client.py raises these).

Kept apart from the client so a provider classifies a failure without importing the client's protocol library:
a run answered from the cache alone never imports it.
"""

from __future__ import annotations

from collections.abc import Mapping

from evalgate.providers.llm.retry import Failure


class HttpStatus(Exception):
    """A status other than success (300 and above: a redirect is not followed, a URL that redirects is the
    config's to fix): the body and headers are kept for the provider to classify."""

    def __init__(self, status: int, content: bytes, headers: Mapping[str, str]) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.content = content
        self.headers = {name.lower(): value for name, value in headers.items()}


class ConnectionFailure(Exception):
    """The exchange broke before an answer was read whole: `reason` names how (refused, reset, closed mid-answer,
    bytes that are not HTTP); retried unless `retryable` is False (an answer no retry can read: too large, an
    encoding the client cannot decode, a URL it cannot reach). Never holds the URL: it may carry a secret."""

    def __init__(self, reason: str, *, retryable: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


def transport_failure(exc: Exception, timeout: float) -> Failure | None:
    """A timeout or a connection failure of the client; None for any other exception."""
    if isinstance(exc, TimeoutError):
        return Failure(f"timed out after {timeout:g} s", retryable=True)
    if isinstance(exc, ConnectionFailure):
        return Failure(f"connection error: {exc.reason}", retryable=exc.retryable)
    return None
