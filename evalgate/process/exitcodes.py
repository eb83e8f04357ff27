"""Every exit code of the `evalgate` command and the Action, decided here and read everywhere.

docs/reference.md and the README show the same table (tests/process/test_exit_codes.py keeps them in step). A code other
than 0 never means "pass": any path that ends without a verdict (or a complete run, for `run`) is non-zero.
"""

from __future__ import annotations

import signal
from enum import IntEnum


class ExitCode(IntEnum):
    PASS = 0  # the gate passed (warnings allowed); `run`: every case ran and the results file is written
    FAIL = 1  # the gate failed: a regression, a breached threshold, or too many errors to trust the run
    BAD_INPUT = 2  # bad input or usage, or evalgate could not do its own job (an unwritable path): not judged
    INCOMPLETE = 3  # the run stopped early (budget spent, aborted): results written, marked incomplete
    NO_RESULT = (
        4  # the process ended before a result (the code under test ended it, a crash, an internal error)
    )


SIGNAL_BASE = 128  # stopped by signal N: exit 128 + N (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP), as shells do

# the signals that ask a run to stop: it stops scheduling, writes what it has (marked incomplete) and exits 128+N
STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)


def for_signal(signum: int) -> int:
    """The exit code of a process stopped by signal `signum`."""
    return SIGNAL_BASE + signum


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"
