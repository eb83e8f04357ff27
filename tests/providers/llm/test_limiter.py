"""Adaptive concurrency (AIMD), retry-after, backoff and the retry rules."""

from __future__ import annotations

import asyncio
import email.utils
import random
from pathlib import Path

import pytest

from evalgate.providers.llm import retry
from evalgate.providers.llm.limiter import AdaptiveLimiter, Ticket
from evalgate.providers.llm.retry import backoff_delay, failure_for_status, parse_retry_after

from .conftest import case, make_provider, run_provider
from .fake_servers import FakeLLMServer, answer_for


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_cut_goes_to_what_the_server_admitted_once_per_event_never_more_than_half() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        limiter = AdaptiveLimiter(32, clock=clock)
        tickets = [await limiter.acquire() for _ in range(32)]
        assert [t.in_flight for t in tickets] == list(range(1, 33))
        limiter.overloaded(tickets[20])  # refused with 21 of ours in flight: the server admitted 20
        assert limiter.limit == 20 and limiter.decreases == 1
        for ticket in tickets[16:]:  # the rest of that burst is the same congestion event
            limiter.overloaded(ticket)
        assert limiter.limit == 20 and limiter.decreases == 1 and limiter.overloads == 17
        for _ in range(32):
            limiter.release()
        # a refusal of a request sent after the cut, but within one round trip of it: still the same event
        limiter.succeeded(0.05)
        fresh = await limiter.acquire()
        limiter.overloaded(fresh)
        assert limiter.decreases == 1
        clock.now += 0.06  # a round trip later: a new event; k = 1 says "nothing admitted", but at most half
        limiter.overloaded(fresh if fresh.epoch == limiter.epoch else await limiter.acquire())
        assert limiter.limit == 10 and limiter.decreases == 2
        limiter.release()
        for _ in range(40):
            clock.now += 0.06
            limiter.overloaded(await limiter.acquire())
            limiter.release()
        assert limiter.limit == 1  # never below one

    asyncio.run(scenario())


def test_growth_waits_out_the_hold_then_adds_a_slot_per_round_up_to_the_slots() -> None:
    async def scenario() -> None:
        limiter = AdaptiveLimiter(16)
        tickets = [await limiter.acquire() for _ in range(9)]
        limiter.overloaded(tickets[8])  # 8 admitted
        for _ in range(9):
            limiter.release()
        assert limiter.limit == 8
        limiter.waiting = 1  # throughout, a request waits for a slot: the limit binds
        for _ in range(AdaptiveLimiter.HOLD_ROUNDS * 8):  # the hold: the learnt limit is kept
            limiter.succeeded(0.05)
        assert limiter.limit == 8
        for _ in range(8):  # then about one slot per round of answers
            limiter.succeeded(0.05)
        assert 8.9 < limiter.limit < 9.0
        for _ in range(10_000):
            limiter.succeeded(0.05)
        assert limiter.limit == 16  # never above the configured slots

    asyncio.run(scenario())


def test_finding_the_same_ceiling_again_doubles_the_hold() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        limiter = AdaptiveLimiter(32, clock=clock)
        limiter.waiting = 1  # throughout, a request waits for a slot: the limit binds

        async def refused_at(k: int) -> None:
            tickets = [await limiter.acquire() for _ in range(k)]
            clock.now += 1.0
            limiter.overloaded(tickets[-1])
            for _ in tickets:
                limiter.release()

        def successes_until_growth() -> int:
            start, count = limiter.limit, 0
            while limiter.limit == start:
                limiter.succeeded(0.05)
                count += 1
            return count

        await refused_at(17)  # the cap is 16
        assert successes_until_growth() == 8 * 16 + 1
        holds = []
        for _ in range(5):  # each probe above 16 is refused at 17 again
            while limiter.limit < 17:
                limiter.succeeded(0.05)
            await refused_at(17)
            assert limiter.limit == 16
            holds.append(successes_until_growth())
        assert holds == [16 * 16 + 1, 32 * 16 + 1, 64 * 16 + 1, 64 * 16 + 1, 64 * 16 + 1]
        await refused_at(11)  # the server's limit moved: a new ceiling, the short hold again
        assert limiter.limit == 10 and successes_until_growth() == 8 * 10 + 1

    asyncio.run(scenario())


def test_the_limit_grows_only_while_requests_wait_for_a_slot() -> None:
    """With fewer requests than the limit (workers asleep in a retry-after, the run's last cases), a higher limit
    would not be used: it would only let the next burst through past the server's limit."""

    async def scenario() -> None:
        limiter = AdaptiveLimiter(32)
        tickets = [await limiter.acquire() for _ in range(17)]
        limiter.overloaded(tickets[16])  # the server admits 16
        limiter.release()  # the refused request: 16 in flight
        for _ in range(
            AdaptiveLimiter.HOLD_ROUNDS * 16 + 100
        ):  # the hold, then 100 answers with no one waiting
            limiter.succeeded(0.05)
        assert limiter.limit == 16
        waiting = asyncio.ensure_future(limiter.acquire())  # a 17th request waits for a slot
        await asyncio.sleep(0)
        assert limiter.waiting == 1
        limiter.succeeded(0.05)
        assert limiter.limit == 16 + 1 / 16
        for _ in range(16):
            limiter.succeeded(0.05)
        assert limiter.limit > 17  # the waiting request gets the new slot
        await asyncio.wait_for(waiting, 5)
        assert limiter.waiting == 0 and limiter.in_flight == 17

    asyncio.run(scenario())


