"""The judge metric families against a local Messages API server, through the real anthropic SDK."""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time

import pytest

from evalgate.errors import InputError
from evalgate.judge.client import JudgeFormatError, parse_json_object
from evalgate.metrics.factual import FactualConsistency
from evalgate.metrics.judge import RubricJudge

from .fake_anthropic import user_text


def record(case_id: str, question: str, output: str = "an answer", **extra) -> dict:
    return {
        "id": case_id,
        "category": "typical",
        "input": question,
        "expected": "the reference",
        "output": output,
        "error": None,
        "scores": {},
        **extra,
    }


def score_all(metric, records, suite):
    asyncio.run(metric.prepare(records, suite))
    for item in records:
        item["scores"] = metric.score_case(item)
    return metric.aggregate(records)


def rubric_reply(relevance=5, accuracy=4, clarity=3, completeness=2, reasoning="ok") -> str:
    scores = {"relevance": relevance, "accuracy": accuracy, "clarity": clarity, "completeness": completeness}
    return json.dumps({"scores": scores, "reasoning": reasoning})


def question_of(prompt: str) -> str:
    return re.search(r"<question>\n(.*?)\n</question>", prompt, re.S).group(1)


def test_valid_fenced_repaired_and_broken_replies(suite, stub):
    def respond(request):
        prompt = user_text(request)
        question = question_of(prompt)
        if question == "valid":
            return rubric_reply(reasoning="concise and correct")
        if question == "fenced":
            return "```json\n" + rubric_reply(5, 5, 5, 4) + "\n```"
        if question == "repairable":
            if "<previous_reply>" in prompt:
                return rubric_reply(1, 2, 3, 4, reasoning="repaired")
            return "Sure! Here are my scores: " + rubric_reply()
        return "I cannot score this."  # broken: invalid twice

    stub.responder = respond
    records = [record("a", "valid"), record("b", "fenced"), record("c", "repairable"), record("d", "broken")]
    metric = RubricJudge({}, suite.base_dir)
    aggregate = score_all(metric, records, suite)

    a, b, c, d = records
    assert a["scores"] == {
        "judge_relevance": 5,
        "judge_accuracy": 4,
        "judge_clarity": 3,
        "judge_completeness": 2,
        "judge_score": 3.5,
    }
    assert a["judge"]["reasoning"] == "concise and correct"
    assert a["judge"]["repaired"] is False
    assert b["scores"]["judge_score"] == pytest.approx(19 / 4)
    assert c["scores"]["judge_score"] == pytest.approx(2.5)
    assert c["judge"]["repaired"] is True and c["judge"]["reasoning"] == "repaired"
    assert d["scores"] == dict.fromkeys(d["scores"], 0.0) and len(d["scores"]) == 5
    assert "after one repair attempt" in d["judge"]["error"]
    assert d["judge"]["invalid_reply"] == "I cannot score this."
    assert aggregate["judge_score"] == pytest.approx((3.5 + 19 / 4 + 2.5 + 0) / 4)

    prompts = stub.prompts()
    assert len(prompts) == 6  # a, b: one call; c, d: one call and one repair each
    usage = metric.judge_usage
    assert usage["calls"] == 6 and usage["cached"] == 0
    assert usage["tokens_in"] == sum(len(p.split()) for p in prompts)  # what the server reported
    repair = next(p for p in prompts if "<previous_reply>" in p and question_of(p) == "repairable")
    assert "Sure! Here are my scores" in repair
    assert "not valid JSON" in repair
    assert "the reference" in prompts[0]  # the expected answer is shown as the reference


def test_out_of_range_and_missing_criteria_trigger_repair(suite, stub):
    replies = iter(
        [
            json.dumps(
                {"scores": {"relevance": 9, "accuracy": 1, "clarity": 1, "completeness": 1}, "reasoning": "x"}
            ),
            json.dumps({"scores": {"relevance": 3}, "reasoning": "x"}),
        ]
    )
    stub.responder = lambda request: next(replies)
    metric = RubricJudge({}, suite.base_dir)
    records = [record("a", "q")]
    score_all(metric, records, suite)
    assert records[0]["scores"]["judge_score"] == 0.0
    assert "missing accuracy, clarity, completeness" in records[0]["judge"]["error"]
    assert 'scores["relevance"] must be from 1 to 5, got 9' in stub.prompts()[1]


