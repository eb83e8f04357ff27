"""The `python` provider: call a function of the user's code with each case's input, sync or async."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from evalgate.contracts.cases import Case
from evalgate.errors import InputError
from evalgate.files.limits import MAX_CONCURRENCY
from evalgate.options import Option, up_to
from evalgate.providers.base import Provider
from evalgate.userfunc import TARGET_FORM, is_target, load_function


def _target_form(value: str) -> str | None:
    return None if is_target(value) else f"must look like {TARGET_FORM}"


class PythonProvider(Provider):
    """Calls `target(input)` (or `target(input, case)` when it takes a second positional parameter).

    Sync functions run in a thread pool with one thread per concurrency slot; async functions are awaited.
    """

    type: ClassVar[str] = "python"
    OPTIONS: ClassVar[dict[str, Option]] = {
        "target": Option(
            (str,),
            required=True,
            check=_target_form,
            help="path/to/file.py:function (relative to the config) or package.module:function",
        ),
        "kwargs": Option(
            (dict,), default=None, help="keyword arguments passed to the function on every call"
        ),
        "threads": Option(
            (int,),
            check=up_to(MAX_CONCURRENCY),
            help="threads for a sync function (default: the concurrency)",
        ),
    }

    def __init__(self, config: Any, base_dir: Path) -> None:
        super().__init__(config, base_dir)
        self.kwargs: dict[str, Any] = dict(self.options.get("kwargs") or {})
        self.function = load_function(
            self.options["target"], base_dir, what="provider target", file=config.file, line=config.line
        )
        self.is_async = _is_async(self.function)
        self.pass_case = _takes_case(self.function, self.kwargs)
        _check_callable(self.function, self.pass_case, self.kwargs, config)
        self._threads: ThreadPool | None = None

    async def start(self, slots: int, calls: int | None = None) -> None:
        if not self.is_async:
            self._threads = ThreadPool(self.options.get("threads") or slots)

    async def complete(self, case: Case) -> Any:
        args = (case.input, case) if self.pass_case else (case.input,)
        if self.is_async:
            return await self.function(*args, **self.kwargs)
        if self._threads is None:
            raise RuntimeError("the python provider was not started")
        result = await self._threads.run(functools.partial(self.function, *args, **self.kwargs))
        if inspect.isawaitable(result):  # a sync wrapper that returns a coroutine
            result = await result
        return result

    async def close(self) -> None:
        if self._threads is not None:
            self._threads.close()
            self._threads = None


class _Job:
    __slots__ = ("call", "future", "loop", "state")

    def __init__(self, call: Callable[[], Any], future: asyncio.Future[Any], loop: asyncio.AbstractEventLoop):
        self.call, self.future, self.loop = call, future, loop
        # queued -> running -> done; cancelled while queued: abandoned (never run); while running: orphaned
        self.state = "queued"


class ThreadPool:
    """Daemon threads running sync calls for the event loop.

    Unlike concurrent.futures, a call abandoned by the per-case timeout gets its stuck thread replaced, so
    the pool keeps its size; and a call that never returns does not block the interpreter's exit.
    """

    def __init__(self, size: int) -> None:
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads = 0
        for _ in range(size):
            self._add_thread()

    def _add_thread(self) -> None:
        with self._lock:
            self._threads += 1
        threading.Thread(target=self._work, name=f"evalgate-python-{self._threads}", daemon=True).start()

    async def run(self, call: Callable[[], Any]) -> Any:
        loop = asyncio.get_running_loop()
        job = _Job(call, loop.create_future(), loop)
        self._jobs.put(job)
        try:
            return await job.future
        except asyncio.CancelledError:
            with self._lock:
                stuck = job.state == "running"
                job.state = "orphaned" if stuck else "abandoned"
            if stuck:  # its thread ends once the call returns; this one takes its place
                self._add_thread()
            raise

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            with self._lock:
                if job.state == "abandoned":
                    continue
                job.state = "running"
            try:
                outcome, value = True, job.call()
            except BaseException as exc:  # handed to the runner, which records it as the case's error
                outcome, value = False, exc
            with self._lock:
                orphaned = job.state == "orphaned"
                job.state = "done"
                if orphaned:
                    self._threads -= 1
                    return
            with contextlib.suppress(RuntimeError):  # the event loop is already closed
                job.loop.call_soon_threadsafe(_settle, job.future, outcome, value)

    def close(self) -> None:
        """Let each idle thread end; threads still inside a call end when it returns."""
        with self._lock:
            threads = self._threads
        for _ in range(threads):
            self._jobs.put(None)


def _settle(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.cancelled():
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


def _is_async(function: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(
        getattr(function, "__call__", None)  # noqa: B004 - an object with an async __call__
    )


def _check_callable(
    function: Callable[..., Any], pass_case: bool, kwargs: dict[str, Any], config: Any
) -> None:
    """Fail now, not on every case, when the function cannot take the input (and case, and kwargs)."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return
    try:
        signature.bind(*((None, None) if pass_case else (None,)), **kwargs)
    except TypeError as exc:
        raise InputError(
            f"provider target {config.options['target']!r} cannot be called with the case input"
            f"{' and the given kwargs' if kwargs else ''} ({exc})",
            file=config.file,
            line=config.line,
        ) from None


def _takes_case(function: Callable[..., Any], kwargs: dict[str, Any]) -> bool:
    """Whether the function's second positional parameter is required or named `case`."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):  # some builtins have no signature: call them with the input only
        return False
    positional = [
        p
        for p in parameters
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name not in kwargs
    ]
    if len(positional) < 2:
        return False
    second = positional[1]
    return second.default is inspect.Parameter.empty or second.name == "case"
