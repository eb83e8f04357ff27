"""run_supervised: a command in a forked child whose code and structured error come back through a pipe, for a
caller that lives on (the Action's entrypoint). Every ending without a report is non-zero."""

from __future__ import annotations

import os
import signal
import sys

from evalgate.process import supervisor
from evalgate.process.exitcodes import ExitCode


def test_the_code_and_the_structured_error_come_back() -> None:
    error = {"message": "bad: thing", "file": "a b/evalgate.yaml", "line": 7}
    ending = supervisor.run_supervised(lambda: (2, error))
    assert (ending.code, ending.error, ending.reason, ending.signal) == (2, error, None, None)


def test_a_long_message_is_cut_but_still_arrives() -> None:
    ending = supervisor.run_supervised(lambda: (2, {"message": "x" * 100_000, "file": None, "line": None}))
    assert ending.code == 2 and ending.error is not None and 1000 < len(ending.error["message"]) < 100_000


def test_a_command_that_ends_the_process_is_never_green() -> None:
    ending = supervisor.run_supervised(lambda: os._exit(0))
    assert ending.code == ExitCode.NO_RESULT and "before the command finished" in (ending.reason or "")
    killed = supervisor.run_supervised(lambda: os.kill(os.getpid(), signal.SIGKILL))
    assert killed.code == 128 + signal.SIGKILL and "killed by SIGKILL" in (killed.reason or "")


def test_a_command_that_raises_is_never_green() -> None:
    def broken():
        raise ValueError("bug")

    assert supervisor.run_supervised(broken).code == ExitCode.NO_RESULT


def test_a_malformed_error_arrives_in_its_documented_shape() -> None:
    ending = supervisor.run_supervised(lambda: (2, {"message": 5, "line": "7"}))
    assert ending.code == 2 and ending.error == {"message": "5", "file": None, "line": None}
    ending = supervisor.run_supervised(lambda: (2, {"message": "m", "file": 3, "line": True}))
    assert ending.error == {"message": "m", "file": None, "line": None}


def test_the_childs_stderr_is_relayed_and_the_callers_handlers_restored() -> None:
    lines: list[str] = []
    before = signal.getsignal(signal.SIGTERM)

    def command():
        print("one\ntwo", file=sys.stderr)
        return 0, None

    assert supervisor.run_supervised(command, stderr=lines.append).code == 0
    assert lines == ["one", "two"] and signal.getsignal(signal.SIGTERM) is before


def test_a_stop_signal_is_passed_on_and_reported() -> None:
    parent = os.getpid()

    def command():
        signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTERM])
        os.kill(parent, signal.SIGTERM)  # the runner cancels the job
        received = signal.sigtimedwait([signal.SIGTERM], 5)  # the supervisor passes it on
        return (128 + signal.SIGTERM if received else 0), None

    ending = supervisor.run_supervised(command)
    assert ending.signal == signal.SIGTERM and ending.code == 128 + signal.SIGTERM
