"""A suite of tasks against the local fake OpenAI and Anthropic servers (requests as the real SDKs make them, over HTTP): one task per
vendor, a transform on one of them, and the run's budget shared by the tasks, measured by the server's own count
of requests. (The fake server and the keys are this folder's fixtures, tests/providers/llm/conftest.py.)"""

from __future__ import annotations

import json
from pathlib import Path

from evalgate.cli import main
from evalgate.process.exitcodes import ExitCode
from tests.conftest import write_suite

from .conftest import ANTHROPIC_KEY, OPENAI_KEY
from .fake_servers import ANTHROPIC_PATH, OPENAI_PATH, FakeLLMServer, answer_for


def two_vendors(tmp_path: Path, server: FakeLLMServer, extra: str = "") -> Path:
    intents = ["billing", "refund", "account", "bug"]
    intent = "".join(
        json.dumps({"id": f"i{n}", "input": text, "expected": text}) + "\n" for n, text in enumerate(intents)
    )
    summary = "".join(
        json.dumps({"id": f"s{n}", "input": f"thread {n}", "expected": answer_for(f"thread {n}")}) + "\n"
        for n in range(4)
    )
    return write_suite(
        tmp_path,
        f"""
        suite: llm-tasks
        concurrency: 1
        cache: {{enabled: false}}
        metrics: [exact_match]
        {extra}
        tasks:
          intent:
            datasets: [intent.jsonl]
            provider:
              type: openai
              model: gpt-4o-mini
              base_url: {server.url}/v1
              transform: "output | replace('echo: ', '')"
          summary:
            datasets: [summary.jsonl]
            provider: {{type: anthropic, model: claude-haiku-4-5, base_url: "{server.url}"}}
        """,
        {"intent.jsonl": intent, "summary.jsonl": summary},
    )


def paths(server: FakeLLMServer) -> list[str]:
    return [request.path for request in server.requests]


def test_each_task_calls_its_own_vendor_and_both_pass(tmp_path: Path, server: FakeLLMServer) -> None:
    config = two_vendors(tmp_path, server)
    out = tmp_path / "results.json"
    assert main(["check", "-q", "--config", str(config), "--output", str(out)]) == 0
    assert paths(server).count(OPENAI_PATH) == 4 and paths(server).count(ANTHROPIC_PATH) == 4
    results = json.loads(out.read_text())
    for name in ("intent", "summary"):
        assert results["tasks"][name]["metrics"]["exact_match"]["value"] == 1.0
    first = results["tasks"]["intent"]["cases"][0]
    assert first["output"] == "billing" and first["extra"]["raw_output"] == "echo: billing"
    assert first["tokens_in"] == 1 and first["tokens_out"] == 2  # the server's own count of words
    assert ANTHROPIC_KEY not in out.read_text() and OPENAI_KEY not in out.read_text()


def test_the_budget_is_the_runs_not_each_tasks(tmp_path: Path, server: FakeLLMServer, capsys) -> None:
    # intent: 4 calls of 3 tokens (12); summary gets the 2 tokens left: its first call (5 tokens) spends them and
    # the run stops. With a budget per task, summary would make 3 calls.
    config = two_vendors(tmp_path, server, extra="budget: {max_tokens: 14}")
    out = tmp_path / "results.json"
    assert main(["run", "-q", "--config", str(config), "--output", str(out)]) == ExitCode.INCOMPLETE
    assert paths(server).count(OPENAI_PATH) == 4 and paths(server).count(ANTHROPIC_PATH) == 1
    results = json.loads(out.read_text())
    assert (
        results["run"]["complete"] is False and "task summary: budget exceeded" in results["run"]["aborted"]
    )
    assert "RUN INCOMPLETE" in capsys.readouterr().err
