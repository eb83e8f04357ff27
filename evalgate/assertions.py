"""Per-case assertions, written in a dataset line the way promptfoo tests write them:

    {"id": "r-1", "input": "...", "assert": [{"type": "icontains", "value": "refund"},
                                              {"type": "rubric", "value": "mentions the 30-day window"}]}

`parse_assertions` checks them when the line is read (an unknown type, a bad regular expression or an invalid
JSON Schema is bad input: exit 2 naming the file and line); `check` runs a deterministic one on an output, with
promptfoo's semantics (the output as text: a string as it is, an answer mapping's `text`, anything else as JSON):

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

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from evalgate.metrics.values import as_text

if TYPE_CHECKING:
    import regex

ASSERT_KEY = "assert"  # the dataset key
ASSERTION_KEYS = ("type", "value")
MAX_ASSERTIONS = 100  # assertions on one case
MAX_SCHEMA_CHARS = 100_000  # a JSON Schema's canonical JSON text
REGEX_TIMEOUT_S = 1.0  # one regular-expression search (a `regex` assertion, a schema's `pattern`)
RUBRIC = "rubric"
ALIASES = {"llm-rubric": RUBRIC}
_LISTS = ("contains-any", "contains-all", "icontains-any", "icontains-all")
TYPES = (
    "equals",
    "contains",
    "icontains",
    *_LISTS,
    "starts-with",
    "regex",
    "is-json",
    "json-schema",
    RUBRIC,
)
_INVERSE = "not-"


class AssertionSpecError(ValueError):
    """What is wrong with an assertion as written (the dataset reader adds the file and line)."""


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
        _checker(kind.base, _frozen(item.get("value")))
    except AssertionSpecError as problem:
        raise AssertionSpecError(f"{where} ({type_name}): {problem}") from None
    return {"type": type_name, **({"value": item["value"]} if "value" in item else {})}


def check(assertion: dict[str, Any], output: Any) -> tuple[bool, str]:
    """Whether `output` passes a deterministic assertion (already parsed), and why not when it does not. An
    assertion that could not be decided (a regular expression out of time) fails, with `not-` too."""
    kind = kind_of(assertion["type"])
    passed, reason = _checker(kind.base, _frozen(assertion.get("value")))(output)
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


def _frozen(value: Any) -> Any:
    """A hashable key of a JSON value (the checkers are built once per distinct assertion): a string, number,
    bool or None is itself (the cache tells their types apart), a list or mapping its canonical JSON in a tuple."""
    if isinstance(value, dict | list):
        return ("json", json.dumps(value, sort_keys=True, ensure_ascii=False))
    return value


def _thawed(frozen: Any) -> Any:
    return json.loads(frozen[1]) if isinstance(frozen, tuple) else frozen


Checker = Callable[[Any], tuple[bool | None, str]]  # None: undecided


@functools.lru_cache(maxsize=512, typed=True)  # a schema may be 100,000 characters: a bounded cache
def _checker(base: str, frozen_value: Any) -> Checker:
    value = _thawed(frozen_value)
    if base == RUBRIC:
        if not isinstance(value, str) or not value.strip():
            raise AssertionSpecError("the value must be the rubric, a non-empty string")
        return lambda output: (False, "a rubric is decided by the judge")
    if base == "equals":
        return _equals(value)
    if base in ("contains", "icontains", "starts-with"):
        return _contains(base, value)
    if base in _LISTS:
        return _contains_list(base, value)
    if base == "regex":
        return _regex(value)
    return _json(base, value)


def _needs_text(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float) or value == "":
        raise AssertionSpecError(
            f"the value must be a non-empty string (or a number), got {json.dumps(value)}"
        )
    return value if isinstance(value, str) else json.dumps(value)


def _equals(value: Any) -> Checker:
    if value is None:
        raise AssertionSpecError("the value is missing: what the output must equal")
    if isinstance(value, dict | list):

        def same_json(output: Any) -> tuple[bool, str]:
            from evalgate.metrics.structured import INVALID_JSON, parse_json

            parsed = parse_json(output)
            if parsed is not INVALID_JSON and parsed == value:
                return True, ""
            return False, f"expected JSON equal to {json.dumps(value, sort_keys=True)[:200]}"

        return same_json
    wanted = value if isinstance(value, str) else json.dumps(value)

    def same_text(output: Any) -> tuple[bool, str]:
        return (True, "") if as_text(output) == wanted else (False, f"expected exactly {wanted[:200]!r}")

    return same_text


def _contains(base: str, value: Any) -> Checker:
    wanted = _needs_text(value)
    fold = base == "icontains"
    needle = wanted.lower() if fold else wanted
    verb = "start with" if base == "starts-with" else "contain"

    def contains(output: Any) -> tuple[bool, str]:
        text = as_text(output)
        if fold:
            text = text.lower()
        found = text.startswith(needle) if base == "starts-with" else needle in text
        return (True, "") if found else (False, f"expected the output to {verb} {wanted[:200]!r}")

    return contains


def _contains_list(base: str, value: Any) -> Checker:
    if isinstance(value, str):  # promptfoo: a comma-separated list
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list) or not value:
        raise AssertionSpecError("the value must be a non-empty list of strings")
    wanted = [_needs_text(item) for item in value]
    fold = base.startswith("i")
    every = base.endswith("all")

    def contains(output: Any) -> tuple[bool, str]:
        text = as_text(output)
        missing = [w for w in wanted if (w.lower() in text.lower() if fold else w in text) is False]
        if every:
            return (not missing, f"missing {', '.join(map(repr, missing))[:300]}" if missing else "")
        if len(missing) < len(wanted):
            return True, ""
        return False, f"expected one of {', '.join(map(repr, wanted))[:300]}"

    return contains


def _regex(value: Any) -> Checker:
    import regex

    if not isinstance(value, str) or not value:
        raise AssertionSpecError("the value must be a regular expression (a non-empty string)")
    try:
        pattern = regex.compile(value)
    except (regex.error, OverflowError, RecursionError) as exc:
        raise AssertionSpecError(f"not a valid regular expression ({exc})") from None

    def search(output: Any) -> tuple[bool | None, str]:
        try:
            found = guarded_search(pattern, as_text(output))
        except TimeoutError:
            return None, f"the regular expression took more than {REGEX_TIMEOUT_S:g}s on this output"
        return (True, "") if found else (False, f"no match for {value[:200]!r}")

    return search


def guarded_search(pattern: regex.Pattern[str], text: str) -> bool:
    """Whether `pattern` occurs in `text`; TimeoutError after REGEX_TIMEOUT_S (catastrophic backtracking)."""
    return pattern.search(text, timeout=REGEX_TIMEOUT_S) is not None


def _json(base: str, schema: Any) -> Checker:
    if schema is None and base == "json-schema":
        raise AssertionSpecError("the value must be a JSON Schema (an object)")
    validator = None if schema is None else guarded_validator(schema)

    def valid_json(output: Any) -> tuple[bool | None, str]:
        from evalgate.metrics.structured import INVALID_JSON, parse_json

        parsed = parse_json(output)
        if parsed is INVALID_JSON:
            return False, "the output is not valid JSON"
        if validator is None:
            return True, ""
        try:
            error = next(iter(validator.iter_errors(parsed)), None)
        except TimeoutError:
            return None, f"a pattern of the schema took more than {REGEX_TIMEOUT_S:g}s on this output"
        except RecursionError:
            return None, "the output is nested too deep to check against the schema"
        except Exception as exc:
            return None, f"the schema could not be applied ({type(exc).__name__}: {str(exc)[:200]})"
        if error is None:
            return True, ""
        where = "/".join(str(part) for part in error.absolute_path) or "the top level"
        return False, f"does not match the schema at {where}: {error.message[:300]}"

    return valid_json


def guarded_validator(schema: Any) -> Any:
    """A jsonschema validator for `schema` whose `pattern` and `patternProperties` searches stop after
    REGEX_TIMEOUT_S; AssertionSpecError when the schema is not a valid one or too large."""
    import jsonschema
    import regex

    if isinstance(schema, bool):
        schema = {} if schema else {"not": {}}
    if not isinstance(schema, dict):
        raise AssertionSpecError(
            f"the value must be a JSON Schema (an object), got {json.dumps(schema)[:80]}"
        )
    if len(json.dumps(schema, ensure_ascii=False)) > MAX_SCHEMA_CHARS:
        raise AssertionSpecError(f"the JSON Schema is longer than {MAX_SCHEMA_CHARS:,} characters")
    base = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        base.check_schema(schema)
        patterns = list(_patterns(schema))
        for text in patterns:
            regex.compile(text)
    except jsonschema.SchemaError as exc:
        raise AssertionSpecError(f"not a valid JSON Schema ({exc.message[:300]})") from None
    except (regex.error, OverflowError) as exc:
        raise AssertionSpecError(
            f"a pattern of the JSON Schema is not a valid regular expression ({exc})"
        ) from None
    except RecursionError:
        raise AssertionSpecError("the JSON Schema is nested too deep") from None
    guarded = jsonschema.validators.extend(
        base, {"pattern": _pattern_keyword, "patternProperties": _pattern_properties_keyword}
    )
    remote = next(_remote_refs(schema), None)
    if remote is not None:
        raise AssertionSpecError(
            f"the JSON Schema refers to {remote[:100]!r}: a $ref must point inside the schema (#/...), evalgate "
            "never downloads one"
        )
    if _unbounded(schema):
        raise AssertionSpecError(
            "a JSON Schema that combines patternProperties with additionalProperties or unevaluatedProperties "
            "is not supported in an assertion (those searches could not be bounded in time)"
        )
    return guarded(schema)


def _unbounded(schema: Any) -> bool:
    """Whether a schema object has patternProperties beside additionalProperties or unevaluatedProperties
    (jsonschema searches those patterns itself, unguarded)."""
    if isinstance(schema, list):
        return any(_unbounded(item) for item in schema)
    if not isinstance(schema, dict):
        return False
    if "patternProperties" in schema and schema.keys() & {"additionalProperties", "unevaluatedProperties"}:
        return True
    return any(_unbounded(value) for value in schema.values())


def _remote_refs(schema: Any) -> Any:
    """The `$ref` and `$dynamicRef` values of a schema that point outside it."""
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key in ("$ref", "$dynamicRef") and isinstance(value, str) and not value.startswith("#"):
                yield value
            yield from _remote_refs(value)
    elif isinstance(schema, list):
        for item in schema:
            yield from _remote_refs(item)


def _patterns(schema: Any) -> Any:
    """Every regular expression of a schema (its `pattern` values and `patternProperties` keys)."""
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "pattern" and isinstance(value, str):
                yield value
            elif key == "patternProperties" and isinstance(value, dict):
                yield from value
            yield from _patterns(value)
    elif isinstance(schema, list):
        for item in schema:
            yield from _patterns(item)


@functools.lru_cache(maxsize=1024)
def _compiled(text: str) -> regex.Pattern[str]:
    import regex

    return regex.compile(text)


def _search(text: str, instance: str) -> bool:
    try:
        return guarded_search(_compiled(text), instance)
    except TimeoutError:
        raise TimeoutError(text) from None


def _pattern_keyword(validator: Any, pattern: str, instance: Any, schema: Any) -> Any:
    from jsonschema.exceptions import ValidationError

    if validator.is_type(instance, "string") and not _search(pattern, instance):
        yield ValidationError(f"{instance[:100]!r} does not match {pattern!r}")


def _pattern_properties_keyword(
    validator: Any, properties: dict[str, Any], instance: Any, schema: Any
) -> Any:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in properties.items():
        for key, value in instance.items():
            if _search(pattern, key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


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
