"""The adaptive (AIMD) concurrency limiter: concurrency that converges on the server's real limit."""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Ticket:
    """A slot of the limiter: the epoch it was granted in, and our requests in flight once it was (itself
    included): a request refused with that many in flight says the server admits fewer."""

    epoch: int
    in_flight: int


class AdaptiveLimiter:
    """Concurrency that converges on the server's real limit (docs/providers.md, "The adaptive limiter").

    - **A cut goes to what the server was seen to admit**: a request refused (429, 529, 503) when `k` of ours
      were in flight, itself included, sets the limit to `k - 1`, but one cut never takes more than half
      (`FLOOR`). Against a concurrency cap that is the cap itself, in one or two steps; against a token or
      request rate it is the number of requests the server was still serving (refused ones come back at once
      and free their slots, so `k` falls as the server refuses more).
    - **One cut per congestion event**: refusals of requests sent before the last cut belong to the event that
      caused it (an epoch, as TCP counts one loss per window), and no second cut comes within COOLDOWN_RTTS
      smoothed round trips of the last one (a server needs that long to show the effect of a cut).
    - **Growth after a hold**: each success adds 1/limit (about one slot per round of answers, as AIMD does),
      but only after HOLD_ROUNDS rounds without a cut: a limit just learnt is held, so probing above it (and the
      refused request that probing costs, which then waits out its retry-after) is rare, not every round. A cut
      that lands where the last one did (the same ceiling, found again) doubles the hold, up to MAX_HOLD_ROUNDS.
    - **Growth only while the limit binds**: a success grows the limit only when requests wait for a slot. With
      fewer requests than the limit (workers asleep in a retry-after, a run's last few cases) a higher limit
      would not be exercised: it would only let the next burst through past the server's limit.
    - **No probe near the end**: with `requests` (the run's number of requests) known, the limit grows only while
      the run has longer left than TAIL_WAITS times the server's last retry-after: a probe costs one refused
      request that waits it out, which near the end would be the run's last seconds (with a real API's
      retry-after of tens of seconds, the run's longest ones), for a slot that would serve few requests.
    - **A pause below one**: a refusal with nothing else of ours in flight (`k` = 1) says even one request at a
      time is too many (a token or request rate below what one request at a time uses): no new request starts
      until the server's retry-after has passed, so retries come paced, not in a herd.
    - never above `slots` (the suite's concurrency) nor below 1.

    `report()` says where it settled: the limit held for the longest time, the lowest, the number of cuts and of
    refusals.
    """

    FLOOR = 0.5
    COOLDOWN_RTTS = 1.0
    HOLD_ROUNDS = 8
    MAX_HOLD_ROUNDS = 64
    RTT_WEIGHT = 0.1  # the smoothed round trip follows the successes' latencies with this weight
    TAIL_WAITS = 2.0  # a probe needs the run to have this many refusal waits left (no probe near the end)
    DEFAULT_WAIT_S = 1.0  # what a refusal is taken to cost when the server gave no retry-after

    def __init__(
        self, slots: int, clock: Callable[[], float] = time.monotonic, requests: int | None = None
    ) -> None:
        self.slots = slots
        self.requests = requests  # how many requests the run makes (None: unknown)
        self.answered = 0
        self.limit = float(slots)
        self.in_flight = 0
        self.waiting = 0  # requests waiting for a slot (the limit binds)
        self.epoch = 0
        self.decreases = 0
        self.overloads = 0
        self.lowest = float(slots)
        self._clock = clock
        self._rtt: float | None = None
        self._last_cut = -math.inf
        self._hold = 0.0  # successes still to see before the limit may grow again
        self._hold_rounds = self.HOLD_ROUNDS
        self._last_landing: float | None = None  # where the last cut put the limit
        self._paused_until = -math.inf
        self._refusal_wait_s = self.DEFAULT_WAIT_S  # the server's last retry-after
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._level_since: float | None = None  # when the current whole limit began (first acquire)
        self._time_at: dict[int, float] = {}

    async def acquire(self) -> Ticket:
        """Wait for a free slot; return the ticket to pass to `overloaded`."""
        if self._level_since is None:
            self._level_since = self._clock()
        while (pause := self._paused_until - self._clock()) > 0:
            await asyncio.sleep(pause)
        self.waiting += 1
        try:
            while self.in_flight >= int(self.limit):
                waiter = asyncio.get_running_loop().create_future()
                self._waiters.append(waiter)
                try:
                    await waiter
                except asyncio.CancelledError:
                    if waiter in self._waiters:
                        self._waiters.remove(waiter)
                    else:  # woken, then cancelled: hand the wake-up on
                        self._wake()
                    raise
        finally:
            self.waiting -= 1
        self.in_flight += 1
        return Ticket(self.epoch, self.in_flight)

    def release(self) -> None:
        self.in_flight -= 1
        self._wake()

    def succeeded(self, seconds: float | None = None) -> None:
        """A request answered (in `seconds`, which feed the smoothed round trip)."""
        self.answered += 1
        if seconds is not None:
            self._rtt = seconds if self._rtt is None else self._rtt + self.RTT_WEIGHT * (seconds - self._rtt)
        if self._hold > 0:
            self._hold -= 1
        elif self.waiting and self._worth_probing():
            self._set_limit(min(float(self.slots), self.limit + 1.0 / self.limit))
        self._wake()

    def _worth_probing(self) -> bool:
        """Whether the run has longer left than TAIL_WAITS refused requests' waits (always, when its number of
        requests is unknown)."""
        if self.requests is None or self._rtt is None:
            return True
        left_s = max(0, self.requests - self.answered) / self.limit * self._rtt
        return left_s > self.TAIL_WAITS * self._refusal_wait_s

    def overloaded(self, ticket: Ticket, retry_after: float | None = None) -> None:
        """The server refused a request (429, 529, 503): cut, unless this event already caused a cut; pause for
        the server's retry-after when the request was our only one in flight."""
        self.overloads += 1
        now = self._clock()
        if retry_after:
            self._refusal_wait_s = retry_after
        if ticket.in_flight == 1 and retry_after:
            self._paused_until = max(self._paused_until, now + retry_after)
        if ticket.epoch != self.epoch or now - self._last_cut < self.COOLDOWN_RTTS * (self._rtt or 0.0):
            return
        self._set_limit(max(1.0, self.limit * self.FLOOR, float(ticket.in_flight - 1)))
        same_ceiling = self._last_landing is not None and abs(self.limit - self._last_landing) < 1.0
        self._hold_rounds = (
            min(self.MAX_HOLD_ROUNDS, self._hold_rounds * 2) if same_ceiling else self.HOLD_ROUNDS
        )
        self._last_landing = self.limit
        self.epoch += 1
        self.decreases += 1
        self._last_cut = now
        self._hold = self._hold_rounds * self.limit
        self.lowest = min(self.lowest, self.limit)

    def report(self) -> dict[str, Any]:
        """Where the limit settled: `settled` is the whole limit held longest (the run's working concurrency),
        `final` the limit at the end, `lowest` the lowest, `cuts` and `overloads` the cuts and the refusals."""
        time_at = dict(self._time_at)
        if self._level_since is not None:
            level = int(self.limit)
            time_at[level] = time_at.get(level, 0.0) + self._clock() - self._level_since
        settled = max(sorted(time_at), key=lambda level: time_at[level]) if time_at else int(self.limit)
        return {
            "slots": self.slots,
            "settled": settled,
            "final": round(self.limit, 2),
            "lowest": round(self.lowest, 2),
            "cuts": self.decreases,
            "overloads": self.overloads,
        }

    def _set_limit(self, limit: float) -> None:
        if int(limit) != int(self.limit) and self._level_since is not None:
            now = self._clock()
            level = int(self.limit)
            self._time_at[level] = self._time_at.get(level, 0.0) + now - self._level_since
            self._level_since = now
        self.limit = limit

    def _wake(self) -> None:
        free = int(self.limit) - self.in_flight
        while free > 0 and self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                free -= 1