def test_errored_case_is_not_judged_and_scores_zero(suite, stub):
    stub.responder = lambda request: rubric_reply()
    records = [record("ok", "q1"), record("bad", "q2", output=None, error="TimeoutError: 30 s")]
    metric = RubricJudge({"normalized": True}, suite.base_dir)
    score_all(metric, records, suite)
    assert len(stub.requests) == 1
    assert records[1]["scores"]["judge_score"] == 0.0 and records[1]["scores"]["judge_score_norm"] == 0.0
    assert records[0]["scores"]["judge_score_norm"] == pytest.approx((3.5 - 1) / 4)
    assert records[1]["judge"]["error"].startswith("not judged")


def test_custom_criteria_scale_and_template(suite, stub, tmp_path):
    template = tmp_path / "rubric.j2"
    template.write_text(
        "Grade {{ output }} for {% for c in criteria %}{{ c.name }} ({{ c.description }}) {% endfor %}"
        "from {{ scale_min }} to {{ scale_max }}.\n{{ reply_format }}"
    )
    stub.responder = lambda request: json.dumps({"scores": {"tone": 10, "brevity": 7}, "reasoning": "fine"})
    metric = RubricJudge(
        {
            "criteria": [{"tone": "Polite and warm"}, {"brevity": "Short"}],
            "scale": [0, 10],
            "rubric": "rubric.j2",
            "normalized": True,
        },
        tmp_path,
    )
    assert [key.name for key in list(metric.keys())] == [
        "judge_tone",
        "judge_brevity",
        "judge_score",
        "judge_score_norm",
    ]
    records = [record("a", "q", output="Hello there")]
    score_all(metric, records, suite)
    assert records[0]["scores"] == {
        "judge_tone": 10,
        "judge_brevity": 7,
        "judge_score": 8.5,
        "judge_score_norm": 0.85,
    }
    prompt = stub.prompts()[0]
    assert prompt.startswith("Grade Hello there for tone (Polite and warm) brevity (Short) from 0 to 10.")
    assert '"tone": <0-10>, "brevity": <0-10>' in prompt


def test_bad_rubric_options_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="needs a description"):
        RubricJudge({"criteria": ["tone"]}, tmp_path)
    with pytest.raises(InputError, match="two integers"):
        RubricJudge({"scale": [5, 1]}, tmp_path)
    with pytest.raises(InputError, match="judge template not found"):
        RubricJudge({"rubric": "missing.j2"}, tmp_path)


def test_missing_judge_section_is_an_input_error(suite):
    suite.judge = None
    with pytest.raises(InputError, match="needs a judge model"):
        asyncio.run(RubricJudge({}, suite.base_dir).prepare([record("a", "q")], suite))


def test_judge_server_error_is_a_per_case_error(suite, stub):
    def respond(request):
        raise RuntimeError("overloaded")

    stub.responder = respond
    records = [record("a", "q")]
    score_all(RubricJudge({}, suite.base_dir), records, suite)
    assert records[0]["scores"]["judge_score"] == 0.0
    error = records[0]["judge"]["error"]
    assert error.startswith("judge call failed: ") and "500" in error and "overloaded" in error


@pytest.mark.slow
def test_judge_calls_run_concurrently_within_the_limit(suite, stub):
    lock, state = threading.Lock(), {"now": 0, "peak": 0}

    def respond(request):
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        time.sleep(0.05)
        with lock:
            state["now"] -= 1
        return rubric_reply()

    stub.responder = respond
    suite.concurrency = 3
    records = [record(str(i), f"q{i}") for i in range(12)]
    score_all(RubricJudge({}, suite.base_dir), records, suite)
    assert state["peak"] == 3
    assert all(item["scores"]["judge_score"] == 3.5 for item in records)


def claims_reply(*supported: bool) -> str:
    claims = [{"claim": f"claim {i}", "supported": flag} for i, flag in enumerate(supported)]
    return json.dumps({"claims": claims, "reasoning": "checked"})


