"""Per-case assertions, output transforms and a judge that sees the task, end to end (evalgate/pipeline.py):
the real openai SDK against the fake vendor server (the model under test: it answers `echo: <prompt>`), the real
anthropic SDK against a local Messages API server (the judge of rubric assertions and of the rubric metric),
then the comparison with a baseline and the markdown report a reviewer reads."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from judge.fake_anthropic import AnthropicStub, user_text

from evalgate import pipeline
from evalgate.config import load_config
from evalgate.contracts.results import Results, parse_results
from evalgate.errors import InputError
from evalgate.report.render import render_markdown

from .fake_servers import FakeLLMServer, answer_for, words

TASK = "Answer the customer's billing question in one sentence."
CASES = [
    {
        "id": "refund",
        "input": "refund window",
        "assert": [
            {"type": "icontains", "value": "REFUND"},
            {"type": "starts-with", "value": "Q:"},
            {"type": "rubric", "value": "mentions the window"},
        ],
    },
    {"id": "shipping", "input": "shipping cost", "assert": [{"type": "not_contains", "value": "echo"}]},
    {"id": "plain", "input": "hello"},
]


def rubric_judge(request: dict[str, Any]) -> str:
    """Passes a rubric assertion when the rubric's last word is in the answer; scores a rubric 5 or 1 alike."""
    prompt = user_text(request)
    answer = re.search(r"<answer>\n(.*?)\n</answer>", prompt, re.S).group(1)
    rubric = re.search(r"<rubric>\n(.*?)\n</rubric>", prompt, re.S)
    if rubric:
        word = rubric.group(1).split()[-1]
        return json.dumps({"pass": word in answer, "reasoning": f"looked for {word!r}"})
    good = 5 if "refund" in answer else 1
    return json.dumps({"scores": {"accuracy": good}, "reasoning": f"scored {good}"})


@pytest.fixture
def judge_server():
    with AnthropicStub() as stub:
        stub.responder = rubric_judge
        yield stub


def write_suite(
    folder: Path, server: FakeLLMServer, judge: AnthropicStub, *, transform: str, extra: str = ""
) -> Path:
    (folder / "cases.jsonl").write_text("".join(json.dumps(case) + "\n" for case in CASES), encoding="utf-8")
    config = folder / "evalgate.yaml"
    config.write_text(
        f"""suite: shaping
datasets: [cases.jsonl]
task: "{TASK}"
provider:
  type: openai
  model: gpt-4o-mini
  base_url: {server.url}/v1
  messages: [{{role: user, content: "Q: {{{{ input }}}}"}}]
  transform: '{transform}'
judge: {{type: anthropic, model: claude-haiku-4-5, base_url: {judge.url}, max_attempts: 1}}
metrics: [assertions]
cache: {{dir: cache}}
{extra}""",
        encoding="utf-8",
    )
    return config


