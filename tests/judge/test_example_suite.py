"""The Claude example suite (examples/support-bot): its datasets, and the CLI end to end against a local
Messages API server (config loading, the real anthropic provider, the runner, the judge, the cache)."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from collections import Counter
from pathlib import Path

import pytest

from evalgate.cli import main

from .fake_anthropic import user_text

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "support-bot"


def read_cases() -> dict[str, list[dict]]:
    folder = EXAMPLE / "eval" / "datasets" / "v1"
    return {
        path.stem: [json.loads(line) for line in path.read_text().splitlines()]
        for path in folder.glob("*.jsonl")
    }


def test_the_example_datasets_are_realistic_and_complete():
    cases = read_cases()
    assert set(cases) == {"typical_cases", "edge_cases", "adversarial_cases"}
    every = [case for rows in cases.values() for case in rows]
    assert 15 <= len(every) <= 30
    assert len({case["id"] for case in every}) == len(every)
    for case in every:
        assert case["input"].strip() and case["expected"].strip()
        assert len(case["metadata"]["source"]) > 80  # the help-center article the bot answers from


@pytest.fixture
def example(tmp_path, stub, monkeypatch) -> Path:
    """A copy of the example (its cache stays in tmp) whose Claude calls go to the local server."""
    folder = tmp_path / "support-bot"
    shutil.copytree(EXAMPLE, folder)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", stub.url)
    return folder


def fake_claude(request: dict) -> str:
    """The bot answers with its model name; the judge prefers claude-sonnet-4-6's answers; the generator
    writes two variants."""
    prompt = user_text(request)
    if "<answer_1>" in prompt:
        first = re.search(r"<answer_1>\n(.*?)\n</answer_1>", prompt, re.S).group(1)
        high, low = (85, 60) if "claude-sonnet-4-6" in first else (60, 85)
        return json.dumps({"scores": {"answer_1": high, "answer_2": low}, "reasoning": "more precise"})
    if "<original_input>" in prompt:
        seed = re.search(r"<original_input>\n(.*?)\n</original_input>", prompt, re.S).group(1)
        return json.dumps({"inputs": [f"Quick question: {seed}", f"{seed.upper()} (asking for my mother)"]})
    assert "Customer message:" in prompt and "Nimbus Drive" in request["system"]
    return f"[{request['model']}] Here is what the article says."


@pytest.mark.slow
def test_compare_two_claude_models_and_cache_the_judge(example, stub, capsys):
    stub.responder = fake_claude
    args = [
        "compare",
        "--config",
        str(example / "evalgate.yaml"),
        "--a",
        "sonnet",
        "--b",
        "haiku",
        "--output",
        str(example / "compare.json"),
        "--report",
        str(example / "compare.md"),
    ]
    assert main(args) == 0
    document = json.loads((example / "compare.json").read_text())
    (pair,) = document["pairs"]
    assert (pair["a"], pair["b"], pair["wins_a"], pair["n"]) == ("sonnet", "haiku", 24, 24)
    assert pair["position_consistency"] == 1.0
    assert "ANTHROPIC_API_KEY" not in (example / "compare.md").read_text()
    assert "test-key" not in (example / "compare.json").read_text() + (example / "compare.md").read_text()
    calls = len(stub.requests)
    assert calls == 24 * 2 + 24 * 2  # both models answer, the judge sees each pair in both orders
    assert main(args[:-4]) == 0  # again: answers and judge verdicts come from the cache
    assert len(stub.requests) == calls
    assert "sonnet vs haiku: 24 wins, 0 losses, 0 ties" in capsys.readouterr().out


def test_generate_from_the_example_seeds_then_refuse_to_overwrite(example, stub, capsys):
    stub.responder = fake_claude
    out = example / "eval" / "datasets" / "v2" / "adversarial_generated.jsonl"
    args = [
        "generate",
        "--config",
        str(example / "evalgate.yaml"),
        "--from",
        str(example / "eval" / "datasets" / "v1" / "typical_cases.jsonl"),
        "--out",
        str(out),
        "--techniques",
        "paraphrase,formatting",
    ]
    assert main(args) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    # 10 seeds x 2 techniques x 2 variants; the fake writes the same two for both techniques
    assert len(rows) == 20
    assert Counter(row["metadata"]["generated"]["strategy"] for row in rows) == {"paraphrase": 20}
    seeds = {case["id"]: case for case in read_cases()["typical_cases"]}
    for row in rows:
        seed = seeds[row["metadata"]["generated"]["source_id"]]
        assert row["expected"] == seed["expected"] and row["category"] == "generated"
        assert row["metadata"]["source"] == seed["metadata"]["source"]
        assert row["metadata"]["generated"]["model"] == "claude-sonnet-4-6"
    assert "dropped: 20 duplicate" in capsys.readouterr().out
    before = out.read_text()
    assert main(args) == 2
    assert out.read_text() == before


def test_the_example_config_builds_its_judge_metrics():
    from evalgate.config import load_config
    from evalgate.metrics import build_metrics

    metrics = build_metrics(load_config(EXAMPLE / "evalgate.yaml"))
    keys = {key.name for metric in metrics for key in list(metric.keys())}
    assert {
        "judge_policy",
        "judge_score",
        "judge_score_norm",
        "factual_consistency",
        "hallucination_rate",
    } <= keys


def test_the_example_suite_scores_with_its_judge_through_the_anthropic_provider(example, stub):
    from evalgate.config import load_config
    from evalgate.datasets import load_cases
    from evalgate.metrics import build_metrics, prepare_metrics, score_results
    from evalgate.runner import run_suite

    def respond(request: dict) -> str:
        prompt = user_text(request)
        if "<reference_answer>" in prompt and "Criteria:" in prompt:
            names = re.findall(r"^- (\w+):", prompt, re.M)
            return json.dumps({"scores": dict.fromkeys(names, 4), "reasoning": "fine"})
        if "<source>" in prompt:
            claims = [{"claim": "the article says so", "supported": True}]
            if "Vault" in prompt.split("<answer>")[1]:  # only the lost-Vault-key case's answer
                claims.append({"claim": "made up", "supported": False})
            return json.dumps({"claims": claims, "reasoning": "checked"})
        return f"[{request['model']}] answer to: {prompt.rsplit('Customer message:', 1)[1].strip()}"

    stub.responder = respond
    config = load_config(example / "evalgate.yaml")
    cases = load_cases(config.datasets)
    outcome = asyncio.run(run_suite(config, cases, progress=None))
    records = [
        {
            "id": r.case.id,
            "category": r.case.category,
            "input": r.case.input,
            "expected": r.case.expected,
            "metadata": r.case.metadata,
            "output": r.output.value if r.output else None,
            "error": r.error,
        }
        for r in outcome.results
    ]
    metrics = build_metrics(config)
    asyncio.run(prepare_metrics(metrics, records, config))
    overall, categories = score_results(metrics, records)
    assert overall["judge_score"]["value"] == pytest.approx(4.0)
    assert overall["judge_score_norm"]["value"] == pytest.approx(0.75)
    assert overall["judge_policy"]["n"] == 24
    assert overall["hallucination_rate"]["value"] == pytest.approx(1 / 24)  # the Vault case
    assert overall["factual_consistency"]["value"] == pytest.approx((23 + 0.5) / 24)
    vault = next(r for r in records if r["id"] == "e-vault-key")
    assert vault["factual"]["claims"][1] == {"claim": "made up", "supported": False}
    assert set(categories) == {"typical", "edge", "adversarial"}


def test_the_example_gold_labels_calibrate_the_example_judge(example, stub, capsys):
    """The example's gold file fits its judge (criteria, scale): a judge that scores like the first reviewer
    agrees fully, and the calibration lands next to the gold file, with the canary's reference verdicts."""
    rows = [json.loads(line) for line in (example / "eval" / "judge" / "gold.jsonl").read_text().splitlines()]
    rubric = {(row["input"], row["output"]): row["scores"] for row in rows if "scores" in row}
    factual = {row["output"]: row for row in rows if "claims" in row or "hallucinated" in row}

    def first_reviewer(request: dict) -> str:
        prompt = user_text(request)
        if "<answer_1>" in prompt:
            return json.dumps({"scores": {"answer_1": 80, "answer_2": 80}, "reasoning": "alike"})
        answer = re.search(r"<answer>\n(.*?)\n</answer>", prompt, re.S).group(1)
        if "factual claims" in prompt:
            row = factual.get(answer, {})
            unsupported = bool(row.get("hallucinated")) or any(
                not c["supported"] for c in row.get("claims", [])
            )
            return json.dumps(
                {"claims": [{"claim": "c", "supported": not unsupported}], "reasoning": "checked"}
            )
        question = re.search(r"<question>\n(.*?)\n</question>", prompt, re.S).group(1)
        names = re.findall(r"^- (\w+):", prompt, re.M)
        labels = rubric.get((question, answer), {})
        scores = {n: (labels[n][0] if isinstance(labels.get(n), list) else labels.get(n, 3)) for n in names}
        return json.dumps({"scores": scores, "reasoning": "as the reviewer"})

    stub.responder = first_reviewer
    assert main(["judge", "calibrate", "--config", str(example / "evalgate.yaml"), "--resamples", "100"]) == 0
    calibration = json.loads((example / "eval" / "judge" / "gold.calibration.json").read_text())
    assert calibration["gold"]["kinds"] == {"rubric": 30, "factual": 30, "pairwise": 8}
    assert set(calibration["rubric"]["criteria"]) == {
        "relevance",
        "accuracy",
        "clarity",
        "completeness",
        "policy",
    }
    assert calibration["rubric"]["criteria"]["policy"]["raters"] == 2
    assert calibration["rubric"]["criteria"]["policy"]["alpha_humans"]["value"] is not None
    assert calibration["factual"]["criteria"]["hallucinated"]["kappa"]["value"] == pytest.approx(1.0)
    assert len(calibration["canary"]["verdicts"]) == 6
    assert "✅ **Judge**: trusted to gate" in capsys.readouterr().out
