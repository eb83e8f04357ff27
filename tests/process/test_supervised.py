"""run_supervised: a command in a forked child whose code and structured error come back through a pipe, for a
caller that lives on (the Action's entrypoint). Every ending without a report is non-zero."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from evalgate.process import interrupts, supervisor
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


def test_a_stop_signal_while_the_child_starts_is_passed_on_not_lost(monkeypatch) -> None:
    """The race that crashed an xdist worker: the child signals before the parent is back from fork. The
    supervisor's handler is in place before the fork, so the caller's handler (SIG_DFL, for a pytest worker's
    SIGTERM: death) never sees it, and the child gets it once the parent knows its pid."""
    parent = os.getpid()
    sent_read, sent_write = os.pipe()
    real_fork = os.fork

    def fork_then_lag() -> int:
        pid = real_fork()
        if pid != 0:
            os.read(sent_read, 1)  # the parent goes on only once the child's signal was sent
        return pid

    def command():
        signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTERM])
        os.kill(parent, signal.SIGTERM)  # the runner cancels the job while evalgate starts
        os.write(sent_write, b"x")
        received = signal.sigtimedwait([signal.SIGTERM], 5)
        return (128 + signal.SIGTERM if received else 0), None

    seen_by_caller: list[int] = []
    before = signal.signal(signal.SIGTERM, lambda signum, frame: seen_by_caller.append(signum))
    monkeypatch.setattr(os, "fork", fork_then_lag)
    try:
        ending = supervisor.run_supervised(command)
    finally:
        signal.signal(signal.SIGTERM, before)
        os.close(sent_read)
        os.close(sent_write)
    assert ending.signal == signal.SIGTERM and ending.code == 128 + signal.SIGTERM
    assert seen_by_caller == []


def test_a_ctrl_c_before_the_command_handles_it_is_exit_130_not_a_crash() -> None:
    """A Ctrl-C while evalgate starts (before the command installs its handlers): Python's own handler raises
    KeyboardInterrupt in the child, which is a stop by SIGINT (130) with one line, not a traceback and 4."""
    lines: list[str] = []
    before = signal.signal(
        signal.SIGINT, signal.default_int_handler
    )  # the CLI's, whatever the test runner set
    try:
        ending = supervisor.run_supervised(lambda: os.kill(os.getpid(), signal.SIGINT), stderr=lines.append)
    finally:
        signal.signal(signal.SIGINT, before)
    assert ending.code == 128 + signal.SIGINT and ending.reason is None
    assert lines == ["evalgate: stopped by SIGINT: nothing was judged"]


def test_a_stop_signal_the_command_raised_keeps_its_number() -> None:
    def command():
        raise interrupts.Interrupted(signal.SIGHUP)

    assert supervisor.run_supervised(command, stderr=lambda line: None).code == 128 + signal.SIGHUP


@pytest.mark.slow  # each case starts an interpreter
@pytest.mark.parametrize(
    ("stdout", "code", "expected"),
    [("buffered", 0, 0), ("buffered", 3, 3), ("broken", 0, ExitCode.BAD_INPUT), ("broken", 1, 1)],
)
def test_the_supervisor_ends_at_once_with_its_streams_flushed(stdout: str, code: int, expected: int) -> None:
    """`_end_at_once` skips Python's teardown (os._exit) but not the flush: text still in stdout's buffer
    arrives; a stream that cannot be flushed never lets a passing command exit 0."""
    script = (
        "import io, sys\n"
        "from evalgate.process import supervisor\n"
        "class Broken(io.StringIO):\n"
        "    def flush(self):\n"
        "        raise OSError('closed')\n"
        f"if {stdout!r} == 'broken':\n"
        "    sys.stdout = Broken()\n"
        "sys.stdout.write('kept in the buffer')\n"
        f"supervisor._end_at_once({code})\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == expected, result.stderr
    assert result.stdout == ("kept in the buffer" if stdout == "buffered" else "")


ENDING_PROBE = """
import atexit, sys
from pathlib import Path
from evalgate import userfunc
from evalgate.process import supervisor

atexit.register(lambda: sys.stdout.write("atexit ran\\n"))
if sys.argv[1] == "user code":
    Path("target.py").write_text("def predict(x):\\n    return x\\n")
    userfunc.load_function("target.py:predict", Path.cwd(), what="the python provider's target")
sys.stdout.write("buffered, ")
supervisor._exit_normally(3)
"""


@pytest.mark.slow  # each case starts an interpreter
@pytest.mark.parametrize("ran", ["user code", "none of the user's code"])
def test_the_cli_child_ends_with_its_atexit_handlers_and_its_output_either_way(ran: str, tmp_path) -> None:
    """With code of the user's the child ends as Python ends; without, it skips the teardown, never the atexit
    handlers, the flush or the code (the teardown's part is the next test's)."""
    result = subprocess.run(
        [sys.executable, "-c", ENDING_PROBE, ran], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 3, result.stderr
    assert result.stdout == "buffered, atexit ran\n"


@pytest.mark.slow  # starts evalgate
def test_a_file_the_code_under_test_leaves_open_is_complete_after_the_run(tmp_path) -> None:
    """The target's file, never closed, is flushed by the process's teardown, which a run that imported code of
    the user's keeps (with the quick end of a run without, the file is empty: checked)."""
    from tests.conftest import ROOT, write_suite

    write_suite(
        tmp_path,
        """
        suite: open-file
        datasets: [cases.jsonl]
        provider: {type: python, target: model.py:predict}
        metrics: [exact_match]
        cache: {enabled: false}
        """,
        {
            "cases.jsonl": "".join(
                f'{{"id": "c{i}", "input": "q{i}", "expected": "q{i}"}}\n' for i in range(20)
            ),
            "model.py": "LOG = open('calls.log', 'w')\n\n\ndef predict(x):\n    LOG.write(x + '\\n')\n    return x\n",
        },
    )
    result = subprocess.run(
        [sys.executable, "-m", "evalgate", "run", "-q"], cwd=tmp_path, capture_output=True, text=True,
        timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert sorted((tmp_path / "calls.log").read_text().split()) == sorted(f"q{i}" for i in range(20))
