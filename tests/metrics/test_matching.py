"""Per-case checks: exact_match, contains, regex, accuracy, json_valid, json_schema, compression_ratio."""

from __future__ import annotations

import json

import pytest

from evalgate.errors import InputError
from evalgate.metrics import score_results

from .metricskit import build, record


def scores(tmp_path, metrics_yaml: str, rows: list[dict], key: str) -> list[float]:
    score_results(build(tmp_path, metrics_yaml), rows)
    return [row["scores"][key] for row in rows]


def test_exact_match_options(tmp_path):
    rows = [
        record(" Paris ", "Paris"),
        record("paris", "Paris"),
        record("New  York", "New York"),
        record({"text": "Rome"}, ["Roma", "Rome"]),
        record("Paris", "Paris", error="boom"),
    ]
    assert scores(tmp_path, "metrics: [exact_match]\n", rows, "exact_match") == [1, 0, 0, 1, 0]
    assert scores(tmp_path, "metrics:\n  - exact_match: {ignore_case: true}\n", rows, "exact_match") == [
        1,
        1,
        0,
        1,
        0,
    ]
    assert scores(tmp_path, "metrics:\n  - exact_match: {strip: false}\n", rows, "exact_match") == [
        0,
        0,
        0,
        1,
        0,
    ]
    yaml = "metrics:\n  - exact_match: {normalize_whitespace: true}\n"
    assert scores(tmp_path, yaml, rows, "exact_match") == [1, 0, 1, 1, 0]


def test_contains_all_or_any(tmp_path):
    rows = [
        record("Your refund is on its way", "refund"),
        record("Your Refund is on its way", "refund"),
        record("refund issued, ticket closed", ["refund", "ticket"]),
        record("refund issued", ["refund", "ticket"]),
    ]
    assert scores(tmp_path, "metrics: [contains]\n", rows, "contains") == [1, 0, 1, 0]
    yaml = "metrics:\n  - contains: {match: any, ignore_case: true}\n"
    assert scores(tmp_path, yaml, rows, "contains") == [1, 1, 1, 1]


def test_regex_from_option_or_expected(tmp_path):
    rows = [record("Order #12345 shipped", r"#\d{5}"), record("order 12", r"#\d{5}"), record("x", "(bad")]
    assert scores(tmp_path, "metrics: [regex]\n", rows, "regex") == [1, 0, 0]
    assert "not a valid regular expression" in rows[2]["notes"][0]
    rows = [record("12345", None), record("a12345", None)]
    yaml = "metrics:\n  - regex: {pattern: '\\d+', fullmatch: true}\n"
    assert scores(tmp_path, yaml, rows, "regex") == [1, 0]


def test_json_valid(tmp_path):
    rows = [
        record('{"a": 1}'),
        record("{'a': 1}"),
        record({"intent": "refund"}),
        record({"text": "[1, 2]"}),
        record(None),
        record('{"a": 1}', error="boom"),
    ]
    assert scores(tmp_path, "metrics: [json_valid]\n", rows, "json_valid") == [1, 0, 1, 1, 0, 0]


def test_json_schema(tmp_path):
    schema = {"type": "object", "required": ["intent"], "properties": {"intent": {"enum": ["refund", "bug"]}}}
    (tmp_path / "schema.json").write_text(json.dumps(schema))
    rows = [
        record('{"intent": "refund"}'),
        record('{"intent": "other"}'),
        record({"intent": "bug"}),
        record("no"),
    ]
    yaml = "metrics:\n  - json_schema: {schema: schema.json}\n"
    assert scores(tmp_path, yaml, rows, "json_schema") == [1, 0, 1, 0]


@pytest.mark.parametrize(
    ("content", "problem"),
    [(None, "not found"), ("{not json", "not valid JSON"), ('{"type": 12}', "not a valid JSON Schema")],
)
def test_bad_schema_file_is_an_input_error(tmp_path, content, problem):
    if content is not None:
        (tmp_path / "schema.json").write_text(content)
    with pytest.raises(InputError) as info:
        build(tmp_path, "metrics:\n  - accuracy\n  - json_schema: {schema: schema.json}\n")
    assert problem in info.value.message
    if content == "{not json":  # the schema file's own line
        assert info.value.file == str(tmp_path / "schema.json") and info.value.line == 1
    elif content is None:  # the missing file is named itself, with no line of the config pinned on it
        assert info.value.file == str(tmp_path / "schema.json")
    else:  # the config's line
        assert info.value.line == 3


def test_compression_ratio(tmp_path):
    rows = [
        record("short summary here", None, input="one two three four five six"),
        record("a b", None, input={"article": "w " * 10, "title": "t"}),
        record("a b", None, input="x y", error="boom"),
    ]
    assert scores(tmp_path, "metrics: [compression_ratio]\n", rows[:1], "compression_ratio") == [0.5]
    yaml = "metrics:\n  - compression_ratio: {input_key: article}\n"
    assert scores(tmp_path, yaml, rows, "compression_ratio") == [0.5, 0.2, 1.0]


def test_a_case_without_expected_value_cannot_pass(tmp_path):
    metrics_yaml = "metrics: [exact_match, accuracy, contains, rouge1, regex]\n"
    rows = [record("", None), record("anything", None), record("anything", [])]
    score_results(build(tmp_path, metrics_yaml), rows)
    for row in rows:
        assert row["scores"] == {
            "exact_match": 0.0,
            "accuracy": 0.0,
            "contains": 0.0,
            "rouge1": 0.0,
            "regex": 0.0,
            "error_rate": 0.0,
        }
        assert "exact_match: the case has no expected value to compare with" in row["notes"]
    with_pattern = [record("a1", None)]
    score_results(build(tmp_path, "metrics:\n  - regex: {pattern: '\\d'}\n"), with_pattern)
    assert with_pattern[0]["scores"]["regex"] == 1.0
