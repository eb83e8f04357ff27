"""How metrics read a case record's output and expected values: as text, as a label, as a score."""

from __future__ import annotations

import json
import math
from typing import Any

from evalgate.contracts.cases import (
    ANSWER_KEYS,  # the keys of a normalized output mapping that carry the answer
)


def is_answer_mapping(value: Any) -> bool:
    """A mapping of the answer keys (`text`, `label`, ...) rather than a structured output."""
    return isinstance(value, dict) and bool(value) and all(key in ANSWER_KEYS for key in value)


def has_expected(record: dict[str, Any]) -> bool:
    """Whether a case has something to compare with (not null, not an empty list of references)."""
    return record.get("expected") not in (None, [])


def as_text(value: Any) -> str:
    """The text of an output or expected value.

    A string is itself; a mapping gives its `text` (else its `label`); None is ""; numbers and
    booleans are written like labels (`1`, `0.5`, `true`); other mappings and lists are canonical JSON.
    """
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, dict):
        if "text" in value:
            return as_text(value["text"])
        if "label" in value:
            return as_text(value["label"])
    if isinstance(value, bool | int | float):
        return as_label(value)
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def as_label(value: Any) -> str:
    """A class label as a string, so `1`, `1.0` and `"1"` are one label and `true`/`True` another.

    Booleans are `true`/`false`; integral floats are written as integers; strings are stripped;
    a mapping gives its `label`, else its `text`, else the most probable of its `probabilities`
    (the first listed on a tie).
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, dict):
        if "label" in value:
            return as_label(value["label"])
        if "text" in value:
            return as_label(value["text"])
        probabilities = value.get("probabilities")
        if isinstance(probabilities, dict) and probabilities:
            numbers = {label: as_number(p) for label, p in probabilities.items()}
            known = {label: number for label, number in numbers.items() if number is not None}
            if len(known) == len(numbers):
                return as_label(max(known, key=known.__getitem__))
    return as_text(value)


def as_number(value: Any) -> float | None:
    """A finite number from a number or a numeric string; None otherwise (booleans are not numbers)."""
    # None first: a run's usage (cost, mostly not reported) is read tens of thousands of times
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def references(expected: Any) -> list[str]:
    """The reference texts of a case: a list gives several references, anything else one."""
    if isinstance(expected, list):
        return [as_text(item) for item in expected]
    return [as_text(expected)]


def add_note(record: dict[str, Any], note: str) -> None:
    """Record why a case scored as it did (a scorer that raised, a bad pattern) in `record["notes"]`."""
    notes = record.setdefault("notes", [])
    if note not in notes:
        notes.append(note)
