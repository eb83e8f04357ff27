"""A watchdog for the event loop: an async target that blocks it (`time.sleep` inside `async def`) is interrupted.

The per-case timeout is an asyncio timer, and a blocked loop runs no timers: one blocking call would hang the
run forever. The loop beats (a callback every `limit / 4` seconds, at most every 0.5 s); a thread notices when
it has not beaten for longer than `limit` (the case timeout) and sends `WATCHDOG_SIGNAL` to the main thread,
whose handler raises `LoopBlocked` inside whatever blocks the loop: a sleep, a socket read, a lock and a busy
Python loop are all interrupted. The case is recorded as an error that says the target blocked the loop. Code
that cannot be interrupted (a C extension that never returns) is given `GIVE_UP_AFTER` tries; then the
watchdog reports it and ends the process (exit 4) under the command line, or only reports it elsewhere.

The watchdog needs the loop in the main thread (signal handlers run there) and a free WATCHDOG_SIGNAL; without
either it does not start.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Any

from evalgate.outbound import echo
from evalgate.process.exitcodes import ExitCode

WATCHDOG_SIGNAL: signal.Signals | None = getattr(signal, "SIGUSR2", None)  # None: not on this platform
GIVE_UP_AFTER = 3  # interruptions that did not free the loop before the watchdog stops trying


class LoopBlocked(BaseException):
    """Raised inside code that blocked the event loop for longer than the case timeout.

    A BaseException, like KeyboardInterrupt: a target's `except Exception` must not swallow it."""


class LoopWatchdog:
    """Use as `async with LoopWatchdog(limit):` around the part of a run where targets run on the loop."""

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self.interval = min(limit / 4, 0.5)
        self._beats = 0
        self._last_beat = time.monotonic()
        self._blocked_at_beat: int | None = None  # the beat the loop was stuck at when the signal was sent
        self._freed = 0  # blocked tasks interrupted
        self._interrupted: tuple[asyncio.Task | None, int] = (None, 0)  # the last one, and at which beat
        self._last_interrupt = float("-inf")
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._previous_handler: Callable[[int, FrameType | None], Any] | int | None = None

    async def __aenter__(self) -> LoopWatchdog:
        if (
            WATCHDOG_SIGNAL is None
            or threading.current_thread() is not threading.main_thread()
            or signal.getsignal(WATCHDOG_SIGNAL) not in (signal.SIG_DFL, None)
        ):
            return self
        self._previous_handler = signal.signal(WATCHDOG_SIGNAL, self._interrupt)
        self._loop = asyncio.get_running_loop()
        self._beat()
        self._thread = threading.Thread(target=self._watch, name="evalgate-loop-watchdog", daemon=True)
        self._thread.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._thread is None or WATCHDOG_SIGNAL is None:  # not started
            return
        self._stopped.set()
        self._thread.join()
        if self._timer is not None:
            self._timer.cancel()
        signal.signal(WATCHDOG_SIGNAL, self._previous_handler)

    def _beat(self) -> None:
        self._beats += 1
        self._last_beat = time.monotonic()
        self._timer = self._loop.call_later(self.interval, self._beat)

    def _watch(self) -> None:
        main = threading.main_thread().ident
        assert main is not None and WATCHDOG_SIGNAL is not None  # __aenter__ starts this thread only then
        fires, progress, next_fire = 0, None, 0.0
        while not self._stopped.wait(self.interval):
            if (self._beats, self._freed) != progress:  # the loop turned, or a blocked task was interrupted
                fires, progress = 0, (self._beats, self._freed)
            now = time.monotonic()
            if now - self._last_beat <= self.limit or now < next_fire:
                continue
            if fires >= GIVE_UP_AFTER:
                _report_stuck(
                    f"an async target has blocked the event loop for {now - self._last_beat:.0f}s and could "
                    "not be interrupted (a call that ignores signals, or code that catches BaseException?)"
                )
                return
            fires, next_fire = fires + 1, now + self.limit
            self._blocked_at_beat = self._beats
            signal.pthread_kill(main, WATCHDOG_SIGNAL)

    def _interrupt(self, signum: int, frame: FrameType | None) -> None:
        # only while the loop is still stuck, and only inside a task (a target), never in the loop's own code
        task = _current_task()
        if self._blocked_at_beat != self._beats or task is None:
            return
        now = time.monotonic()
        stalled = now - max(self._last_beat, self._last_interrupt)
        if (task, self._beats) != self._interrupted:  # a new blocker; the same one again has swallowed it
            self._freed += 1
            self._interrupted = (task, self._beats)
        self._last_interrupt = now
        raise LoopBlocked(
            f"the target blocked the event loop for {stalled:.1f}s (a blocking call such as time.sleep or a "
            "synchronous client inside an async function); await asynchronous calls, or make the target a plain "
            "function (it then runs in a thread)"
        )


def _current_task() -> asyncio.Task | None:
    try:
        return asyncio.current_task()
    except RuntimeError:
        return None


def _report_stuck(message: str) -> None:
    """Under the command line a stuck process can only end: say why first. Elsewhere (a library), only say it."""
    from evalgate.process import interrupts

    echo(f"evalgate: error: {message}; stopping")
    if interrupts.active():
        os._exit(ExitCode.NO_RESULT)
