"""Load a user's Python function: `path/to/file.py:function` (relative to the config's folder) or
`package.module:function` (attributes may be dotted: `module:Class.method`). Used by the python provider, custom
scorers and local encoders."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from evalgate.errors import InputError

TARGET_FORM = "path/to/file.py:function or package.module:function"

_loaded_user_code = False  # whether this process has imported (or tried to import) code of the user's


def loaded_user_code() -> bool:
    """Whether any code of the user's was imported into this process (a target, a scorer, a transform, an
    encoder): the process then ends as Python ends, so that code's atexit handlers, threads and unclosed files
    are finished (evalgate.process.supervisor)."""
    return _loaded_user_code


def is_target(value: str) -> bool:
    """Whether `value` has the form of a target: something, a colon, an attribute."""
    where, sep, attribute = value.rpartition(":")
    return bool(sep and where and attribute)


def load_function(
    target: str, base_dir: Path, *, what: str, file: str | None = None, line: int | None = None
) -> Callable[..., Any]:
    """The function `target` names; an InputError saying what it is for (`what`) when it cannot be loaded.

    `base_dir` (the config's folder) goes on sys.path, so the target can import the project's packages
    (`from models.images import ...`), and so does a path target's own folder, so it can import its neighbours.
    """

    global _loaded_user_code

    def fail(problem: str) -> InputError:
        return InputError(f"{what} {target!r}: {problem}", file=file, line=line)

    if not is_target(target):
        raise fail(f"expected {TARGET_FORM}")
    where, _, attribute = target.rpartition(":")
    _loaded_user_code = True
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
        # compiled from the source itself, never from a cached .pyc: one is trusted by the file's mtime (whole
        # seconds) and size, so a target rewritten within a second at the same size would run its old code
        exec(compile(path.read_bytes(), str(path), "exec", dont_inherit=True), module.__dict__)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def _prepend_sys_path(folder: Path) -> None:
    entry = str(folder)
    if entry not in sys.path:
        sys.path.insert(0, entry)
