"""The `evalgate` process: a small supervisor that exits with the command's code only when the command reported one.

The code under test runs inside evalgate's process, and can end it: `os._exit(0)` from a target or one of its
threads, a C library's `exit()`, a crash in native code, the out-of-memory killer. The process's own exit status
then says nothing about the run (os._exit(0) would be a green check without a verdict). So `evalgate` forks
once at start-up, before any thread exists and before the engine is imported (about 1 ms): the child runs the
command and, when the command has finished (results and reports written), writes its exit code into a pipe; the
parent waits and exits with that code. A child that ended without reporting ended before a result: the parent
says so and exits 4 (or 128+N when signal N killed it). Every path that did not finish is non-zero.

The parent passes SIGINT, SIGTERM and SIGHUP on to the child (which stops the run cleanly, see
evalgate.process.interrupts; the same signal from the terminal reaching both counts once). The child stays in the
terminal's process group, so progress bars, prompts and Ctrl-C work as without the supervisor. A child that
reported but does not exit (a thread of the code under test that never returns keeps the interpreter alive)
is stopped after `EXIT_GRACE_S`. Without os.fork (Windows), the command runs in this process, unsupervised.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
import threading
from typing import NoReturn

from evalgate.process.exitcodes import STOP_SIGNALS, ExitCode, for_signal, signal_name

REPORT_PREFIX = b"evalgate-exit "
EXIT_GRACE_S = 5.0  # how long the command's process may take to end after it reported its exit code
PR_SET_PDEATHSIG = 1  # prctl(2)
POLL_S = 0.5  # how often the parent checks on a child whose pipe is still open (a grandchild may hold it)


def main() -> NoReturn:
    """The console script `evalgate` and `python -m evalgate`."""
    if not hasattr(os, "fork"):
        from evalgate import cli

        raise SystemExit(cli.main())
    read_fd, write_fd = os.pipe()  # not inherited by programs the command starts (close-on-exec)
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        _end_with(parent)
        _run_command(write_fd)
    os.close(write_fd)
    raise SystemExit(supervise(pid, read_fd))


def _run_command(report_fd: int) -> NoReturn:
    """The child: run the command, report its exit code to the parent, then exit normally."""
    pipe = os.fstat(report_fd)
    # a process the code under test forks (multiprocessing) must not hold the pipe, nor report for us
    os.register_at_fork(after_in_child=lambda: _close(report_fd))
    from evalgate import cli

    try:
        code = cli.main()
    except SystemExit as exc:  # argparse: --help, --version, usage errors
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else ExitCode.BAD_INPUT)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    with contextlib.suppress(OSError):
        same = os.fstat(report_fd)
        if (same.st_dev, same.st_ino) == (pipe.st_dev, pipe.st_ino):  # not closed and reused by user code
            os.write(report_fd, REPORT_PREFIX + str(int(code)).encode() + b"\n")
    raise SystemExit(code)


def _end_with(parent: int) -> None:
    """Linux: SIGTERM the command when the supervisor dies (killed with SIGKILL), so it never runs on alone."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # it died before prctl
        os.kill(os.getpid(), signal.SIGTERM)


def _close(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)


def supervise(pid: int, read_fd: int) -> int:
    """Wait for the child `pid`; the exit code it reported, else what its ending means (never 0)."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, lambda signum, frame: _forward(pid, signum))
    reported = _read_report(pid, read_fd)
    status = _wait(pid, EXIT_GRACE_S if reported is not None else None)
    if reported is not None:
        if status is None:
            print(
                f"evalgate: note: the command finished, but its process was still running {EXIT_GRACE_S:g}s "
                "later (a thread of the code under test that never returns?); it was stopped",
                file=sys.stderr,
                flush=True,
            )
            return reported
        # never greener than either: a clean report followed by a failed exit (say, a flush) is a failure
        return reported if reported != 0 else _code_of(status)
    assert status is not None
    if os.WIFSIGNALED(status):
        signum = os.WTERMSIG(status)
        print(
            f"evalgate: error: the run was killed by {signal_name(signum)} before it finished; nothing was "
            "judged" + (" (out of memory?)" if signum == signal.SIGKILL else ""),
            file=sys.stderr,
            flush=True,
        )
        return for_signal(signum)
    print(
        f"evalgate: error: the run ended before a result, its process exited with code "
        f"{os.waitstatus_to_exitcode(status)} before the command finished (did the code under test call "
        "os._exit() or exit(), or crash?); nothing was judged",
        file=sys.stderr,
        flush=True,
    )
    return ExitCode.NO_RESULT


def _forward(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def _read_report(pid: int, read_fd: int) -> int | None:
    """The code the child wrote, or None once it exited without writing one."""
    received = b""
    while True:
        readable, _, _ = select.select([read_fd], [], [], POLL_S)
        if readable:
            chunk = os.read(read_fd, 64)
            received += chunk
            if not chunk or b"\n" in received:
                break
        elif _ended(pid):
            readable, _, _ = select.select([read_fd], [], [], 0)  # it ended: read what it wrote, if anything
            received += os.read(read_fd, 64) if readable else b""
            break
    os.close(read_fd)
    line = received.partition(b"\n")[0]
    if not line.startswith(REPORT_PREFIX):
        return None
    try:
        return int(line[len(REPORT_PREFIX) :])
    except ValueError:
        return None


def _ended(pid: int) -> bool:
    """Whether the child has ended, without reaping it (where os.waitid exists; elsewhere EOF on the pipe tells)."""
    if not hasattr(os, "waitid"):
        return False
    return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None


def _wait(pid: int, timeout: float | None) -> int | None:
    """The child's wait status; with a timeout, kill it when it has not ended by then (and return None).

    A timer thread does the killing (the parent forks no more, so a thread is safe here), so the wait itself
    blocks and returns the moment the child ends."""
    if timeout is None:
        return os.waitpid(pid, 0)[1]
    killed = threading.Event()

    def kill() -> None:
        killed.set()
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)

    timer = threading.Timer(timeout, kill)
    timer.start()
    status = os.waitpid(pid, 0)[1]
    timer.cancel()
    return None if killed.is_set() else status


def _code_of(status: int) -> int:
    if os.WIFSIGNALED(status):
        return for_signal(os.WTERMSIG(status))
    return os.waitstatus_to_exitcode(status)
