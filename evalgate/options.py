"""Declarative checks for mappings read from YAML: unknown keys, wrong types and missing keys name file and line."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from evalgate.errors import InputError
from evalgate.files.limits import MAX_TIMEOUT_S
from evalgate.yamlio import LineDict, LineList

_TYPE_NAMES = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
    list: "a list",
    dict: "a mapping",
}


@dataclass(frozen=True)
class Option:
    """One allowed key of a mapping: its accepted types, whether it is required, its default and meaning."""

    types: tuple[type, ...]
    required: bool = False
    default: Any = None
    help: str = ""
    check: Callable[[Any], str | None] | None = None  # returns a problem, or None when the value is fine


def describe_types(types: tuple[type, ...]) -> str:
    names = [_TYPE_NAMES.get(t, t.__name__) for t in types if not (t is int and float in types)]
    return " or ".join(names)


def type_ok(value: Any, types: tuple[type, ...]) -> bool:
    if isinstance(value, bool):
        return bool in types
    if isinstance(value, int) and float in types:
        return True
    return isinstance(value, types)


def line_of(container: Any, key: str | int) -> int | None:
    if isinstance(container, LineDict):
        return container.line_of(str(key))
    if isinstance(container, LineList) and isinstance(key, int):
        return container.line_of(key)
    return getattr(container, "line", None)


def check_options(
    mapping: Any,
    spec: Mapping[str, Option],
    *,
    file: str,
    context: str,
    line: int | None = None,
) -> dict[str, Any]:
    """Validate `mapping` against `spec`; return a plain dict with defaults filled in.

    `context` names the section in messages ("provider", "gate.accuracy", ...).
    """
    if not isinstance(mapping, dict):
        raise InputError(
            f"{context} must be a mapping, got {type(mapping).__name__}",
            file=file,
            line=getattr(mapping, "line", None) or line,
        )
    for key in mapping:
        if key not in spec:
            allowed = ", ".join(sorted(spec))
            raise InputError(
                f"unknown key {key!r} in {context}; allowed keys: {allowed}",
                file=file,
                line=line_of(mapping, key),
            )
    result: dict[str, Any] = {}
    for key, option in spec.items():
        if key not in mapping or mapping[key] is None:
            if option.required:
                raise InputError(
                    f"{context} needs the key {key!r} ({option.help or describe_types(option.types)})",
                    file=file,
                    line=getattr(mapping, "line", None) or line,
                )
            result[key] = option.default
            continue
        result[key] = _checked_value(mapping[key], option, f"{context}.{key}", file, line_of(mapping, key))
    return result


def _checked_value(value: Any, option: Option, where: str, file: str, line: int | None) -> Any:
    """One option's value, of its types (an integer where a float is wanted becomes one), finite, and passing
    the option's check; an InputError at `where` (file:line) otherwise."""
    if not type_ok(value, option.types):
        raise InputError(
            f"{where} must be {describe_types(option.types)}, got {value!r}", file=file, line=line
        )
    if (
        isinstance(value, int)
        and not isinstance(value, bool)
        and float in option.types
        and int not in option.types
    ):
        value = float(value)  # yamlio refuses integers beyond a float's range
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError(f"{where} must be a finite number, got {_yaml_number(value)}", file=file, line=line)
    if option.check is not None:
        problem = option.check(value)
        if problem:
            raise InputError(f"{where} {problem}, got {value!r}", file=file, line=line)
    return value


def _yaml_number(value: float) -> str:
    """A non-finite number as YAML writes it (.nan, .inf, -.inf)."""
    return ".nan" if math.isnan(value) else ".inf" if value > 0 else "-.inf"


def positive(value: Any) -> str | None:
    return None if value > 0 else "must be greater than 0"


def non_negative(value: Any) -> str | None:
    return None if value >= 0 else "must be 0 or more"


def between_0_and_1(value: Any) -> str | None:
    return None if 0 < value < 1 else "must be between 0 and 1"


def up_to(limit: int) -> Callable[[Any], str | None]:
    """A check: from 1 to `limit` (one of evalgate.files.limits), so an absurd size is refused before any work."""

    def check(value: Any) -> str | None:
        return None if 1 <= value <= limit else f"must be from 1 to {limit:,}"

    return check


def seconds(value: Any) -> str | None:
    """A check for a timeout: above 0 seconds, at most a day (evalgate.files.limits.MAX_TIMEOUT_S)."""
    return in_range(0, MAX_TIMEOUT_S, low_open=True, unit=" seconds (a day)")(value)


def _plain(number: float) -> str:
    return f"{int(number):,}" if float(number).is_integer() else f"{number:g}"


def in_range(
    low: float, high: float, *, low_open: bool = False, unit: str = ""
) -> Callable[[Any], str | None]:
    """A check: from `low` (excluded when `low_open`) to `high` included; `unit` follows the bound."""

    def check(value: Any) -> str | None:
        above = value > low if low_open else value >= low
        if above and value <= high:
            return None
        lowest = f"above {_plain(low)} and at most" if low_open else f"from {_plain(low)} to"
        return f"must be {lowest} {_plain(high)}{unit}"

    return check


def names_list(value: Any) -> str | None:
    """A check: a list of non-empty names (strings)."""
    if all(isinstance(item, str) and item.strip() for item in value):
        return None
    return "must be a list of names (non-empty strings)"


def one_of(*choices: str) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        return None if value in choices else "must be one of " + ", ".join(choices)

    return check