@pytest.mark.parametrize("retry_after", [None, 3.0])
def test_no_probe_when_less_of_the_run_is_left_than_two_refusals_waits(retry_after: float | None) -> None:
    """A probe above the limit costs a refused request that waits out the server's retry-after (1 s when it
    gives none): near the end of the run that wait would be the run's last seconds. A server that admits 16,
    answering 16 requests per 50 ms round; the run makes 4,300 requests."""
    requests, wait = 4300, retry_after or AdaptiveLimiter.DEFAULT_WAIT_S
    last_worth_it = (
        requests - 2 * wait / 0.05 * 16
    )  # answers after which less than 2 waits of the run are left

    def refused_probes(limiter: AdaptiveLimiter, clock: FakeClock) -> list[int]:
        limiter.waiting = 1  # throughout, a request waits for a slot: the limit binds
        limiter.overloaded(Ticket(limiter.epoch, 17), retry_after)  # the first burst: the server admits 16
        refused = []
        for answer in range(1, requests + 1):
            clock.now += 0.05 / 16
            limiter.succeeded(0.05)
            if int(limiter.limit) > 16:  # the probe's request is refused
                refused.append(answer)
                limiter.overloaded(Ticket(limiter.epoch, 17), retry_after)
        return refused

    clock = FakeClock()
    known = refused_probes(AdaptiveLimiter(32, clock=clock, requests=requests), clock)
    unknown = refused_probes(AdaptiveLimiter(32, clock=clock), clock)  # it always may probe
    assert known and all(answer <= last_worth_it for answer in known)
    assert any(answer > last_worth_it for answer in unknown)
    assert known == [answer for answer in unknown if answer <= last_worth_it]


def test_the_report_names_the_limit_held_longest() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        limiter = AdaptiveLimiter(32, clock=clock)
        tickets = [await limiter.acquire() for _ in range(17)]
        clock.now = 1.0  # 1 s at 32
        limiter.overloaded(tickets[16])
        clock.now = 4.0  # 3 s at 16
        assert limiter.report() == {
            "slots": 32, "settled": 16, "final": 16.0, "lowest": 16.0, "cuts": 1, "overloads": 1,
        }  # fmt: skip

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
        ceiling = min(retry.BACKOFF_CAP, retry.BACKOFF_BASE * 2 ** (attempt - 1))
        delays = [backoff_delay(attempt, None, rng) for _ in range(200)]
        assert ceiling / 2 <= min(delays) and max(delays) <= ceiling
        assert len(set(delays)) > 100  # jittered
    assert all(2.0 <= backoff_delay(1, 2.0, rng) <= 2.2 for _ in range(100))


@pytest.mark.slow
def test_rate_limited_server_every_case_answered(tmp_path: Path) -> None:
    # 200 cases: about 1 s at the cap against the 0.2 s retry-after pauses, so where the limit was held longest
    # (its settled value) is the cap even when the process stalls for a moment (60 cases left 0.3 s: flaky)
    cases = [case(f"q{i}") for i in range(200)]
    with FakeLLMServer(latency=0.02, max_concurrent=4, retry_after="0.2") as server:
        provider = make_provider("anthropic", {"model": "claude-haiku-4-5", "base_url": server.url}, tmp_path)
        ran = asyncio.run(run_provider(provider, cases, concurrency=16))
        assert ran.errors == {}
        assert {k: o.value for k, o in ran.outputs.items()} == {c.id: answer_for(c.input) for c in cases}
        assert server.state.rate_limited > 0
        assert provider.limiter is not None and provider.limiter.decreases >= 1
        assert server.calls == len(cases) + server.state.rate_limited
        # it settled on the server's cap, and knew every refusal the server counted
        report = provider.limiter_report
        assert report is not None and report["settled"] == 4
        assert report["overloads"] == server.state.rate_limited


@pytest.mark.slow
def test_a_token_rate_limit_is_found_and_every_case_answered(tmp_path: Path) -> None:
    """A token bucket (tokens per minute) refuses with retry-after; the limiter backs off below the cap."""
    cases = [case(f"question {i}") for i in range(24)]
    # each request costs 2 + 4 words = 6 tokens (input and answer); 3600 a minute pays 10 requests a second, and
    # the bucket holds one second's worth: 10 go at once, the other 14 wait for it to refill
    with FakeLLMServer(latency=0.01, tokens_per_minute=3600) as server:
        provider = make_provider("anthropic", {"model": "claude-haiku-4-5", "base_url": server.url}, tmp_path)
        ran = asyncio.run(run_provider(provider, cases, concurrency=8))
        assert ran.errors == {}
        assert server.state.rate_limited > 0
        report = provider.limiter_report
        assert report is not None and report["cuts"] >= 1 and report["lowest"] < 8
        assert server.calls == len(cases) + server.state.rate_limited


@pytest.mark.slow
@pytest.mark.usefixtures("fast_backoff")
def test_a_rate_limit_that_says_when_does_not_use_up_the_attempts(tmp_path: Path) -> None:
    """429 with retry-after is the server scheduling us, not a failed try: retried as told beyond max_attempts
    (up to 4 x max_attempts requests); an overload without retry-after, and any failure, still counts."""
    with FakeLLMServer() as server:
        server.script("patient", ["429:0.05"] * 6 + ["ok"])
        server.script("hopeless", ["429:0.01"] * 50)
        server.script("bare", ["429", "429", "429", "ok"])
        provider = make_provider(
            "anthropic", {"model": "claude-haiku-4-5", "base_url": server.url, "max_attempts": 3}, tmp_path
        )
        ran = asyncio.run(run_provider(provider, [case("patient"), case("hopeless"), case("bare")]))
        assert ran.outputs["patient"].value == answer_for("patient")
        assert ran.outputs["patient"].timing is not None and ran.outputs["patient"].timing.attempts == 7
        assert "after 12 attempts" in ran.errors["hopeless"]
        assert "after 3 attempts" in ran.errors["bare"]
        assert server.calls == 7 + 12 + 3
