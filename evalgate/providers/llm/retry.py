"""Failed calls: which are retried, which signal overload, how long the server asked to wait, the backoff."""

from __future__ import annotations

import email.utils
import json
import math
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass

from evalgate.contracts.cases import CallTiming

MAX_RETRY_AFTER = 60.0  # seconds: a longer retry-after is capped

BACKOFF_BASE = 0.5  # seconds before the first retry (doubled each attempt, jittered)

BACKOFF_CAP = 20.0

# a refusal that says when to come back (overload with retry-after: a rate limit) does not use up an attempt; such
# a case still stops after this many times max_attempts requests in all
RATE_LIMITED_TRIES_FACTOR = 4


class ProviderError(Exception):
    """A call that failed for good (after retries, or not worth retrying): this case's error. `timing` holds the
    attempts made and the time waited (set when the retries give up)."""

    timing: CallTiming | None = None


@dataclass(frozen=True)
class Failure:
    """How to handle a failed call: retry or not, whether it signals overload, how long the server asked."""

    message: str
    retryable: bool
    overload: bool = False
    retry_after: float | None = None


def parse_retry_after(headers: Mapping[str, str] | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from `retry-after-ms`, or `retry-after` (seconds or an HTTP date), capped at 60 s."""
    if not headers:
        return None
    seconds: float | None = None
    millis = headers.get("retry-after-ms")
    value = headers.get("retry-after")
    try:
        if millis is not None:
            seconds = float(millis) / 1000
        elif value is not None:
            seconds = float(value)
    except ValueError:
        seconds = None
    if seconds is None and value:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds is None or math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def failure_for_status(
    status: int, message: str, *, headers: Mapping[str, str] | None = None, error_type: str | None = None
) -> Failure:
    """429, 529, 503 and `overloaded_error` are overload (retried, and the limiter backs off); 408, 409 and
    other 5xx are retried; any other 4xx is this case's error."""
    text = f"HTTP {status}" + (f" {error_type}" if error_type else "") + (f": {message}" if message else "")
    overload = status in (429, 503, 529) or error_type == "overloaded_error"
    retryable = overload or status in (408, 409) or status >= 500
    return Failure(text, retryable=retryable, overload=overload, retry_after=parse_retry_after(headers))


def failure_for_api_error(status: int, content: bytes, headers: Mapping[str, str] | None) -> Failure:
    """An error response of the anthropic or openai API classified as their SDKs' APIStatusError carries it: the
    JSON body's `error.type` and `error.message` (or those fields at the top level), none when it is not JSON."""
    try:
        body = json.loads(content)
    except ValueError:
        body = None
    body = body if isinstance(body, dict) else {}
    error = body["error"] if isinstance(body.get("error"), dict) else body
    return failure_for_status(
        status, str(error.get("message") or ""), headers=headers, error_type=error.get("type")
    )


def backoff_delay(attempt: int, retry_after: float | None, rng: random.Random) -> float:
    """Seconds before retry number `attempt` (1 = the first retry): the server's retry-after plus up to 10%,
    else an exponential backoff with full jitter between half and all of base·2^(attempt-1), capped."""
    if retry_after is not None:
        return retry_after * (1 + 0.1 * rng.random())
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1))
    return ceiling * (0.5 + 0.5 * rng.random())
