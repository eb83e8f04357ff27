"""Imports started ahead, in a daemon thread, so they overlap a wait instead of lengthening the run.

An import is mostly CPU under the interpreter lock: two imports side by side take as long as one after the
other. What overlaps is an import and a wait: the provider's client library (aiohttp, ~0.1 s, part of it reading
the CA certificates without the lock) while the datasets are read (`evalgate.providers.preload`), and what
scoring needs (numpy, ~0.06 s) while the calls are in flight (`evalgate.pipeline`), when the event loop mostly
waits. Measured (bench/llm_throughput.py's workload, 8 runs each): numpy and Jinja2 imported on a thread beside
2,000 calls in flight added nothing measurable to the calls' wall time; imported after them, 85 ms.

A failure is left to the code that imports the module for real, which reports it where it belongs; the thread
only warms Python's module cache (an import it has not finished makes that code wait for it through Python's
module lock, never import twice).
"""

from __future__ import annotations

import contextlib
import importlib
import threading
from collections.abc import Iterable


def import_ahead(modules: Iterable[str], *, name: str) -> None:
    """Import `modules`, in order, in a daemon thread named `name`; nothing when there is nothing to import."""
    todo = tuple(modules)
    if todo:
        threading.Thread(target=_import_quietly, args=(todo,), name=name, daemon=True).start()


def _import_quietly(modules: tuple[str, ...]) -> None:
    for module in modules:
        with contextlib.suppress(Exception):
            importlib.import_module(module)
