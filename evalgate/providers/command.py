"""The `command` provider: long-lived worker processes, one per concurrency slot, speaking JSON Lines.

Protocol: evalgate writes one request a line to the worker's stdin,
`{"id": ..., "input": ..., "metadata": ...}`, and reads one response a line from its stdout,
`{"id": ..., "output": ...}` or `{"id": ..., "error": "..."}`. A worker that cannot start, exits, hangs (its
case is cancelled by the runner's timeout), prints a line that is not JSON or answers another id is killed;
that case gets an error and the next case starts a fresh worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shlex
import signal
from collections import deque
from pathlib import Path
from typing import Any, ClassVar

from evalgate.contracts.cases import Case
from evalgate.errors import InputError
from evalgate.files.fileio import real_path
from evalgate.options import Option, seconds
from evalgate.providers.base import Provider

MAX_LINE = 32 * 1024 * 1024  # the longest response line read from a worker
STDERR_KEPT = 20  # lines of a worker's stderr kept for error messages
STDERR_SHOWN = 5
START_FAILURES_TO_GIVE_UP = 3  # workers in a row that never answered before the command is declared broken
SHUTDOWN_GRACE_S = 2.0


class WorkerFailed(Exception):
    """The worker process failed: it could not start, exited, or broke the protocol. It is restarted."""


class WorkerError(Exception):
    """The worker answered `{"error": ...}` for this case. The worker keeps running."""


def _command_form(value: Any) -> str | None:
    if isinstance(value, str):
        try:
            value = shlex.split(value)
        except ValueError as exc:
            return f"cannot be split like a shell command ({exc})"
    if not value:
        return "must not be empty"
    if not all(isinstance(part, str) for part in value):
        return "must be a list of strings"
    return None


class CommandProvider(Provider):
    """A pool of JSON Lines worker processes; each case is sent to one idle worker."""

    type: ClassVar[str] = "command"
    OPTIONS: ClassVar[dict[str, Option]] = {
        "command": Option(
            (list, str),
            required=True,
            check=_command_form,
            help='the worker command, a list such as ["python", "worker.py"] or a string split like a shell',
        ),
        "env": Option((dict,), help="environment variables added for the workers"),
        "cwd": Option(
            (str,), help="the workers' folder, relative to the config (default: the config's folder)"
        ),
        "startup_timeout": Option(
            (float,),
            check=seconds,
            help="seconds a new worker may take to give its first answer (default: only the case timeout)",
        ),
    }

    def __init__(self, config: Any, base_dir: Path) -> None:
        super().__init__(config, base_dir)
        command = self.options["command"]
        self.argv: list[str] = shlex.split(command) if isinstance(command, str) else list(command)
        self.cwd = real_path(base_dir / (self.options.get("cwd") or "."))
        if not self.cwd.is_dir():
            raise InputError(
                f"provider cwd {self.options['cwd']!r} is not a folder (looked for {self.cwd})",
                file=config.file,
                line=config.line,
            )
        extra = {str(key): str(value) for key, value in (self.options.get("env") or {}).items()}
        # for Python workers: unbuffered stdout (a print() without flush would otherwise never reach us) and
        # UTF-8 whatever the locale; requests are ASCII JSON, responses are read as UTF-8
        self.env = {"PYTHONUNBUFFERED": "1", "PYTHONIOENCODING": "utf-8", **os.environ, **extra}
        self.startup_timeout: float | None = self.options.get("startup_timeout")
        self._workers: list[_Worker] = []
        self._idle: asyncio.Queue[_Worker] = asyncio.Queue()
        self._reaping: set[asyncio.Task[None]] = set()
        self._failed_starts = 0
        self._ever_answered = False
        self._broken: str | None = None

    async def start(self, slots: int, calls: int | None = None) -> None:
        """Start one worker per slot; a command that cannot be run at all is a config error."""
        self._workers = [_Worker(self) for _ in range(slots)]
        self._idle = asyncio.Queue()
        for worker in self._workers:
            self._idle.put_nowait(worker)
        spawned = await asyncio.gather(*(worker.spawn() for worker in self._workers), return_exceptions=True)
        problems = [result for result in spawned if isinstance(result, BaseException)]
        if len(problems) == len(spawned):
            await self.close()
            raise InputError(
                f"cannot start the provider command {shlex.join(self.argv)!r} in {self.cwd}: {problems[0]}",
                file=self.config.file,
                line=self.config.line,
            )

    async def complete(self, case: Case) -> Any:
        if not self._workers:
            raise RuntimeError("the command provider was not started")
        if self._broken:
            raise WorkerFailed(self._broken)
        worker = await self._idle.get()
        if self._broken:  # it broke while this case waited for a worker
            self._idle.put_nowait(worker)
            raise WorkerFailed(self._broken)
        try:
            output = await worker.request(case)
        except WorkerError:
            self._answered()
            raise
        except BaseException as exc:  # also a cancellation by the runner's timeout: the worker may be stuck
            self._failed(worker, exc)
            raise
        else:
            self._answered()
            return output
        finally:
            self._idle.put_nowait(worker)

    def _answered(self) -> None:
        self._ever_answered = True
        self._failed_starts = 0

    def _failed(self, worker: _Worker, exc: BaseException) -> None:
        never_answered = worker.answers == 0
        reason = str(exc) if isinstance(exc, WorkerFailed) else "it gave no answer before the case timeout"
        tail = worker.stderr_tail()
        self._retire(worker)
        if never_answered and not self._ever_answered and self._broken is None:
            self._failed_starts += 1
            if self._failed_starts >= START_FAILURES_TO_GIVE_UP:
                if tail and tail not in reason:
                    reason += f"; stderr: {tail}"
                self._broken = (
                    f"the worker command {shlex.join(self.argv)!r} failed {self._failed_starts} times in a "
                    f"row without answering once, so it is not started again (last: {reason})"
                )

    def _retire(self, worker: _Worker) -> None:
        """Kill the worker's process now; it is reaped in the background and respawned on next use."""
        process, reader = worker.detach()
        if process is None:
            return
        _kill_group(process)
        task = asyncio.get_running_loop().create_task(_reap(process, reader))
        self._reaping.add(task)
        task.add_done_callback(self._reaping.discard)

    async def close(self) -> None:
        """Close every worker's stdin, give them a moment to exit, then kill what is left."""
        await asyncio.gather(*(worker.shutdown() for worker in self._workers), *list(self._reaping))
        self._workers = []


