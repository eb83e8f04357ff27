"""The `python` provider: call a function of the user's code with each case's input, sync or async."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import importlib
import importlib.util
import inspect
import queue
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from evalgate.errors import InputError
from evalgate.model import Case
from evalgate.options import Option, positive
from evalgate.providers.base import Provider


def _target_form(value: Any) -> str | None:
    module, sep, name = value.rpartition(":")
    return (
        None
        if sep and module and name
        else "must look like path/to/file.py:function or package.module:function"
    )


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
            (int,), check=positive, help="threads for a sync function (default: the concurrency)"
        ),
    }

    def __init__(self, config: Any, base_dir: Path) -> None:
        super().__init__(config, base_dir)
        self.kwargs: dict[str, Any] = dict(self.options.get("kwargs") or {})
        self.function = load_target(self.options["target"], base_dir, config)
        self.is_async = _is_async(self.function)
        self.pass_case = _takes_case(self.function, self.kwargs)
        _check_callable(self.function, self.pass_case, self.kwargs, config)
        self._threads: ThreadPool | None = None

    async def start(self, slots: int) -> None:
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


def load_target(target: str, base_dir: Path, config: Any) -> Callable[..., Any]:
    """Import `module_or_path:function` (attributes may be dotted: `module:Class.method`).

    A path (ending in .py or holding a slash) is relative to `base_dir`. `base_dir` (the config's folder)
    goes on sys.path, so the target can import the project's packages (`from models.images import ...`),
    and so does a path target's own folder, so it can import its neighbours.
    """
    where, _, attribute = target.rpartition(":")

    def fail(problem: str) -> InputError:
        return InputError(f"provider target {target!r}: {problem}", file=config.file, line=config.line)

    try:
        _prepend_sys_path(base_dir)
        if where.endswith(".py") or "/" in where or "\\" in where:
            module = _import_path((base_dir / where).resolve(), fail)
        else:
            module = importlib.import_module(where)
    except InputError:
        raise
    except (Exception, SystemExit) as exc:
        raise fail(f"importing it failed with {type(exc).__name__}: {exc}") from None
    value: Any = module
    for part in attribute.split("."):
        if not hasattr(value, part):
            raise fail(f"{getattr(value, '__name__', where)!r} has no attribute {part!r}")
        value = getattr(value, part)
    if not callable(value):
        raise fail(f"{attribute!r} is a {type(value).__name__}, not a function")
    return value


def _import_path(path: Path, fail: Callable[[str], InputError]) -> Any:
    if not path.is_file():
        raise fail(f"file not found (looked for {path})")
    name = "evalgate_target_" + hashlib.sha256(str(path).encode()).hexdigest()[:12]
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise fail(f"cannot import {path} as Python code")
    module = importlib.util.module_from_spec(spec)
    _prepend_sys_path(path.parent)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def _prepend_sys_path(folder: Path) -> None:
    entry = str(folder)
    if entry not in sys.path:
        sys.path.insert(0, entry)


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
