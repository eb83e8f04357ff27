"""Adaptive concurrency (AIMD), retry-after, backoff and the retry rules."""

from __future__ import annotations

import asyncio
import email.utils
import random
from pathlib import Path

import pytest

from evalgate.providers import llm_common
from evalgate.providers.llm_common import (
    AdaptiveLimiter,
    backoff_delay,
    failure_for_status,
    parse_retry_after,
)

from .conftest import case, make_provider, run_provider
from .fake_servers import FakeLLMServer, answer_for


def test_halves_once_per_round_and_grows_back_additively() -> None:
    async def scenario() -> None:
        limiter = AdaptiveLimiter(16)
        epochs = [await limiter.acquire() for _ in range(10)]
        for epoch in epochs:  # a burst of 429s from one round of requests
            limiter.overloaded(epoch)
        assert limiter.limit == 8 and limiter.decreases == 1
        epoch = await limiter.acquire() if limiter.in_flight < 8 else limiter.epoch
        limiter.overloaded(epoch)
        assert limiter.limit == 4
        for _ in range(10):
            limiter.release()
        assert limiter.in_flight == 0
        # additive increase: about one slot per `limit` successes
        for _ in range(4):
            limiter.succeeded()
        assert 4.9 < limiter.limit < 5.0
        for _ in range(10_000):
            limiter.succeeded()
        assert limiter.limit == 16  # never above the configured slots
        for _ in range(10):
            limiter.overloaded(limiter.epoch)
        assert limiter.limit == 1  # never below one

    asyncio.run(scenario())


def test_never_more_in_flight_than_the_limit_and_cancellation_frees_waiters() -> None:
    async def scenario() -> None:
        limiter = AdaptiveLimiter(3)
        peak = 0

        async def job() -> None:
            nonlocal peak
            await limiter.acquire()
            try:
                peak = max(peak, limiter.in_flight)
                await asyncio.sleep(0.01)
            finally:
                limiter.release()

        waiting = asyncio.gather(*(job() for _ in range(5)))
        await asyncio.sleep(0.001)
        waiting.cancel()  # cancel holders and waiters alike
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert limiter.in_flight == 0
        await asyncio.gather(*(job() for _ in range(30)))
        assert peak == 3 and limiter.in_flight == 0

    asyncio.run(scenario())


def test_retry_after_forms() -> None:
    assert parse_retry_after({"retry-after": "7"}) == 7
    assert parse_retry_after({"retry-after": "0.5"}) == 0.5
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert parse_retry_after({"retry-after": "3600"}) == 60  # capped
    assert parse_retry_after({"retry-after": "-3"}) == 0
    now = 1_800_000_000.0
    date = email.utils.formatdate(now + 12, usegmt=True)
    assert parse_retry_after({"retry-after": date}, now=now) == pytest.approx(12, abs=1)
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None


@pytest.mark.parametrize(
    ("status", "error_type", "retryable", "overload"),
    [
        (429, "rate_limit_error", True, True),
        (529, "overloaded_error", True, True),
        (503, None, True, True),
        (500, "api_error", True, False),
        (502, None, True, False),
        (408, None, True, False),
        (409, None, True, False),
        (400, "invalid_request_error", False, False),
        (401, None, False, False),
        (404, None, False, False),
        (413, None, False, False),
        (400, "overloaded_error", True, True),
    ],
)
def test_which_statuses_are_retried(
    status: int, error_type: str | None, retryable: bool, overload: bool
) -> None:
    failure = failure_for_status(status, "m", error_type=error_type)
    assert (failure.retryable, failure.overload) == (retryable, overload)


def test_backoff_is_jittered_exponential_or_the_servers_wait() -> None:
    rng = random.Random(1)
    for attempt in range(1, 8):
        ceiling = min(llm_common.BACKOFF_CAP, llm_common.BACKOFF_BASE * 2 ** (attempt - 1))
        delays = [backoff_delay(attempt, None, rng) for _ in range(200)]
        assert ceiling / 2 <= min(delays) and max(delays) <= ceiling
        assert len(set(delays)) > 100  # jittered
    assert all(2.0 <= backoff_delay(1, 2.0, rng) <= 2.2 for _ in range(100))


def test_rate_limited_server_every_case_answered(tmp_path: Path) -> None:
    cases = [case(f"q{i}") for i in range(60)]
    with FakeLLMServer(latency=0.02, max_concurrent=4, retry_after="0.2") as server:
        provider = make_provider("anthropic", {"model": "claude-haiku-4-5", "base_url": server.url}, tmp_path)
        ran = asyncio.run(run_provider(provider, cases, concurrency=16))
        assert ran.errors == {}
        assert {k: o.value for k, o in ran.outputs.items()} == {c.id: answer_for(c.input) for c in cases}
        assert server.state.rate_limited > 0
        assert provider.limiter is not None and provider.limiter.decreases >= 1
        assert server.calls == len(cases) + server.state.rate_limited
