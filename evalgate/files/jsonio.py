"""Strict JSON, as evalgate reads it from users' files (datasets, results, events, schemas, artifacts).

Besides the grammar: no NaN or Infinity, no number beyond a float's range (1e400 would become infinity), no lone
UTF-16 surrogate (text that cannot be written back as UTF-8), and at most limits.MAX_NESTING levels of nesting
(deeper documents break the recursive code that renders and checks them). Each problem is a JSONProblem with the
line it is on, when that is known; `load_json` turns it into an InputError naming the file.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from evalgate.errors import InputError
from evalgate.files.fileio import read_text
from evalgate.files.limits import MAX_DATA_FILE_BYTES, MAX_INTEGER_DIGITS, MAX_NESTING


class JSONProblem(ValueError):
    """What is wrong with a JSON text, on which line (None when unknown), and whether it breaks the grammar
    (`syntax`) or one of the stricter rules."""

    def __init__(self, message: str, line: int | None = None, *, syntax: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.syntax = syntax


def parse_json(text: str, *, unique_keys: bool = False) -> Any:
    """The value of a JSON text; JSONProblem when it is not strict JSON (see the module's docstring).

    unique_keys: an object repeating a key is a problem (by default the last value wins, as in json.loads).
    """
    deep = _too_deep_at(text)
    if deep is not None:
        raise JSONProblem(f"nested more than {MAX_NESTING} levels deep", _line_at(text, deep))
    try:
        value = (_UNIQUE_DECODER if unique_keys else _DECODER).decode(text)
    except json.JSONDecodeError as exc:
        raise JSONProblem(f"{exc.msg} (column {exc.colno})", exc.lineno, syntax=True) from None
    except _NumberProblem as exc:
        raise JSONProblem(exc.message, _line_at(text, text.find(exc.text))) from None
    except ValueError as exc:  # a repeated key, NaN
        raise JSONProblem(str(exc)) from None
    except RecursionError:  # a text the nesting scan misread (it is not JSON): never a traceback
        raise JSONProblem(f"nested more than {MAX_NESTING} levels deep") from None
    lone = _lone_surrogate_at(text)
    if lone is not None:
        raise JSONProblem(
            f"the string escape {text[lone : lone + 6]} is half of a UTF-16 surrogate pair: not a character",
            _line_at(text, lone),
        )
    return value


def load_json(
    path: str | Path, *, what: str, expected: str = "", max_bytes: int = MAX_DATA_FILE_BYTES
) -> Any:
    """Read and parse a JSON file; an InputError naming the file and line. `what` names the file in messages,
    `expected` ends the message of a text that is not JSON ("expected an evalgate results file")."""
    text = read_text(path, what=what, max_bytes=max_bytes)
    try:
        return parse_json(text)
    except JSONProblem as problem:
        message = problem.message
        if problem.syntax:
            message = f"the {what} is not valid JSON: {message}" + (f"; {expected}" if expected else "")
        raise InputError(message, file=path, line=problem.line) from None


class _NumberProblem(ValueError):
    def __init__(self, message: str, text: str) -> None:
        super().__init__(message)
        self.message = message
        self.text = text


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NumberProblem(
            f"the number {_shorten(text)} is beyond the range of a float (about 1.8e308)", text
        )
    return value


def _float_sized_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise _NumberProblem(f"the integer {_shorten(text)} has more than {MAX_INTEGER_DIGITS} digits", text)
    return int(text)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON (write null, or a number)")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"duplicate key {key!r}")
            seen.add(key)
    return result


def _shorten(text: str) -> str:
    return text if len(text) <= 24 else f"{text[:12]}...{text[-8:]} ({len(text)} characters)"


_STRICT: dict[str, Any] = {
    "parse_float": _finite_float,
    "parse_int": _float_sized_int,
    "parse_constant": _reject_constant,
}
_DECODER = json.JSONDecoder(**_STRICT)
_UNIQUE_DECODER = json.JSONDecoder(object_pairs_hook=_unique_keys, **_STRICT)

# -- nesting: measured on the bytes, without recursion, in a few passes of C code ----------------------------
_STRUCTURE = bytes(c for c in range(256) if c not in b'[]{}"')  # deleted: everything but brackets and quotes
_STRING = re.compile(rb'"[^"]*"')
_LEAF = re.compile(rb"\[\]|\{\}")


def _too_deep_at(text: str) -> int | None:
    """Where (a character offset) the text first nests deeper than MAX_NESTING, or None when it does not.

    Escaped backslashes and quotes are dropped, then everything but brackets and quotes, then the strings; what
    is left is brackets only, and removing every empty `[]`/`{}` takes exactly one level a pass."""
    if text.count("[") + text.count("{") <= MAX_NESTING:
        return None
    skeleton = text.encode("utf-8", "surrogatepass").replace(b"\\\\", b"").replace(b'\\"', b"")
    skeleton = _STRING.sub(b"", skeleton.translate(None, _STRUCTURE).replace(b'""', b""))
    for _ in range(MAX_NESTING):
        if not skeleton:
            return None
        skeleton = _LEAF.sub(b"", skeleton)
    return _deep_offset(text) if skeleton else None


_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _deep_offset(text: str) -> int | None:
    """The offset of the bracket that opens level MAX_NESTING + 1 (a slow scan, for a text found too deep; None
    when the brackets of a text that is not JSON only seemed deep)."""
    depth = 0
    for match in _TOKEN.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > MAX_NESTING:
                return match.start()
        elif token in "]}":
            depth -= 1
    return None


# -- lone surrogates: only a \uD800-\uDFFF escape makes one (UTF-8 text cannot hold them) ----------------------
_SURROGATE_HINT = re.compile(r"\\u[dD][89a-fA-F]")
# an escaped backslash, a surrogate pair (a real character), or a surrogate alone (left to right, so the
# backslashes of a run pair up as JSON reads them)
_SURROGATE_ESCAPE = re.compile(
    r"\\\\|\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}|(\\u[dD][89a-fA-F][0-9a-fA-F]{2})"
)


def _lone_surrogate_at(text: str) -> int | None:
    if not _SURROGATE_HINT.search(text):
        return None
    for match in _SURROGATE_ESCAPE.finditer(text):
        if match.group(1):
            return match.start(1)
    return None


def _line_at(text: str, offset: int) -> int | None:
    return text.count("\n", 0, offset) + 1 if offset >= 0 else None