def test_factual_consistency_and_hallucination(suite, stub):
    def respond(request):
        source = re.search(r"<source>\n(.*?)\n</source>", user_text(request), re.S).group(1)
        return {
            "doc-1": claims_reply(True, True, False),
            "doc-2": claims_reply(True, True),
            "doc-3": claims_reply(),
        }[source]

    stub.responder = respond
    records = [
        record("a", "q", metadata={"source": "doc-1"}),
        record("b", "q", expected="doc-2"),
        {
            **record("c", "doc-3"),
            "expected": None,
        },  # no metadata source, no expected: the input is the source
        record("d", "q", output=None, error="boom"),
    ]
    metric = FactualConsistency({}, suite.base_dir)
    aggregate = score_all(metric, records, suite)
    assert [r["scores"]["factual_consistency"] for r in records] == pytest.approx([2 / 3, 1.0, 1.0, 0.0])
    assert [r["scores"]["hallucination_rate"] for r in records] == [1.0, 0.0, 0.0, 1.0]
    assert aggregate == pytest.approx({"factual_consistency": (2 / 3 + 2) / 4, "hallucination_rate": 0.5})
    assert records[0]["factual"]["claims"][2] == {"claim": "claim 2", "supported": False}
    assert records[0]["factual"]["reasoning"] == "checked"
    assert (
        next(key for key in list(metric.keys()) if key.name == "hallucination_rate").higher_is_better is False
    )


def test_factual_claims_must_have_boolean_support(suite, stub):
    stub.responder = lambda request: json.dumps(
        {"claims": [{"claim": "x", "supported": "yes"}], "reasoning": ""}
    )
    records = [record("a", "q")]
    score_all(FactualConsistency({"source": "expected"}, suite.base_dir), records, suite)
    assert records[0]["scores"] == {"factual_consistency": 0.0, "hallucination_rate": 1.0}
    assert '"supported" as true or false' in records[0]["factual"]["error"]
    assert len(stub.requests) == 2


@pytest.mark.parametrize(
    ("reply", "problem"),
    [
        ('Here you go: {"a": 1}', "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"a": NaN}', "NaN is not valid JSON"),
        ('```json\n{"a": 1}\n``` and more', "not valid JSON"),
        ("   ", "empty"),
    ],
)
def test_strict_parsing_rejects(reply, problem):
    with pytest.raises(JudgeFormatError, match=problem):
        parse_json_object(reply)


def test_strict_parsing_accepts_object_and_single_fence():
    assert parse_json_object(' {"a": [1, {"b": 2}]} ') == {"a": [1, {"b": 2}]}
    assert parse_json_object('```\n{"a": 1}\n```') == {"a": 1}


def test_the_case_source_document_is_shown_to_the_judge(suite, stub):
    stub.responder = lambda request: rubric_reply()
    records = [record("a", "q", metadata={"source": "Refunds within 30 days."}), record("b", "q2")]
    score_all(RubricJudge({"reference": False}, suite.base_dir), records, suite)
    with_source, without = sorted(stub.prompts(), key=lambda p: "q2" in p)
    assert "<source_document>\nRefunds within 30 days.\n</source_document>" in with_source
    assert "<source_document>" not in without
    assert "<reference_answer>" not in with_source  # reference: false


@pytest.mark.slow
def test_a_judge_that_does_not_reply_in_time_is_a_per_case_error(suite, stub):
    def respond(request):
        time.sleep(1.0)
        return rubric_reply()

    stub.responder = respond
    suite.timeout = 0.2
    records = [record("a", "q")]
    score_all(RubricJudge({}, suite.base_dir), records, suite)
    assert records[0]["judge"]["error"] == "judge call failed: no reply within 0.2s"
    assert records[0]["scores"]["judge_score"] == 0.0


def test_a_case_without_its_source_is_not_checked_and_fails(suite, stub):
    stub.responder = lambda request: claims_reply(True)
    records = [record("a", "q", metadata={"source": "doc"}), record("b", "q", metadata={})]
    score_all(FactualConsistency({"source": "metadata"}, suite.base_dir), records, suite)
    assert len(stub.requests) == 1
    assert records[1]["factual"]["error"] == (
        "not judged: the case has no source to check against (metadata.source is empty)"
    )
    assert records[1]["scores"] == {"factual_consistency": 0.0, "hallucination_rate": 1.0}
    assert records[0]["scores"] == {"factual_consistency": 1.0, "hallucination_rate": 0.0}
