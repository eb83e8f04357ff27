"""The `evalgate` process: a small supervisor that exits with the command's code only when the command reported one.

The code under test runs inside evalgate's process, and can end it: `os._exit(0)` from a target or one of its
threads, a C library's `exit()`, a crash in native code, the out-of-memory killer. The process's own exit status
then says nothing about the run (os._exit(0) would be a green check without a verdict). So `evalgate` forks
once at start-up, before any thread exists and before the engine is imported (about 1 ms): the child runs the
command and, when the command has finished (results and reports written), writes its exit code into a pipe; the
parent waits and exits with that code. A child that ended without reporting ended before a result: the parent
says so and exits 4 (or 128+N when signal N killed it). Every path that did not finish is non-zero.

The parent passes SIGINT, SIGTERM and SIGHUP on to the child (which stops the run cleanly, see
evalgate.process.interrupts; the same signal from the terminal reaching both counts once). Its handler is in place
before the fork, with the signals held back across it, so one that arrives while the child starts (an early
Ctrl-C, a cancelled job) is passed on once the child is there, never handled by the caller's handler (which would
kill the caller: SIGTERM's default). The child gets the caller's handlers back before it takes signals; a stop
signal that ends it before its command handles them (Ctrl-C at start-up) is exit 128+N, not a crash. The child
stays in the terminal's process group, so progress bars, prompts and Ctrl-C work as without the supervisor. A
child that reported but does not exit (a thread of the code under test that never returns keeps the interpreter
alive) is stopped after `EXIT_GRACE_S`. Without os.fork (Windows), the command runs in this process, unsupervised.

`run_supervised` is the same protection for a caller that stays alive after the command (the Action's entrypoint
calls the engine in-process this way): the command is a function run in the forked child, which reports its exit
code and its structured error (`InputError`'s message, file and line) through the pipe as one JSON line; the
child's stderr comes back through a second pipe, line by line, to a callback (the entrypoint echoes it, made
inert); the caller's signal handlers are restored afterwards, and a stop signal it passed on is in the Ending.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import json
import os
import select
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, NoReturn, TextIO

from evalgate.process.exitcodes import STOP_SIGNALS, ExitCode, for_signal, signal_name

REPORT_PREFIX = b"evalgate-exit "
MAX_REPORT_BYTES = 16 * 1024  # the report line: the code and the error, whose message is cut to fit
EXIT_GRACE_S = 5.0  # how long the command's process may take to end after it reported its exit code
PR_SET_PDEATHSIG = 1  # prctl(2)
POLL_S = 0.5  # how often the parent checks on a child whose pipe is still open (a grandchild may hold it)


@dataclass(frozen=True)
class Ending:
    """How a supervised command ended: its exit code (never 0 unless it reported 0), its structured error
    (`message`, `file`, `line`) when it reported one, why it ended without reporting, and the stop signal the
    supervisor received and passed on to it, if any."""

    code: int
    error: dict[str, Any] | None = None
    reason: str | None = None
    signal: int | None = None


def main() -> NoReturn:
    """The console script `evalgate` and `python -m evalgate`."""
    if not hasattr(os, "fork"):
        from evalgate import cli

        raise SystemExit(cli.main())
    # the supervisor runs nothing of the user's: it ends the moment its child has (~10 ms of every command)
    _end_at_once(run_supervised(_cli_command, exit_child=_exit_normally).code)


def _end_at_once(code: int) -> NoReturn:
    """End a process that ran no code of the user's without Python's teardown of its modules and objects
    (10-20 ms): the atexit handlers run and the standard streams are flushed, as at any exit; nothing else is
    left to finish (evalgate closes every file it writes; its threads are daemons). A stream that cannot be
    flushed (a closed pipe) is evalgate's failure to do its job: exit 2 for a command that passed."""
    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:
        code = code or ExitCode.BAD_INPUT
    os._exit(code)


def _cli_command() -> tuple[int, dict[str, Any] | None]:
    from evalgate import cli  # in the child: the supervisor forks before the engine is imported

    return cli.main(), None


