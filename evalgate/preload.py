"""Imports started ahead, in a daemon thread, so they overlap a wait instead of lengthening the run.

An import is mostly CPU under the interpreter lock: two imports side by side take as long as one after the
other. What overlaps is an import and a wait: the provider's HTTP client (evalgate's http_client and h11, ~20 ms
of CPU) while the engine is imported and the datasets are read (`evalgate.providers.preload`; measured with
aiohttp, ~0.11 s, no faster than importing it on the main thread, nor slower: what it can overlap is CPU too),
and what scoring needs (numpy, ~0.06 s) while the calls are in flight
(`evalgate.pipeline`), when the event loop mostly waits. Measured (bench/llm_throughput.py's workload, 8 runs
each): numpy and Jinja2 imported on a thread beside 2,000 calls in flight added nothing measurable to the
calls' wall time; imported after them, 85 ms.

A failure is left to the code that imports the module for real, which reports it where it belongs; the thread
only warms Python's module cache (an import it has not finished makes that code wait for it through Python's
module lock, never import twice). A thread that cannot start (a process at its limit) leaves the imports to that
code too.

A fork taken while the thread is inside an import would give the child that module's import lock, held by a
thread the child does not have: the child's own import of the module would wait forever (code under test that
forks: multiprocessing's default on Linux). So a fork waits for the import under way to finish, and no import
starts while one is taken (os.register_at_fork; a subprocess that only executes a program is not held up).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import threading
from collections.abc import Iterable

_IMPORTING = threading.Lock()  # held by the thread for each import, and by a fork while it is taken
os.register_at_fork(
    before=_IMPORTING.acquire, after_in_parent=_IMPORTING.release, after_in_child=_IMPORTING.release
)


def import_ahead(modules: Iterable[str], *, name: str) -> None:
    """Import `modules`, in order, in a daemon thread named `name`; nothing when there is nothing to import."""
    todo = tuple(modules)
    if not todo:
        return
    with contextlib.suppress(RuntimeError):  # "can't start new thread"
        threading.Thread(target=_import_quietly, args=(todo,), name=name, daemon=True).start()


def _import_quietly(modules: tuple[str, ...]) -> None:
    for module in modules:
        with _IMPORTING, contextlib.suppress(Exception):
            importlib.import_module(module)