class _Worker:
    """One worker process (respawned when it failed), used by one case at a time."""

    def __init__(self, pool: CommandProvider) -> None:
        self.pool = pool
        self.process: asyncio.subprocess.Process | None = None
        self.reader: asyncio.Task[None] | None = None
        self.stderr: deque[str] = deque(maxlen=STDERR_KEPT)
        self.answers = 0
        self.spawned_at = 0.0

    async def spawn(self) -> None:
        self.stderr = deque(maxlen=STDERR_KEPT)
        self.answers = 0
        self.spawned_at = asyncio.get_running_loop().time()
        self.process = await asyncio.create_subprocess_exec(
            *self.pool.argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=self.pool.cwd,
            env=self.pool.env,
            limit=MAX_LINE,
            start_new_session=True,  # its own process group, so a kill reaches the worker's children too
        )
        self.reader = asyncio.get_running_loop().create_task(_keep_stderr(self.process, self.stderr))

    def detach(self) -> tuple[asyncio.subprocess.Process | None, asyncio.Task[None] | None]:
        process, reader = self.process, self.reader
        self.process = self.reader = None
        return process, reader

    def stderr_tail(self) -> str:
        lines = [line for line in self.stderr if line.strip()][-STDERR_SHOWN:]
        return " | ".join(lines)[-1000:]

    def _failure(self, problem: str) -> WorkerFailed:
        tail = self.stderr_tail()
        return WorkerFailed(f"{problem}; stderr: {tail}" if tail else problem)

    async def request(self, case: Case) -> Any:
        """Send one case and read its answer; raise WorkerFailed when the process or protocol broke."""
        if self.process is None or self.process.returncode is not None:
            try:
                await self.spawn()
            except OSError as exc:
                raise WorkerFailed(f"cannot start the worker {shlex.join(self.pool.argv)!r}: {exc}") from None
        process = self.process
        assert process is not None and process.stdin is not None and process.stdout is not None
        message = {"id": case.id, "input": case.input, "metadata": case.metadata}
        line = json.dumps(message) + "\n"
        try:
            process.stdin.write(line.encode("ascii"))
            await process.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            raise await self._exited(process, "before reading its request") from None
        response = await self._read_response(process)
        if not isinstance(response, dict) or "id" not in response:
            raise self._failure(f"the worker answered {_short(response)}, expected an object with an id")
        if str(response["id"]) != case.id:
            raise self._failure(
                f"the worker answered id {response['id']!r} to the request for id {case.id!r}"
            )
        self.answers += 1
        if response.get("error") is not None:
            raise WorkerError(str(response["error"]))
        if "output" not in response:
            raise WorkerError('the worker\'s response has neither "output" nor "error"')
        return response["output"]

    async def _read_response(self, process: asyncio.subprocess.Process) -> Any:
        startup_timeout = self.pool.startup_timeout
        first = self.answers == 0 and startup_timeout is not None
        deadline = self.spawned_at + startup_timeout if startup_timeout is not None and first else None
        assert process.stdout is not None  # spawned with stdout=PIPE
        while True:
            try:
                async with asyncio.timeout_at(deadline):
                    raw = await process.stdout.readline()
            except TimeoutError:
                raise self._failure(
                    f"the worker gave no answer within {self.pool.startup_timeout:g}s of starting "
                    "(startup_timeout)"
                ) from None
            except ValueError:  # the line is longer than MAX_LINE
                raise self._failure(f"the worker printed a line longer than {MAX_LINE} bytes") from None
            if not raw:
                raise await self._exited(process, "before answering")
            text = raw.decode("utf-8", errors="replace").strip()
            if text:
                break
        try:
            return json.loads(text)
        except ValueError:
            raise self._failure(f"the worker printed a line that is not JSON: {_short(text)}") from None

    async def _exited(self, process: asyncio.subprocess.Process, when: str) -> WorkerFailed:
        try:
            code = await asyncio.wait_for(process.wait(), 1.0)
        except TimeoutError:
            return self._failure(f"the worker closed its stdout {when}")
        if self.reader is not None:  # let the last stderr lines (a traceback) arrive
            await asyncio.wait({self.reader}, timeout=0.5)
        if code < 0:
            with contextlib.suppress(ValueError):
                return self._failure(f"the worker was killed by {signal.Signals(-code).name} {when}")
        return self._failure(f"the worker exited with code {code} {when}")

    async def shutdown(self) -> None:
        process, reader = self.detach()
        if process is None:
            return
        if process.returncode is None and process.stdin is not None:
            process.stdin.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), SHUTDOWN_GRACE_S)
        _kill_group(process)
        await _reap(process, reader)


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return repr(text[:200] + ("..." if len(text) > 200 else ""))


def _kill_group(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


async def _reap(process: asyncio.subprocess.Process, reader: asyncio.Task[None] | None) -> None:
    await process.wait()
    if reader is not None:
        done, _ = await asyncio.wait({reader}, timeout=1.0)
        if not done:  # a grandchild outside the group still holds stderr open
            reader.cancel()


async def _keep_stderr(process: asyncio.subprocess.Process, kept: deque[str]) -> None:
    """Read the worker's stderr to the end (so it never blocks on a full pipe), keeping the last lines."""
    assert process.stderr is not None
    while True:
        try:
            raw = await process.stderr.readline()
        except ValueError:  # an overlong line was dropped
            continue
        if not raw:
            return
        kept.append(raw.decode("utf-8", errors="replace").rstrip())
