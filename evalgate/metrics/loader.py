"""Load a user's Python function: `path/to/file.py:function` (relative to the config) or `module:function`."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from evalgate.errors import InputError


def load_function(target: str, base_dir: Path, *, what: str) -> Callable[..., Any]:
    """The function `target` names; InputError (saying what it is for) when it cannot be loaded."""
    location, sep, name = target.rpartition(":")
    if not sep or not location or not name:
        raise InputError(
            f"{what} {target!r} must look like path/to/file.py:function or package.module:function"
        )
    if location.endswith(".py") or "/" in location or "\\" in location:
        module = _load_file(base_dir / location, what=what)
    else:
        module = _import_module(location, base_dir, what=what)
    function = getattr(module, name, None)
    if not callable(function):
        raise InputError(f"{what} {target!r}: {location} has no function {name!r}")
    return function


def _load_file(path: Path, *, what: str) -> Any:
    path = path.resolve()
    if not path.is_file():
        raise InputError(f"{what}: file {str(path)!r} not found")
    module_name = f"evalgate_user_{abs(hash(str(path)))}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise InputError(f"{what}: cannot load {str(path)!r} as Python")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # the user's module failed to import: say why, without a traceback
        raise InputError(f"{what}: importing {str(path)!r} failed ({type(exc).__name__}: {exc})") from None
    sys.modules[module_name] = module
    return module


def _import_module(name: str, base_dir: Path, *, what: str) -> Any:
    added = str(base_dir) not in sys.path
    if added:
        sys.path.insert(0, str(base_dir))
    try:
        return importlib.import_module(name)
    except Exception as exc:
        raise InputError(f"{what}: importing module {name!r} failed ({type(exc).__name__}: {exc})") from None
    finally:
        if added:
            sys.path.remove(str(base_dir))