def run_supervised(
    command: Callable[[], tuple[int, dict[str, Any] | None]],
    *,
    stderr: Callable[[str], None] | None = None,
    exit_child: Callable[[int], NoReturn] = os._exit,
) -> Ending:
    """Run `command` (returning its exit code and its structured error, or None) in a forked child and wait for
    it. With `stderr`, the child's standard error is sent back line by line to that callback. `exit_child` ends
    the child once it reported (os._exit by default: the caller's stack, its temporary folders included, is
    never unwound in the child)."""
    read_fd, write_fd = os.pipe()  # not inherited by programs the command starts (close-on-exec)
    err_read, err_write = os.pipe() if stderr is not None else (None, None)
    parent = os.getpid()
    forwarder = _Forwarder()
    previous = {signum: signal.signal(signum, forwarder.handle) for signum in STOP_SIGNALS}
    relay = None
    try:
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)  # held back until both sides are ready
        try:
            pid = os.fork()
            if pid == 0:
                os.close(read_fd)
                _start_child(parent, previous, err_read, err_write)
                _run_command(command, write_fd, exit_child, mask)
            forwarder.started(pid)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        os.close(write_fd)
        if err_read is not None and err_write is not None and stderr is not None:
            os.close(err_write)
            relay = threading.Thread(target=_relay_lines, args=(err_read, stderr), daemon=True)
            relay.start()
        ending = _ending(pid, read_fd)
    finally:
        _restore_handlers(previous)
    if relay is not None:  # a process the command started may still hold the pipe: do not wait for it long
        relay.join(EXIT_GRACE_S)
    return Ending(ending.code, ending.error, ending.reason, forwarder.first)


def _start_child(parent: int, handlers: dict[int, Any], err_read: int | None, err_write: int | None) -> None:
    """In the forked child, its signals still held back: the caller's `handlers` back, its stderr into the
    pipe to the parent (when the caller relays it), and its end tied to the parent's."""
    try:
        _restore_handlers(handlers)
        if err_read is not None and err_write is not None:
            os.close(err_read)
            os.dup2(err_write, 2)
            os.close(err_write)
            sys.stderr = _stderr_stream()
        _end_with(parent)
    except BaseException:  # the child never unwinds into the caller's frames (the caller's cleanups)
        traceback.print_exc()
        os._exit(ExitCode.NO_RESULT)


class _Forwarder:
    """The supervisor's handler of the stop signals: each is passed on to the child, once the child exists."""

    def __init__(self) -> None:
        self.pid: int | None = None
        self.received: list[int] = []

    def handle(self, signum: int, frame: Any) -> None:
        self.received.append(signum)
        if self.pid is not None:
            _forward(self.pid, signum)

    def started(self, pid: int) -> None:
        """The child is `pid`: pass on what arrived before (a signal arriving meanwhile may go twice, within
        the child's repeat window, never not at all)."""
        self.pid = pid
        for signum in list(self.received):
            _forward(pid, signum)

    @property
    def first(self) -> int | None:
        return self.received[0] if self.received else None


def _restore_handlers(handlers: dict[int, Any]) -> None:
    for signum, handler in handlers.items():
        signal.signal(signum, handler)


def _stderr_stream() -> TextIO:
    """A text stream on file descriptor 2 (the pipe to the parent), line by line."""
    return open(2, "w", encoding="utf-8", errors="backslashreplace", buffering=1, closefd=False)


def _relay_lines(fd: int, line_to: Callable[[str], None]) -> None:
    with open(fd, encoding="utf-8", errors="replace") as lines:
        for line in lines:
            line_to(line.rstrip("\n"))


def _exit_normally(code: int) -> NoReturn:
    """End the CLI's child. When it imported code of the user's (a python target, a custom scorer or
    transform: evalgate.userfunc), as Python ends: non-daemon threads waited for, atexit handlers run (tracing
    and logging libraries flush there), modules torn down (a file the code left open is flushed then). Every
    object is frozen first, so the teardown's garbage collections do not scan them all again (~30 ms of every
    command's exit; cyclic garbage is left to the process's end, which Python never promised to finalize
    anyway). Without code of the user's (an API provider's run, a gate), at once (`_end_at_once`)."""
    userfunc = sys.modules.get("evalgate.userfunc")  # not imported: no code of the user's was either
    if userfunc is None or not userfunc.loaded_user_code():
        _end_at_once(code)
    gc.freeze()
    raise SystemExit(code)


