"""Per-case assertions, written in a dataset line the way promptfoo tests write them:

    {"id": "r-1", "input": "...", "assert": [{"type": "icontains", "value": "refund"},
                                              {"type": "rubric", "value": "mentions the 30-day window"}]}

`parse_assertions` checks them when the line is read (an unknown type, a bad regular expression or an invalid
JSON Schema is bad input: exit 2 naming the file and line); `check` runs a deterministic one on an output (the
check of each type is built in evalgate/assertion_checks.py), with promptfoo's semantics (the output as text: a
string as it is, an answer mapping's `text`, anything else as JSON):

- equals: the text is the value (a JSON value: the output parses as JSON equal to it);
- contains / icontains: the text contains the value (icontains: ignoring case); contains-any / contains-all and
  their i- forms take a list (or a comma-separated string); starts-with;
- regex: a Python regular expression (the `regex` module) found in the text, each search stopped after
  REGEX_TIMEOUT_S seconds (a catastrophic pattern fails the assertion, it never hangs the run);
- is-json: the output is JSON (with a value: a JSON Schema it validates against); json-schema: the same, the
  schema required;
- rubric (llm-rubric): the suite's judge decides whether the output meets the rubric (evalgate.metrics.assertions).

The `regex` module is imported when a regular expression is first compiled (a run without one never loads it).
Every type takes a `not-` prefix that inverts it; `_` and `-` are the same in a type name (`not_contains`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from evalgate.assertion_checks import LISTS, RUBRIC, AssertionSpecError, checker, frozen

ASSERT_KEY = "assert"  # the dataset key
ASSERTION_KEYS = ("type", "value")
MAX_ASSERTIONS = 100  # assertions on one case
ALIASES = {"llm-rubric": RUBRIC}
TYPES = (
    "equals",
    "contains",
    "icontains",
    *LISTS,
    "starts-with",
    "regex",
    "is-json",
    "json-schema",
    RUBRIC,
)
_INVERSE = "not-"


@dataclass(frozen=True)
class Kind:
    """An assertion's type as checked: the base type, and whether `not-` inverts it."""

    base: str
    inverse: bool


def kind_of(type_name: str) -> Kind:
    name = type_name.strip().lower().replace("_", "-")
    inverse = name.startswith(_INVERSE)
    base = name.removeprefix(_INVERSE)
    return Kind(ALIASES.get(base, base), inverse)


def parse_assertions(value: Any) -> tuple[dict[str, Any], ...]:
    """The assertions of a case's `assert` list, checked; AssertionSpecError says what is wrong."""
    if not isinstance(value, list):
        raise AssertionSpecError(f"'{ASSERT_KEY}' must be a list of assertions, such as {_EXAMPLE}")
    if len(value) > MAX_ASSERTIONS:
        raise AssertionSpecError(f"'{ASSERT_KEY}' has {len(value):,} assertions; at most {MAX_ASSERTIONS}")
    return tuple(_parse_one(index, item) for index, item in enumerate(value))


_EXAMPLE = '[{"type": "contains", "value": "refund"}]'


def _parse_one(index: int, item: Any) -> dict[str, Any]:
    where = f"{ASSERT_KEY}[{index}]"
    if not isinstance(item, dict):
        raise AssertionSpecError(
            f"{where} must be an object with a type and a value, such as {_EXAMPLE[1:-1]}"
        )
    unknown = sorted(set(item) - set(ASSERTION_KEYS))
    if unknown:
        raise AssertionSpecError(
            f"{where} has the unknown key {unknown[0]!r}; an assertion has {' and '.join(ASSERTION_KEYS)}"
        )
    type_name = item.get("type")
    if not isinstance(type_name, str) or kind_of(type_name).base not in TYPES:
        known = ", ".join(TYPES)
        raise AssertionSpecError(
            f"{where}.type {json.dumps(type_name)} is not an assertion type; expected one of {known} "
            "(each may start with not-)"
        )
    kind = kind_of(type_name)
    try:
        checker(kind.base, frozen(item.get("value")))
    except AssertionSpecError as problem:
        raise AssertionSpecError(f"{where} ({type_name}): {problem}") from None
    return {"type": type_name, **({"value": item["value"]} if "value" in item else {})}


def check(assertion: dict[str, Any], output: Any) -> tuple[bool, str]:
    """Whether `output` passes a deterministic assertion (already parsed), and why not when it does not. An
    assertion that could not be decided (a regular expression out of time) fails, with `not-` too."""
    kind = kind_of(assertion["type"])
    passed, reason = checker(kind.base, frozen(assertion.get("value")))(output)
    if passed is None:  # undecided (a search that ran out of time): a failure, inverted or not
        return False, reason
    if kind.inverse:
        return (not passed, "" if not passed else f"expected the opposite: {_affirmed(kind.base, assertion)}")
    return passed, reason


def _affirmed(base: str, assertion: dict[str, Any]) -> str:
    value = assertion.get("value")
    shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return (
        f"the output {base.replace('-', ' ')} {shown[:200]!r}"
        if "value" in assertion
        else f"the output {base}"
    )


def check_suite(config: Any, cases: list[Any]) -> None:
    """Before any case runs: cases with assertions need the `assertions` metric, and rubric assertions a judge."""
    from evalgate.errors import InputError
    from evalgate.metrics import resolve_name

    asserted = next((case for case in cases if case.assertions), None)
    if asserted is None:
        return
    if not any(resolve_name(metric.name)[0] == "assertions" for metric in config.metrics):
        raise InputError(
            f"the case {asserted.id!r} ({asserted.source}) has assertions, but the config does not compute them: "
            "add `assertions` to its metrics: list",
            file=config.path,
        )
    if config.judge is not None:
        return
    for case in cases:
        if any(kind_of(spec["type"]).base == RUBRIC for spec in case.assertions):
            file, _, line = case.source.rpartition(":")
            raise InputError(
                "a rubric assertion is decided by a judge model, but the config has no judge section (for "
                "example judge: {type: anthropic, model: claude-haiku-4-5})",
                file=file or None,
                line=int(line) if line.isdigit() else None,
            )