@pytest.fixture(autouse=True)
def anthropic_key(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")


def run(config_path: Path) -> dict[str, Any]:
    return pipeline.run_and_score(load_config(config_path), progress=False)


def typed(results: dict[str, Any]) -> Results:
    """A run's results as the commands read them back (the typed contract)."""
    return parse_results(results, file="results.json")


def by_id(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {case["id"]: case for case in results["cases"]}


def test_assertions_score_the_transformed_output_and_the_judge_decides_rubrics(
    tmp_path, server, judge_server
):
    results = run(write_suite(tmp_path, server, judge_server, transform='output | replace("echo: ", "")'))
    cases = by_id(results)
    refund = cases["refund"]
    assert refund["output"] == "Q: refund window"
    assert refund["extra"]["raw_output"] == "echo: Q: refund window"
    assert [outcome["pass"] for outcome in refund["assertion_results"]] == [True, True, True]
    assert refund["assertion_results"][2]["reason"] == "looked for 'window'"
    assert cases["shipping"]["scores"] == {**cases["shipping"]["scores"], "assertions": 1.0}
    assert "assertions" not in cases["plain"]["scores"]  # no assertions: not scored
    assert results["metrics"]["assertions"] == {**results["metrics"]["assertions"], "value": 1.0, "n": 2}
    # the judge saw the task and the prompt the model was sent; one question per rubric assertion
    assert len(judge_server.requests) == 1
    assert TASK in judge_server.prompts()[0]
    assert results["run"]["judge"]["assertions"]["calls"] == 1


@pytest.mark.slow
def test_a_changed_transform_rescores_cached_answers_without_calling_the_model(
    tmp_path, server, judge_server
):
    run(write_suite(tmp_path, server, judge_server, transform='output | replace("echo: ", "")'))
    calls = server.calls
    assert calls == len(CASES)
    results = run(write_suite(tmp_path, server, judge_server, transform="output | upper"))
    assert server.calls == calls  # the cache holds the raw answers
    refund = by_id(results)["refund"]
    assert (
        refund["output"] == "ECHO: Q: REFUND WINDOW"
        and refund["extra"]["raw_output"] == "echo: Q: refund window"
    )
    assert by_id(results)["shipping"]["scores"]["assertions"] == 1.0  # "ECHO" is not "echo": case-sensitive
    assert by_id(results)["refund"]["scores"]["assertions"] == 0.0  # "ECHO: Q: ..." does not start with "Q:"


def test_a_transform_that_raises_is_that_cases_transform_error(tmp_path, server, judge_server):
    transform = 'output.split("refund")[1] ~ ""'  # no "refund" in the other answers: an IndexError for those
    results = run(write_suite(tmp_path, server, judge_server, transform=transform))
    cases = by_id(results)
    assert cases["refund"]["error"] is None and cases["refund"]["output"] == " window"
    error = cases["shipping"]["error"]
    assert error.startswith("TransformError: the transform") and "echo: Q: shipping cost" in error
    assert cases["shipping"]["scores"]["assertions"] == 0.0
    assert results["metrics"]["error_rate"]["value"] == pytest.approx(2 / 3)


@pytest.mark.slow
def test_the_report_explains_a_regressed_case(tmp_path, server, judge_server):
    baseline = run(write_suite(tmp_path, server, judge_server, transform='output | replace("echo: ", "")'))
    config_path = write_suite(
        tmp_path, server, judge_server, transform="output | upper", extra="gate: {assertions: {min: 0.9}}\n"
    )
    current = run(config_path)
    config = load_config(config_path)
    current, baseline = typed(current), typed(baseline)
    verdict = pipeline.judge(current, baseline, config)
    report = render_markdown(verdict, current, baseline)
    assert verdict.verdict == "fail"
    refund = report[report.index("<b>refund</b>") :]
    assert "Failed assertions" in refund
    assert "starts-with Q:: expected the output to start with 'Q:'" in refund
    assert "rubric mentions the window: looked for 'window'" in refund  # the judge's reasoning
    assert "icontains" not in refund  # the assertion that passed is not listed
    assert "Raw output (before the transform)" in refund and "echo: Q: refund window" in refund
    assert "ECHO: Q: REFUND WINDOW" in refund


@pytest.mark.slow
def test_the_rubric_metric_sees_the_task_unless_turned_off(tmp_path, server, judge_server):
    judged = 'metrics: [{judge: {criteria: [{accuracy: "is it right"}]}}]\n'
    config = write_suite(tmp_path, server, judge_server, transform="output", extra="")
    config.write_text(config.read_text().replace("metrics: [assertions]\n", judged), encoding="utf-8")
    (tmp_path / "cases.jsonl").write_text(json.dumps({"id": "a", "input": "refund"}) + "\n", encoding="utf-8")
    results = run(config)
    assert by_id(results)["a"]["judge"]["scores"] == {"accuracy": 5.0}
    assert f"<task>\n{TASK}\n</task>" in judge_server.prompts()[-1]
    config.write_text(
        config.read_text().replace('is it right"}]', 'is it right"}], task: false'), encoding="utf-8"
    )
    run(config)
    assert "<task>" not in judge_server.prompts()[-1]
    assert len(judge_server.requests) == 2  # the task is part of the prompt, so of the judge's cache key


def test_the_rendered_prompt_is_the_task_when_the_config_describes_none(tmp_path, server, judge_server):
    config = write_suite(tmp_path, server, judge_server, transform="output")
    config.write_text(config.read_text().replace(f'task: "{TASK}"\n', ""), encoding="utf-8")
    results = run(config)
    assert by_id(results)["refund"]["extra"]["prompt"] == "[user]\nQ: refund window"
    assert "<task>\n[user]\nQ: refund window\n</task>" in judge_server.prompts()[0]


def test_a_rubric_assertion_without_a_judge_is_exit_2_before_any_call(tmp_path, server, judge_server):
    config = write_suite(tmp_path, server, judge_server, transform="output")
    config.write_text(re.sub(r"judge: .*\n", "", config.read_text()), encoding="utf-8")
    with pytest.raises(InputError, match="rubric assertion is decided by a judge") as caught:
        run(config)
    assert caught.value.file.endswith("cases.jsonl") and caught.value.line == 1
    assert server.calls == 0


def test_assertions_without_the_metric_are_exit_2(tmp_path, server, judge_server):
    config = write_suite(tmp_path, server, judge_server, transform="output")
    config.write_text(
        config.read_text().replace("metrics: [assertions]", "metrics: [accuracy]"), encoding="utf-8"
    )
    with pytest.raises(InputError, match="add `assertions` to its metrics"):
        run(config)
    assert server.calls == 0


@pytest.mark.slow
def test_a_regressed_judge_case_shows_the_judges_scores_and_reasoning(tmp_path, server, judge_server):
    from evalgate.report.render import render_html

    judged = 'metrics: [{judge: {criteria: [{accuracy: "is it right"}]}}]\ngate: {judge_score: {min: 4}}\n'
    config = write_suite(tmp_path, server, judge_server, transform="output")
    config.write_text(config.read_text().replace("metrics: [assertions]\n", judged), encoding="utf-8")
    (tmp_path / "cases.jsonl").write_text(json.dumps({"id": "a", "input": "refund"}) + "\n", encoding="utf-8")
    baseline = run(config)
    config.write_text(
        config.read_text().replace("transform: 'output'", "transform: 'output[:6]'"), encoding="utf-8"
    )
    current = run(config)
    assert by_id(current)["a"]["output"] == "echo: "
    current, baseline = typed(current), typed(baseline)
    verdict = pipeline.judge(current, baseline, load_config(config))
    for report in (render_markdown(verdict, current, baseline), render_html(verdict, current, baseline)):
        case = report[report.index("<b>a</b>") :]
        assert "Judge" in case and "accuracy 1" in case and "scored 1" in case
        assert "echo: Q: refund" in case  # the raw output beside the transformed one


@pytest.mark.slow
def test_a_rubric_the_judge_cannot_answer_fails_with_the_judges_error(tmp_path, server, judge_server):
    judge_server.responder = lambda request: "I think it passes."
    results = run(write_suite(tmp_path, server, judge_server, transform="output"))
    rubric = by_id(results)["refund"]["assertion_results"][2]
    assert rubric["pass"] is False
    assert rubric["reason"].startswith("invalid judge reply after one repair attempt")
    assert len(judge_server.requests) == 2  # the question and its repair


@pytest.mark.parametrize("vendor", ["anthropic", "openai"])
def test_either_sdk_keeps_the_prompt_it_sent_for_the_judge(
    tmp_path, server, judge_server, vendor, monkeypatch
):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    config = write_suite(tmp_path, server, judge_server, transform="output")
    text = config.read_text().replace(f'task: "{TASK}"\n', "")
    if vendor == "anthropic":
        text = text.replace(
            "type: openai\n  model: gpt-4o-mini", "type: anthropic\n  model: claude-haiku-4-5"
        )
        text = text.replace(f"base_url: {server.url}/v1", f"base_url: {server.url}")
    config.write_text(text.replace("messages:", "system: Be brief.\n  messages:"), encoding="utf-8")
    results = run(config)
    assert by_id(results)["refund"]["extra"]["prompt"] == "[system]\nBe brief.\n\n[user]\nQ: refund window"
    assert "[system]\nBe brief." in judge_server.prompts()[0]


@pytest.mark.slow
def test_a_regressed_factual_case_shows_the_unsupported_claims(tmp_path, server, judge_server):
    def claims_judge(request: dict[str, Any]) -> str:
        prompt = user_text(request)
        answer = re.search(r"<answer>\n(.*?)\n</answer>", prompt, re.S).group(1)
        supported = "refund" in answer
        claim = {"claim": f"the answer says {answer!r}", "supported": supported}
        return json.dumps({"claims": [claim], "reasoning": "the source is about refunds"})

    judge_server.responder = claims_judge
    factual = "metrics: [{factual_consistency: {source: input}}]\ngate: {hallucination_rate: {max: 0.5}}\n"
    config = write_suite(tmp_path, server, judge_server, transform="output")
    config.write_text(config.read_text().replace("metrics: [assertions]\n", factual), encoding="utf-8")
    (tmp_path / "cases.jsonl").write_text(json.dumps({"id": "a", "input": "refund"}) + "\n", encoding="utf-8")
    baseline = run(config)
    assert f"<task>\n{TASK}\n</task>" in judge_server.prompts()[-1]
    config.write_text(
        config.read_text().replace("transform: 'output'", "transform: 'output[:6]'"), encoding="utf-8"
    )
    current = run(config)
    current, baseline = typed(current), typed(baseline)
    verdict = pipeline.judge(current, baseline, load_config(config))
    assert verdict.verdict == "fail"
    case = render_markdown(verdict, current, baseline)
    case = case[case.index("<b>a</b>") :]
    assert "Factual consistency" in case and "Unsupported claims:" in case
    assert "- the answer says 'echo: '" in case and "the source is about refunds" in case


def usage_table(report: str) -> dict[str, list[str]]:
    """The rows of the usage section's "This run" table: label -> [model under test, judge]."""
    table = report[report.index("| This run |") :].split("\n\n")[0].split("\n")
    assert table[0] == "| This run | Model under test | Judge |"
    return {
        cells[0]: cells[1:] for cells in ([c.strip() for c in row.strip("|").split("|")] for row in table[2:])
    }


@pytest.mark.slow
def test_the_usage_shows_the_judge_beside_the_model_and_what_the_cache_saved(tmp_path, server, judge_server):
    replies: list[str] = []

    def recording(request: dict[str, Any]) -> str:
        replies.append(rubric_judge(request))
        return replies[-1]

    judge_server.responder = recording
    prices = "prices: {claude-haiku-4-5: {input: 1.0, output: 5.0}, gpt-4o-mini: {input: 0.5, output: 2.0}}\n"
    judged = 'metrics: [{judge: {criteria: [{accuracy: "is it right"}]}}]\n'
    config = write_suite(tmp_path, server, judge_server, transform="output", extra=prices)
    config.write_text(config.read_text().replace("metrics: [assertions]\n", judged), encoding="utf-8")
    cases = "".join(json.dumps({"id": case["id"], "input": case["input"]}) + "\n" for case in CASES)
    (tmp_path / "cases.jsonl").write_text(cases, encoding="utf-8")

    def report() -> dict[str, list[str]]:
        results = typed(run(config))
        return usage_table(render_markdown(pipeline.judge(results, None, load_config(config)), results, None))

    first = report()
    # the truth the servers know: their requests, and the tokens they reported
    model_in = sum(words(" ".join(m["content"] for m in r.body["messages"])) for r in server.requests)
    model_out = sum(
        words(answer_for(m["messages"][-1]["content"])) for m in (r.body for r in server.requests)
    )
    judge_in = sum(len(user_text(request).split()) for request in judge_server.requests)
    judge_out = sum(len(reply.split()) for reply in replies)
    judge_cost = f"${(judge_in * 1.0 + judge_out * 5.0) / 1e6:.3g}"
    assert first["Calls made"] == [str(server.calls), str(len(judge_server.requests))] == ["3", "3"]
    assert first["Input tokens"] == [f"{model_in:,}", f"{judge_in:,}"]
    assert first["Output tokens"] == [f"{model_out:,}", f"{judge_out:,}"]
    assert first["Cost"][1] == judge_cost
    assert first["Saved by the cache: answers"] == ["0", "0"]

    again = report()  # every answer and every verdict from the cache: nothing is called
    assert server.calls == 3 and len(judge_server.requests) == 3
    assert again["Calls made"] == ["0", "0"] and again["Input tokens"] == ["0", "0"]
    assert again["Saved by the cache: answers"] == ["3", "3"]
    assert again["Saved by the cache: input tokens"] == [f"{model_in:,}", f"{judge_in:,}"]
    assert again["Saved by the cache: output tokens"] == [f"{model_out:,}", f"{judge_out:,}"]
    assert again["Saved by the cache: cost"][1] == judge_cost


def test_usage_a_provider_does_not_report_is_not_measured(tmp_path):
    from tests.conftest import write_suite as write_files

    config = write_files(
        tmp_path,
        "suite: plain\ndatasets: [cases.jsonl]\nprovider: {type: python, target: model.py:predict}\n",
        {"model.py": "def predict(x):\n    return x\n", "cases.jsonl": '{"input": "a", "expected": "a"}\n'},
    )
    results = typed(run(config))
    report = render_markdown(pipeline.judge(results, None, load_config(config)), results, None)
    table = report[report.index("| This run |") :].split("\n\n")[0]
    assert "| This run | Model under test |" in table
    assert "| Calls made | 1 |" in table
    assert "| Input tokens | not measured |" in table and "| Cost | not measured |" in table