def _run_command(
    command: Callable[[], tuple[int, dict[str, Any] | None]],
    report_fd: int,
    exit_child: Callable[[int], NoReturn],
    mask: Iterable[int],
) -> NoReturn:
    """The child: take signals again (`mask`, the caller's), run the command, report its exit code (and error)
    to the parent, then exit."""
    pipe = os.fstat(report_fd)
    # a process the code under test forks (multiprocessing) must not hold the pipe, nor report for us
    os.register_at_fork(after_in_child=lambda: _close(report_fd))
    error: dict[str, Any] | None = None
    try:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        code, error = command()
    except SystemExit as exc:  # argparse: --help, --version, usage errors
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else ExitCode.BAD_INPUT)
    except KeyboardInterrupt as exc:  # a stop signal before the command handles them (Ctrl-C at start-up)
        signum = getattr(exc, "signum", signal.SIGINT)  # evalgate.process.interrupts.Interrupted carries it
        print(f"evalgate: stopped by {signal_name(signum)}: nothing was judged", file=sys.stderr)
        code = for_signal(signum)
    except BaseException:  # a bug of the caller's command: never a pass
        traceback.print_exc()
        code = ExitCode.NO_RESULT
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    with contextlib.suppress(OSError):
        same = os.fstat(report_fd)
        if (same.st_dev, same.st_ino) == (pipe.st_dev, pipe.st_ino):  # not closed and reused by user code
            os.write(report_fd, _report_line(int(code), error))
    exit_child(code)


def _report_line(code: int, error: dict[str, Any] | None) -> bytes:
    """`evalgate-exit CODE [ERROR-JSON]\\n`, within MAX_REPORT_BYTES (a long message is cut)."""
    line = REPORT_PREFIX + str(code).encode()
    if error is not None:
        error = dict(error)
        error["message"] = str(error.get("message", ""))[: MAX_REPORT_BYTES // 8]
        line += b" " + json.dumps(error, ensure_ascii=True).encode()
    return line + b"\n"


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


def _ending(pid: int, read_fd: int) -> Ending:
    """Wait for the child `pid`: the exit code it reported, else what its ending means (never 0)."""
    report = _read_report(pid, read_fd)
    status = _wait(pid, EXIT_GRACE_S if report is not None else None)
    if report is not None:
        reported, error = report
        if status is None:
            print(
                f"evalgate: note: the command finished, but its process was still running {EXIT_GRACE_S:g}s "
                "later (a thread of the code under test that never returns?); it was stopped",
                file=sys.stderr,
                flush=True,
            )
            return Ending(reported, error)
        # never greener than either: a clean report followed by a failed exit (say, a flush) is a failure
        return Ending(reported if reported != 0 else _code_of(status), error)
    assert status is not None
    if os.WIFSIGNALED(status):
        signum = os.WTERMSIG(status)
        reason = f"the run was killed by {signal_name(signum)} before it finished; nothing was judged" + (
            " (out of memory?)" if signum == signal.SIGKILL else ""
        )
        print(f"evalgate: error: {reason}", file=sys.stderr, flush=True)
        return Ending(for_signal(signum), reason=reason)
    reason = (
        f"the run ended before a result, its process exited with code {os.waitstatus_to_exitcode(status)} "
        "before the command finished (did the code under test call os._exit() or exit(), or crash?); nothing "
        "was judged"
    )
    print(f"evalgate: error: {reason}", file=sys.stderr, flush=True)
    return Ending(ExitCode.NO_RESULT, reason=reason)


def _forward(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def _read_report(pid: int, read_fd: int) -> tuple[int, dict[str, Any] | None] | None:
    """The code (and error) the child wrote, or None once it exited without writing them."""
    received = b""
    while len(received) <= MAX_REPORT_BYTES:
        readable, _, _ = select.select([read_fd], [], [], POLL_S)
        if readable:
            chunk = os.read(read_fd, 4096)
            received += chunk
            if not chunk or b"\n" in received:
                break
        elif _ended(pid):
            readable, _, _ = select.select([read_fd], [], [], 0)  # it ended: read what it wrote, if anything
            received += os.read(read_fd, MAX_REPORT_BYTES) if readable else b""
            break
    os.close(read_fd)
    line, newline, _ = received.partition(b"\n")
    if not newline or not line.startswith(REPORT_PREFIX):
        return None
    code, _, error = line[len(REPORT_PREFIX) :].partition(b" ")
    try:
        return int(code), _error_of(error)
    except ValueError:
        return None


def _error_of(data: bytes) -> dict[str, Any] | None:
    """The child's structured error: {message, file, line}, None when it sent none (or something else)."""
    if not data:
        return None
    error = json.loads(data)
    if not isinstance(error, dict) or not isinstance(error.get("message"), str):
        return None
    file, line = error.get("file"), error.get("line")
    return {
        "message": error["message"],
        "file": file if isinstance(file, str) else None,
        "line": line if isinstance(line, int) and not isinstance(line, bool) else None,
    }


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
