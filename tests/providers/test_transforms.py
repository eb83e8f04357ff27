"""Output transforms (evalgate/transforms.py, evalgate/providers/shaping.py): a Jinja2 expression in a sandbox or a
user function, applied to every answer before scoring; a failure is that case's transform error."""

from __future__ import annotations

import json

import pytest

from evalgate import pipeline
from evalgate.config import load_config
from evalgate.errors import InputError
from tests.conftest import write_suite
from tests.test_cli import assert_one_clear_error, evalgate

MODEL = """
calls = []

def predict(x):
    calls.append(x)
    return {"bytes": b"\\xff\\xfe", "number": 7, "dict": {"label": "billing"}}.get(x, "Intent: " + x)
"""
CASES = ["billing", "refund", "number", "dict"]


def suite(tmp_path, transform: str, files: dict[str, str] | None = None, extra: str = ""):
    cases = "".join(json.dumps({"id": x, "input": x, "expected": x}) + "\n" for x in CASES)
    return write_suite(
        tmp_path,
        f"suite: t\ndatasets: [cases.jsonl]\nprovider:\n  type: python\n  target: model.py:predict\n"
        f"  transform: {json.dumps(transform)}\nmetrics: [accuracy]\n{extra}",
        {"cases.jsonl": cases, "model.py": MODEL, **(files or {})},
    )


def run(config):
    results = pipeline.run_and_score(load_config(config), progress=False)
    return {case["id"]: case for case in results["cases"]}, results


def test_an_expression_transforms_each_answer_before_scoring(tmp_path):
    cases, results = run(suite(tmp_path, 'output | replace("Intent: ", "") if output is string else output'))
    assert cases["refund"]["output"] == "refund" and cases["refund"]["scores"]["accuracy"] == 1.0
    assert cases["refund"]["extra"]["raw_output"] == "Intent: refund"
    assert cases["number"]["output"] == 7 and "extra" not in cases["number"]  # unchanged: no raw copy
    assert (
        results["metrics"]["accuracy"]["value"] == 0.5
    )  # bytes: the model's own output error; dict: not "dict"


def test_a_transform_may_return_any_json_value(tmp_path):
    cases, _ = run(suite(tmp_path, '{"text": output} if output is string else [output]'))
    assert cases["refund"]["output"] == {"text": "Intent: refund"}
    assert cases["number"]["output"] == [7]
    assert cases["dict"]["output"] == [{"label": "billing"}]


def test_a_function_transform_gets_the_output_and_the_case(tmp_path):
    files = {
        "post.py": "def clean(output, case):\n    return f\"{case['id']}={str(output).removeprefix('Intent: ')}\"\n"
    }
    cases, _ = run(suite(tmp_path, "post.py:clean", files))
    assert cases["refund"]["output"] == "refund=refund"
    assert cases["refund"]["extra"]["raw_output"] == "Intent: refund"


@pytest.mark.parametrize(
    ("transform", "files", "error"),
    [
        ("output.missing_attribute", {}, "has no attribute 'missing_attribute'"),
        ("output / 0", {}, "TypeError"),  # a string divided: raised inside the expression
        ("output.__class__.__mro__", {}, "__class__"),  # the sandbox keeps Python internals out of reach
        (
            "post.py:bad",
            {"post.py": "def bad(output):\n    return object()\n"},
            "returned what JSON cannot hold",
        ),
        ("post.py:bad", {"post.py": "def bad(output):\n    return float('nan')\n"}, "is NaN"),
        ("post.py:bad", {"post.py": "def bad(output):\n    return b'\\xff'\n"}, "bytes that are not UTF-8"),
        ("post.py:bad", {"post.py": "def bad(output):\n    raise SystemExit(3)\n"}, "SystemExit: 3"),
    ],
)
def test_a_failing_transform_is_that_cases_transform_error(tmp_path, transform, files, error):
    cases, results = run(suite(tmp_path, transform, files))
    refund = cases["refund"]
    assert refund["error"].startswith(f"TransformError: the transform {transform!r}")
    assert error in refund["error"]
    assert results["run"]["complete"] is True  # the rest of the run went on


def test_a_transform_error_shows_the_raw_output_cut_short(tmp_path):
    files = {"model.py": "def predict(x):\n    return 'x' * 10_000\n"}
    cases, _ = run(suite(tmp_path, "output.nope", files))
    assert "'" + "x" * 200 + "...'" in cases["refund"]["error"]
    assert len(cases["refund"]["error"]) < 1000


@pytest.mark.slow
def test_a_syntax_error_is_exit_2_naming_the_config_line(tmp_path):
    config = suite(tmp_path, "output | | trim")
    with pytest.raises(InputError, match="not a valid Jinja2 expression") as caught:
        load_config(config)
    assert caught.value.line == 6  # the transform: line
    assert_one_clear_error(evalgate("run", "--config", str(config)), "evalgate.yaml:6", "transform")


@pytest.mark.slow
def test_a_missing_function_is_exit_2_before_any_call(tmp_path):
    config = suite(tmp_path, "post.py:clean")
    assert_one_clear_error(
        evalgate("run", "--config", str(config)), "provider.transform 'post.py:clean'", "not found"
    )


def test_the_judge_takes_no_transform(tmp_path):
    config = suite(
        tmp_path, "output", extra="judge: {type: python, target: model.py:predict, transform: output}\n"
    )
    with pytest.raises(InputError, match="transform"):
        load_config(config)
