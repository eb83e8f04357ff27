"""How each deterministic assertion type is checked (evalgate/assertions.py parses and runs them): the check of a
type and value is built once, and building it checks the value (AssertionSpecError says what is wrong). A
regular expression's search, in a `regex` assertion or a JSON Schema's `pattern`, stops after REGEX_TIMEOUT_S."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from evalgate.metrics.values import as_text

if TYPE_CHECKING:
    import regex

MAX_SCHEMA_CHARS = 100_000  # a JSON Schema's canonical JSON text
REGEX_TIMEOUT_S = 1.0  # one regular-expression search (a `regex` assertion, a schema's `pattern`)
RUBRIC = "rubric"
LISTS = ("contains-any", "contains-all", "icontains-any", "icontains-all")


class AssertionSpecError(ValueError):
    """What is wrong with an assertion as written (the dataset reader adds the file and line)."""


def frozen(value: Any) -> Any:
    """A hashable key of a JSON value (the checkers are built once per distinct assertion): a string, number,
    bool or None is itself (the cache tells their types apart), a list or mapping its canonical JSON in a tuple."""
    if isinstance(value, dict | list):
        return ("json", json.dumps(value, sort_keys=True, ensure_ascii=False))
    return value


def thawed(frozen: Any) -> Any:
    return json.loads(frozen[1]) if isinstance(frozen, tuple) else frozen


Checker = Callable[[Any], tuple[bool | None, str]]  # None: undecided


@functools.lru_cache(maxsize=512, typed=True)  # a schema may be 100,000 characters: a bounded cache
def checker(base: str, frozen_value: Any) -> Checker:
    value = thawed(frozen_value)
    if base == RUBRIC:
        if not isinstance(value, str) or not value.strip():
            raise AssertionSpecError("the value must be the rubric, a non-empty string")
        return lambda output: (False, "a rubric is decided by the judge")
    if base == "equals":
        return _equals(value)
    if base in ("contains", "icontains", "starts-with"):
        return _contains(base, value)
    if base in LISTS:
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
