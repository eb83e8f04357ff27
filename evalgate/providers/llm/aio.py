"""The HTTP client every LLM provider sends with: one aiohttp session per run, and its failures classified.

aiohttp costs about a quarter of httpx's client CPU per call, and a third of an SDK's own request path
(bench/llm_throughput.py; docs/providers.md, "Throughput").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from evalgate.files.limits import MAX_STREAM_LINE_BYTES
from evalgate.providers.llm.retry import Failure


class HttpStatus(Exception):
    """An HTTP error status (400 and above): the body and headers are kept for the provider to classify."""

    def __init__(self, status: int, content: bytes, headers: Mapping[str, str]) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.content = content
        self.headers = {name.lower(): value for name, value in headers.items()}


def open_session(headers: Mapping[str, str], timeout: Any, slots: int) -> Any:
    """An aiohttp session sending `headers` on every request, its pool sized to the run's concurrency; `timeout`
    is an aiohttp.ClientTimeout. Open it on the event loop that will use it. A streamed answer's line may be
    MAX_STREAM_LINE_BYTES long (aiohttp reads a line up to twice its read buffer)."""
    import aiohttp

    return aiohttp.ClientSession(
        headers=dict(headers),
        timeout=timeout,
        connector=aiohttp.TCPConnector(limit=slots),
        read_bufsize=MAX_STREAM_LINE_BYTES // 2,
    )


async def checked_read(response: Any) -> bytes:
    """The whole body of an aiohttp response; HttpStatus for a status of 400 or above."""
    content: bytes = await response.read()
    if response.status >= 400:
        raise HttpStatus(response.status, content, response.headers)
    return content


def transport_failure(exc: Exception, timeout: float) -> Failure | None:
    """A timeout or a connection failure of aiohttp (retried); None for any other exception."""
    import aiohttp

    if isinstance(exc, TimeoutError):  # aiohttp's timeouts (ServerTimeoutError is one too)
        return Failure(f"timed out after {timeout:g} s", retryable=True)
    if isinstance(exc, aiohttp.ClientError):  # refused, reset, disconnected, a broken body
        return Failure(f"connection error: {type(exc).__name__}", retryable=True)
    return None
