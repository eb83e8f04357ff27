"""A suite with an LLM provider, end to end: config file -> cases -> runner -> metrics -> results file.

The same stages as evalgate/pipeline.py (load_config, load_cases, run_suite, build_metrics, score_results,
build_results), with the real SDKs talking to a fake vendor on 127.0.0.1 that injects 429s, 500s and broken
answers. What must hold: every case accounted for once, an error is never a pass, tokens and cost are what the
server reported, a second run comes from the cache without a call, `cache.enabled: false` calls again, and the
API key is in neither the results nor the cache.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from evalgate import metrics, runner
from evalgate.config import SuiteConfig, load_config
from evalgate.datasets import load_cases
from evalgate.results import build_results, case_record, load_results, write_results
from evalgate.runner import RunOutcome

from .conftest import ANTHROPIC_KEY, OPENAI_KEY
from .fake_servers import FakeLLMServer, answer_for, words

PROMPT = "Q: {{ input }}"

# id -> (input, server behaviors for its prompt, whether `expected` is the right answer)
CASES: dict[str, tuple[str, list[str], bool]] = {
    "plain": ("what is the refund window", [], True),
    "rate-limited": ("where is my parcel", ["429:0.1", "ok"], True),
    "flaky": ("can I change my address", ["500", "ok"], True),
    "wrong": ("which plan is cheapest", [], False),
    "garbled": ("do you ship abroad", ["malformed"], True),
    "truncated": ("is there a warranty", ["truncated"], True),
    "down": ("how do I cancel", ["500", "500"], True),  # max_attempts 2: both tries fail
    "rejected": ("what is your phone number", ["400"], True),
}
ERRORS = {  # id -> what its error says
    "garbled": "malformed response",
    "truncated": "malformed response",
    "down": "HTTP 500 api_error: fake api_error (500) (after 2 attempts)",
    "rejected": "HTTP 400 invalid_request_error",
}
RETRIED = 3  # rate-limited, flaky and down each made one more request


@dataclass(frozen=True)
class Vendor:
    type: str
    model: str
    path: str  # what base_url adds to the server's address
    key: str
    price: tuple[float, float]  # USD per million input, output tokens (the built-in list price)


VENDORS = {
    "anthropic": Vendor("anthropic", "claude-haiku-4-5", "", ANTHROPIC_KEY, (1.0, 5.0)),
    "openai": Vendor("openai", "gpt-4o-mini", "/v1", OPENAI_KEY, (0.15, 0.6)),
}


def prompt_of(text: str) -> str:
    return PROMPT.replace("{{ input }}", text)


def write_suite(tmp_path: Path, server: FakeLLMServer, vendor: Vendor) -> SuiteConfig:
    (tmp_path / "prompts").mkdir(exist_ok=True)
    (tmp_path / "prompts" / "p.j2").write_text(PROMPT, encoding="utf-8")
    lines = [
        json.dumps(
            {
                "id": case_id,
                "input": text,
                "expected": answer_for(prompt_of(text)) if right else "a different answer",
                "category": "errors" if case_id in ERRORS else "answers",
            }
        )
        for case_id, (text, _, right) in CASES.items()
    ]
    (tmp_path / "cases.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp_path / "evalgate.yaml").write_text(
        f"""\
suite: support-e2e
datasets: [cases.jsonl]
provider:
  type: {vendor.type}
  model: {vendor.model}
  prompt: prompts/p.j2
  base_url: {server.url}{vendor.path}
  max_attempts: 2
concurrency: 4
metrics: [accuracy, exact_match]
cache: {{dir: .evalgate/cache}}
""",
        encoding="utf-8",
    )
    return load_config(tmp_path / "evalgate.yaml")


@dataclass
class Scored:
    outcome: RunOutcome
    records: list[dict[str, Any]]
    overall: dict[str, dict[str, Any]]
    results_text: str  # the results file as written

    def by_id(self) -> dict[str, dict[str, Any]]:
        return {record["id"]: record for record in self.records}


def run_and_score(config: SuiteConfig, tmp_path: Path, name: str) -> Scored:
    """What evalgate/pipeline.py's run_and_score does for one provider, then the results file written."""
    cases = load_cases(config.datasets)
    built = metrics.build_metrics(config)
    outcome = asyncio.run(runner.run_suite(config, cases, progress=None))
    records = [case_record(result) for result in outcome.results]
    asyncio.run(metrics.prepare_metrics(built, records, config))
    overall, categories = metrics.score_results(built, records, confidence=config.stats["confidence"])
    results = build_results(
        suite=config.suite,
        label=name,
        signature={
            "config": "sha256:test",
            "datasets": "sha256:test",
            "provider": outcome.provider_fingerprint,
            "metrics": "sha256:test",
            "sample": None,
            "repeats": config.repeats,
        },
        git={"sha": None, "ref": None},
        run={
            "wall_s": outcome.wall_s,
            "concurrency": config.concurrency,
            "provider": "default",
            "aborted": outcome.aborted,
            "cache": outcome.cache_stats,
        },
        metric_keys=metrics.metric_keys(built),
        metrics=overall,
        categories=categories,
        cases=records,
    )
    path = write_results(tmp_path / f"{name}.json", results)
    load_results(path)  # the file is valid against the results schema
    return Scored(outcome, records, overall, path.read_text(encoding="utf-8"))


