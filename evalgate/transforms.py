"""Output transforms: a provider's `transform:`, applied to each answer before it is scored.

Two forms:
- a Jinja2 expression, evaluated in a sandbox (no access to Python internals), seeing `output` (the answer),
  `input`, `metadata`, `id` and `category`: `output | trim | replace("Intent: ", "")`, `output.split(":")[-1]`;
- `module:function` or `path/to/file.py:function` (evalgate.userfunc), called as function(output) or, when it
  takes two arguments, function(output, context) with the same names as the expression sees.

The result may be any JSON value (a string, a number, a list, a mapping); anything else, an exception or an
undefined name is a TransformError: that case's error, named as a transform's, never the model's. The provider's
response cache keeps the raw answer, so changing a transform never calls the model again.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jinja2
import jinja2.sandbox

from evalgate.contracts.cases import Case, OutputError, json_value
from evalgate.errors import InputError
from evalgate.userfunc import load_function

MAX_SHOWN_CHARS = 200  # of the raw output, in a transform error
_FUNCTION_FORM = re.compile(r"^[\w./\\-]+:[A-Za-z_][\w.]*$")  # module:function or path/file.py:function
_ENV = jinja2.sandbox.SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False)


class TransformError(Exception):
    """A transform that failed on one output (raised, returned what JSON cannot hold, used an undefined name)."""


def is_function(spec: str) -> bool:
    return bool(_FUNCTION_FORM.match(spec.strip()))


def compile_expression(spec: str, *, file: str, line: int | None) -> Callable[..., Any]:
    """A Jinja2 transform expression, compiled; InputError (exit 2) on a syntax error."""
    try:
        return _ENV.compile_expression(spec, undefined_to_none=False)
    except jinja2.TemplateSyntaxError as exc:
        raise InputError(
            f"provider.transform {spec!r} is not a valid Jinja2 expression ({exc.message}); expected an "
            "expression of `output` such as output | trim, or module:function",
            file=file,
            line=line,
        ) from None


class Transform:
    """A provider's transform, loaded (a function is imported now: a missing one is exit 2 before any call)."""

    def __init__(self, spec: str, base_dir: Path, *, file: str, line: int | None) -> None:
        self.spec = spec
        if is_function(spec):
            function = load_function(spec.strip(), base_dir, what="provider.transform", file=file, line=line)
            self._call = _function_call(function)
        else:
            expression = compile_expression(spec, file=file, line=line)
            self._call = lambda output, context: expression(output=output, **context)

    def apply(self, output: Any, case: Case) -> Any:
        """The transformed output, as a JSON value; TransformError when the transform fails on it."""
        context = {"input": case.input, "metadata": case.metadata, "id": case.id, "category": case.category}
        try:
            value = self._call(output, context)
            if isinstance(value, jinja2.Undefined):
                value._fail_with_undefined_error()
            return json_value(value, "the transformed output")
        except OutputError as exc:
            raise TransformError(
                f"the transform {self.spec!r} returned what JSON cannot hold: {exc}"
            ) from None
        except jinja2.UndefinedError as exc:
            problem = exc.message
        except jinja2.sandbox.SecurityError as exc:
            problem = f"the sandbox refused it ({exc})"
        except (Exception, SystemExit) as exc:
            problem = f"{type(exc).__name__}: {exc}"
        raw = output if isinstance(output, str) else repr(output)
        shown = raw[:MAX_SHOWN_CHARS] + ("..." if len(raw) > MAX_SHOWN_CHARS else "")
        raise TransformError(f"the transform {self.spec!r} failed on the output {shown!r}: {problem}")


def _function_call(function: Callable[..., Any]) -> Callable[[Any, dict[str, Any]], Any]:
    """How to call a transform function: with the output, and the context when it takes a second argument."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):  # a builtin without a signature: called with the output
        return lambda output, context: function(output)
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    takes_more = any(p.kind == p.VAR_POSITIONAL for p in parameters) or len(positional) >= 2
    if takes_more:
        return lambda output, context: function(output, context)
    return lambda output, context: function(output)
