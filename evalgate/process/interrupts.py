"""Stop signals (Ctrl-C, SIGTERM, SIGHUP) for a command: the first stops a run cleanly, a later one stops now.

While cases run, the runner registers a graceful stop (`while_running`): the first stop signal makes it stop
scheduling, finish the cases in flight as "aborted: interrupted by SIGINT", and let the command write the results
(marked incomplete) and exit 128+N. Outside a run, or on a second signal, `Interrupted` (a KeyboardInterrupt) is
raised where the main thread is. The same signal delivered twice within `REPEAT_WINDOW_S` (the terminal's Ctrl-C
reaches both the supervisor, which passes it on, and the command) counts once.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

from evalgate.process.exitcodes import STOP_SIGNALS, signal_name

REPEAT_WINDOW_S = 0.5


class Interrupted(KeyboardInterrupt):
    """A stop signal arrived outside a run (or a second one during it): stop now."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal_name(signum))
        self.signum = signum


class StopSignals:
    """The handler of the stop signals while a command runs (installed by `handled`)."""

    def __init__(self) -> None:
        self.previous: dict[int, Any] = {}  # the handlers before, restored after the command (and in forks)
        self.received: int | None = None  # the first stop signal, if any
        self._last = float("-inf")
        self._graceful: Callable[[int], None] | None = None

    def handle(self, signum: int, frame: FrameType | None) -> None:
        now = time.monotonic()
        repeated = now - self._last < REPEAT_WINDOW_S
        self._last = now
        if repeated:
            return
        if self.received is None and self._graceful is not None:
            self.received = signum
            self._graceful(signum)  # it must not print: the main thread may be inside a write to stderr
            return
        self.received = self.received or signum
        raise Interrupted(signum)


_active: StopSignals | None = None


@contextlib.contextmanager
def handled() -> Iterator[StopSignals | None]:
    """Handle the stop signals for the duration of a command (main thread only; elsewhere a no-op)."""
    global _active
    if threading.current_thread() is not threading.main_thread() or _active is not None:
        yield _active
        return
    stops = StopSignals()
    stops.previous = {signum: signal.signal(signum, stops.handle) for signum in STOP_SIGNALS}
    _active = stops
    try:
        yield stops
    finally:
        _restore()


def _restore() -> None:
    global _active
    if _active is not None:
        for signum, handler in _active.previous.items():
            signal.signal(signum, handler)
        _active = None


# a process the code under test forks (a multiprocessing worker) is not the command: its signals are its own
os.register_at_fork(after_in_child=_restore)


def active() -> bool:
    """Whether a command handles the stop signals (the command line), rather than a library caller."""
    return _active is not None


def received() -> int | None:
    """The stop signal this command received, if any."""
    return _active.received if _active is not None else None


@contextlib.contextmanager
def while_running(stop: Callable[[int], None]) -> Iterator[None]:
    """Call `stop(signum)` (from the signal handler, in the main thread) on the first stop signal of this block.

    A run that starts after a stop signal was received is stopped at once."""
    stops = _active
    if stops is None:
        yield
        return
    if stops.received is not None:
        stop(stops.received)
    stops._graceful = stop
    try:
        yield
    finally:
        stops._graceful = None
