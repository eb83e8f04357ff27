"""Per-case assertions (evalgate/assertions.py): promptfoo's semantics, checks when the line is read (exit 2 with
file:line), hostile patterns and schemas, and the `assertions` metric's scores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalgate.assertion_checks import MAX_SCHEMA_CHARS, REGEX_TIMEOUT_S
from evalgate.assertions import (
    MAX_ASSERTIONS,
    AssertionSpecError,
    check,
    parse_assertions,
)
from evalgate.datasets import load_cases
from evalgate.errors import InputError
from evalgate.metrics.assertions import Assertions
from tests.conftest import write_suite
from tests.test_cli import assert_one_clear_error, evalgate


def passes(type_name: str, value, output) -> bool:
    spec = {"type": type_name} if value is ... else {"type": type_name, "value": value}
    (parsed,) = parse_assertions([spec])
    return check(parsed, output)[0]


# (type, value, output, promptfoo's verdict): the handlers of promptfoo/src/assertions (contains.ts, equals.ts,
# regex.ts, startsWith.ts, json.ts) on the same output string
PROMPTFOO_CASES = [
    ("contains", "refund", "Your refund is on its way", True),
    ("contains", "Refund", "Your refund is on its way", False),  # case-sensitive
    ("contains", 30, "within 30 days", True),  # a number is matched as its text
    ("icontains", "REFUND", "Your refund is on its way", True),
    ("not-contains", "sorry", "Your refund is on its way", True),
    ("not_contains", "refund", "Your refund is on its way", False),
    ("contains-any", ["parcel", "refund"], "Your refund", True),
    ("contains-any", "parcel, refund", "Your refund", True),  # a comma-separated string
    ("contains-any", ["parcel", "box"], "Your refund", False),
    ("contains-all", ["your", "refund"], "Your refund", False),
    ("icontains-all", ["your", "refund"], "Your refund", True),
    ("icontains-any", ["PARCEL", "REFUND"], "Your refund", True),
    ("starts-with", "Your", "Your refund", True),
    ("starts-with", "refund", "Your refund", False),
    ("equals", "Your refund", "Your refund", True),
    ("equals", "your refund", "Your refund", False),
    ("equals", {"intent": "billing"}, '{"intent": "billing"}', True),  # an object: JSON equality
    ("equals", {"intent": "billing"}, '{"intent": "other"}', False),
    ("equals", 42, "42", True),
    ("regex", r"\b30[- ]day", "a 30-day window", True),
    ("regex", "^window", "a 30-day window", False),  # a search, anchored only where the pattern says
    ("not-regex", r"\d", "no digits here", True),
    ("is-json", ..., '{"a": 1}', True),
    ("is-json", ..., "not json", False),
    ("is-json", {"type": "object", "required": ["a"]}, '{"a": 1}', True),
    ("is-json", {"type": "object", "required": ["b"]}, '{"a": 1}', False),
    ("json_schema", {"type": "array"}, "[1, 2]", True),
    ("not-is-json", ..., "plain text", True),
]


@pytest.mark.parametrize(("type_name", "value", "output", "expected"), PROMPTFOO_CASES)
def test_each_type_decides_as_promptfoo_does(type_name, value, output, expected):
    assert passes(type_name, value, output) is expected


def test_an_output_is_read_as_text_as_promptfoo_reads_it():
    assert passes("contains", "refund", {"text": "a refund"})  # an answer mapping: its text
    assert passes("contains", '"intent": "billing"', {"intent": "billing"})  # a structured output: its JSON
    assert passes("is-json", {"type": "object"}, {"intent": "billing"})  # already structured: JSON
    assert passes("equals", "7", 7)
    assert not passes("contains", "x", None)


def test_a_failed_assertion_says_why():
    (spec,) = parse_assertions([{"type": "contains-all", "value": ["refund", "30 days"]}])
    assert check(spec, "a refund") == (False, "missing '30 days'")
    (spec,) = parse_assertions([{"type": "json-schema", "value": {"properties": {"n": {"type": "integer"}}}}])
    passed, reason = check(spec, '{"n": "three"}')
    assert not passed and reason.startswith(
        "does not match the schema at n: 'three' is not of type 'integer'"
    )
    (spec,) = parse_assertions([{"type": "not-icontains", "value": "sorry"}])
    assert check(spec, "Sorry!") == (False, "expected the opposite: the output icontains 'sorry'")


@pytest.mark.parametrize(
    ("assertions", "problem"),
    [
        ({"type": "contains", "value": "x"}, "'assert' must be a list of assertions"),
        ([{"type": "contain", "value": "x"}], 'assert[0].type "contain" is not an assertion type'),
        ([{"type": "contains"}], "assert[0] (contains): the value must be a non-empty string"),
        ([{"type": "contains", "value": "x", "weight": 2}], "unknown key 'weight'"),
        ([{"type": "regex", "value": "(unclosed"}], "not a valid regular expression"),
        ([{"type": "json_schema", "value": {"type": "objekt"}}], "not a valid JSON Schema"),
        ([{"type": "json_schema"}], "the value must be a JSON Schema"),
        (
            [{"type": "is-json", "value": {"properties": {"a": {"pattern": "(x"}}}}],
            "not a valid JSON Schema ('(x' is not a 'regex')",
        ),
        ([{"type": "rubric", "value": " "}], "the value must be the rubric"),
        ([{"type": "equals"}], "the value is missing"),
        ([{"type": "contains-any", "value": []}], "non-empty list"),
        ([{"type": "contains", "value": "x"}] * (MAX_ASSERTIONS + 1), f"at most {MAX_ASSERTIONS}"),
    ],
)
def test_a_bad_assertion_is_an_input_error_naming_the_line(tmp_path, assertions, problem):
    data = tmp_path / "cases.jsonl"
    data.write_text(
        json.dumps({"id": "ok", "input": "a"})
        + "\n"
        + json.dumps({"id": "bad", "input": "b", "assert": assertions}),
        encoding="utf-8",
    )
    with pytest.raises(InputError) as caught:
        load_cases([data])
    assert caught.value.file == str(data) and caught.value.line == 2
    assert problem in caught.value.message


@pytest.mark.slow
def test_the_command_line_names_the_dataset_line_of_a_bad_assertion(tmp_path):
    config = write_suite(
        tmp_path,
        "suite: t\ndatasets: [cases.jsonl]\nprovider: {type: python, target: model.py:predict}\nmetrics: [assertions]\n",
        {
            "model.py": "def predict(x):\n    return x\n",
            "cases.jsonl": '{"id": "a", "input": "x"}\n{"id": "b", "input": "y", "assert": [{"type": "regex", "value": "*"}]}\n',
        },
    )
    assert_one_clear_error(evalgate("run", "--config", str(config)), "cases.jsonl:2", "regular expression")


@pytest.mark.slow
def test_a_catastrophic_regex_fails_its_assertion_in_bounded_time():
    (spec,) = parse_assertions([{"type": "regex", "value": "(x+x+)+y"}])
    passed, reason = check(spec, "x" * 5000)
    assert (
        not passed and reason == f"the regular expression took more than {REGEX_TIMEOUT_S:g}s on this output"
    )
    (inverse,) = parse_assertions([{"type": "not-regex", "value": "(x+x+)+y"}])
    assert check(inverse, "x" * 5000)[0] is False  # an unknown answer never passes, inverted or not


@pytest.mark.slow
def test_a_catastrophic_schema_pattern_fails_in_bounded_time():
    schema = {"type": "object", "properties": {"id": {"type": "string", "pattern": "(x+x+)+y"}}}
    (spec,) = parse_assertions([{"type": "json_schema", "value": schema}])
    passed, reason = check(spec, json.dumps({"id": "x" * 5000}))
    assert not passed and "took more than" in reason
    keyed = {"type": "object", "patternProperties": {"(x+x+)+y": {"type": "integer"}}}
    (spec,) = parse_assertions([{"type": "json_schema", "value": keyed}])
    assert "took more than" in check(spec, json.dumps({"x" * 5000: 1}))[1]


def test_schemas_that_cannot_be_bounded_or_are_huge_are_refused():
    unbounded = {"patternProperties": {"^a": {}}, "additionalProperties": False}
    with pytest.raises(AssertionSpecError, match="could not be bounded"):
        parse_assertions([{"type": "json_schema", "value": {"properties": {"x": unbounded}}}])
    huge = {"enum": ["v" * 1000] * (MAX_SCHEMA_CHARS // 1000 + 1)}
    with pytest.raises(AssertionSpecError, match="longer than 100,000 characters"):
        parse_assertions([{"type": "json_schema", "value": huge}])


def test_a_deep_output_fails_a_schema_instead_of_crashing():
    (spec,) = parse_assertions(
        [
            {
                "type": "json_schema",
                "value": {"$ref": "#/$defs/n", "$defs": {"n": {"items": {"$ref": "#/$defs/n"}}}},
            }
        ]
    )
    deep = "[" * 5000 + "]" * 5000  # json.loads of the output fails first: not JSON evalgate can use
    assert check(spec, deep) == (False, "the output is not valid JSON")


def test_a_dataset_line_that_is_not_utf8_is_refused_with_its_line(tmp_path):
    data = tmp_path / "cases.jsonl"
    data.write_bytes(
        b'{"id": "a", "input": "x"}\n{"id": "b", "input": "y", "assert": [{"type": "contains", "value": "\xff"}]}\n'
    )
    with pytest.raises(InputError, match="not valid UTF-8") as caught:
        load_cases([data])
    assert caught.value.line == 2


def test_a_remote_schema_reference_is_refused_never_fetched():
    remote = {"properties": {"a": {"$ref": "https://example.invalid/schema.json"}}}
    with pytest.raises(AssertionSpecError, match="a \\$ref must point inside the schema"):
        parse_assertions([{"type": "json_schema", "value": remote}])


def scored(records):
    metric = Assertions({"task": True}, Path("."))
    import asyncio

    asyncio.run(metric.prepare(records, None))
    return [metric.score_case(record) for record in records], metric


def test_the_metric_scores_cases_with_assertions_and_only_those():
    spec = [{"type": "contains", "value": "ok"}, {"type": "not-contains", "value": "error"}]
    records = [
        {"id": "pass", "output": "ok", "error": None, "assert": spec},
        {"id": "half", "output": "ok error", "error": None, "assert": spec},
        {"id": "errored", "output": None, "error": "TimeoutError", "assert": spec},
        {"id": "none", "output": "anything", "error": None},
    ]
    scores, metric = scored(records)
    assert scores == [{"assertions": 1.0}, {"assertions": 0.0}, {"assertions": 0.0}, {}]
    for record, score in zip(records, scores, strict=True):
        record["scores"] = score
    assert metric.aggregate(records) == {"assertions": pytest.approx(1 / 3)}
    assert metric.sizes(records) == {"assertions": 3}
    assert [o["pass"] for o in records[1]["assertion_results"]] == [True, False]
    assert records[2]["assertion_results"] is None  # not checked: no answer
    assert metric.judge_usage is None  # no rubric: the judge is never opened


def test_the_reference_quotes_the_rubric_prompt_in_use():
    from evalgate.metrics.assertions import RUBRIC_PROMPT
    from tests.conftest import ROOT

    assert RUBRIC_PROMPT in (ROOT / "docs" / "reference.md").read_text()