def assert_usage_as_reported(record: dict[str, Any], vendor: Vendor) -> None:
    """Tokens as the fake server counts them (words), cost from the model's list price."""
    prompt = prompt_of(CASES[record["id"]][0])
    assert record["tokens_in"] == words(prompt)
    assert record["tokens_out"] == words(answer_for(prompt))
    price_in, price_out = vendor.price
    expected_cost = (record["tokens_in"] * price_in + record["tokens_out"] * price_out) / 1e6
    assert record["cost"] == pytest.approx(expected_cost, rel=1e-12)


def assert_no_secret(scored: Scored, vendor: Vendor, cache_dir: Path) -> None:
    assert vendor.key not in scored.results_text
    assert vendor.key not in json.dumps(scored.records, default=str)
    for file in cache_dir.iterdir():  # the database, its WAL and shared-memory files
        assert vendor.key.encode() not in file.read_bytes()


@pytest.mark.usefixtures("fast_backoff")
@pytest.mark.parametrize("vendor_name", ["anthropic", "openai"])
def test_suite_end_to_end(server: FakeLLMServer, tmp_path: Path, vendor_name: str) -> None:
    vendor = VENDORS[vendor_name]
    for text, behaviors, _ in CASES.values():
        if behaviors:
            server.script(prompt_of(text), behaviors)
    config = write_suite(tmp_path, server, vendor)
    cache_dir = tmp_path / ".evalgate" / "cache"
    n = len(CASES)

    # run 1: injected failures
    first = run_and_score(config, tmp_path, "first")
    assert [record["id"] for record in first.records] == list(CASES)  # every case once, in order
    assert server.calls == n + RETRIED
    records = first.by_id()
    assert {case_id for case_id, record in records.items() if record["error"]} == set(ERRORS)
    for case_id, fragment in ERRORS.items():
        record = records[case_id]
        assert fragment in record["error"]
        assert record["output"] is None and record["tokens_in"] is None and record["cost"] is None
        # its expected value is the right answer: an error that counted as a pass would score 1 here
        assert record["scores"]["accuracy"] == 0.0 and record["scores"]["exact_match"] == 0.0
        assert record["scores"]["error_rate"] == 1.0
    right = [cid for cid, (_, _, ok) in CASES.items() if ok and cid not in ERRORS]
    for case_id in right:
        assert records[case_id]["output"] == answer_for(prompt_of(CASES[case_id][0]))
        assert records[case_id]["scores"]["accuracy"] == 1.0
        assert_usage_as_reported(records[case_id], vendor)
    assert records["wrong"]["error"] is None and records["wrong"]["scores"]["accuracy"] == 0.0
    assert first.overall["accuracy"]["value"] == pytest.approx(len(right) / n, abs=1e-12)
    assert first.overall["exact_match"]["value"] == pytest.approx(len(right) / n, abs=1e-12)
    assert first.overall["error_rate"]["value"] == pytest.approx(len(ERRORS) / n, abs=1e-12)
    answered = [record for record in first.records if record["error"] is None]
    assert first.overall["tokens_in"]["value"] == sum(record["tokens_in"] for record in answered)
    assert first.overall["cost_total"]["value"] == pytest.approx(
        sum(record["cost"] for record in answered), rel=1e-12
    )
    assert first.outcome.cache_stats == {"hits": 0, "misses": n}
    assert_no_secret(first, vendor, cache_dir)
    sent = server.requests[0].headers
    assert vendor.key in (sent.get("x-api-key"), sent.get("authorization", "").removeprefix("Bearer "))

    # run 2: the answers come from the cache; only the cases that errored (never cached) are asked again,
    # and the server now answers them
    calls = server.calls
    second = run_and_score(config, tmp_path, "second")
    assert server.calls == calls + len(ERRORS)
    assert second.outcome.cache_stats == {"hits": n - len(ERRORS), "misses": len(ERRORS)}
    assert second.overall["error_rate"]["value"] == 0.0
    assert second.overall["accuracy"]["value"] == pytest.approx((n - 1) / n, abs=1e-12)

    # run 3: everything from the cache, not one call, the same answers, tokens and cost
    calls = server.calls
    third = run_and_score(config, tmp_path, "third")
    assert server.calls == calls
    assert third.outcome.cache_stats == {"hits": n, "misses": 0}
    fields = ("output", "tokens_in", "tokens_out", "cost", "error", "scores")
    for before, after in zip(second.records, third.records, strict=True):
        assert [after[f] for f in fields] == [before[f] for f in fields]
        assert after["cached"] is True
        assert_usage_as_reported(after, vendor)
    assert third.overall["accuracy"] == second.overall["accuracy"]
    assert_no_secret(third, vendor, cache_dir)

    # run 4: cache.enabled false calls the server for every case
    config.cache["enabled"] = False
    calls = server.calls
    fourth = run_and_score(config, tmp_path, "fourth")
    assert server.calls == calls + n
    assert not any(record["cached"] for record in fourth.records)
    assert fourth.outcome.cache_stats == {"hits": 0, "misses": 0}
    assert [r["output"] for r in fourth.records] == [r["output"] for r in third.records]
