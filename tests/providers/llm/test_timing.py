"""Only measured numbers are numbers: a case's latency is its answering request's own time (issue 8 item 8).

Checked against the truth of the fake server: its sleeps (the latency it adds, the time before the first
streamed token and between tokens), its count of requests and of refusals. The SDK's import and client set-up,
waits for a slot, failed attempts and back-off are recorded apart (`attempts`, `wait_ms`) and counted in
`run.calls`; the limiter's settled concurrency is in `run.limiter` and the report's usage section.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from evalgate.cli import main
from tests.conftest import ROOT, write_suite

from .conftest import ANTHROPIC_KEY
from .fake_servers import FakeLLMServer, answer_for, words

SERVER_LATENCY = 0.05  # seconds the server sleeps before each answer
SLACK_MS = 700.0  # what the client side may add to a request (a loaded machine); far below an SDK import
READ_DELAY_SHARE = 0.5  # a busy client may read the first streamed token late: this share of the gaps is left


def suite(tmp_path: Path, provider: str, texts: list[str], **top: object) -> Path:
    cases = "".join(json.dumps({"id": f"c{i}", "input": text}) + "\n" for i, text in enumerate(texts))
    extra = "".join(f"{key}: {json.dumps(value)}\n" for key, value in top.items())
    return write_suite(
        tmp_path,
        f"suite: timing\ndatasets: [cases.jsonl]\nprovider: {provider}\nmetrics: [exact_match]\n"
        f"cache: {{enabled: false}}\n{extra}",
        {"cases.jsonl": cases},
    )


@pytest.mark.slow
def test_the_first_cases_are_timed_like_the_others_in_a_fresh_process(tmp_path: Path) -> None:
    """In a new interpreter the SDK import takes a second or more: it must not land in any case's latency."""
    with FakeLLMServer(latency=SERVER_LATENCY) as server:
        config = suite(
            tmp_path,
            f'{{type: anthropic, model: claude-haiku-4-5, base_url: "{server.url}"}}',
            [f"question {i}" for i in range(12)],
            concurrency=4,
        )
        result = subprocess.run(
            [sys.executable, "-m", "evalgate", "run", "-q", "--config", str(config), "--output", "r.json"],
            cwd=tmp_path, capture_output=True, text=True, timeout=120,
            env={**os.environ, "PYTHONPATH": str(ROOT), "ANTHROPIC_API_KEY": ANTHROPIC_KEY},
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert server.calls == 12
    results = json.loads((tmp_path / "r.json").read_text())
    latencies = [case["latency_ms"] for case in results["cases"]]
    assert min(latencies) >= SERVER_LATENCY * 1000  # every one includes the server's sleep
    assert max(latencies) < SERVER_LATENCY * 1000 + SLACK_MS, latencies  # and none the SDK's import
    assert all(case["attempts"] == 1 for case in results["cases"])
    assert results["run"]["calls"] == {"requests": 12, "retries": 0, "retried_cases": 0, "wait_s": pytest.approx(
        sum(case["wait_ms"] for case in results["cases"]) / 1000, abs=0.01)}  # fmt: skip


@pytest.mark.slow
@pytest.mark.usefixtures("fast_backoff")
def test_retries_and_back_off_are_recorded_apart_and_counted(tmp_path: Path) -> None:
    with FakeLLMServer(latency=SERVER_LATENCY) as server:
        server.script("retried", ["429:0.4", "500", "ok"])
        server.script("failed", ["500", "500", "500"])
        config = suite(
            tmp_path,
            f'{{type: anthropic, model: claude-haiku-4-5, base_url: "{server.url}", max_attempts: 3}}',
            ["retried", "plain", "failed"],
        )
        assert main(["run", "-q", "--config", str(config), "--output", str(tmp_path / "r.json")]) == 0
        calls = server.calls
    results = json.loads((tmp_path / "r.json").read_text())
    by_input = {case["input"]: case for case in results["cases"]}
    retried = by_input["retried"]
    assert retried["attempts"] == 3 and retried["error"] is None
    assert retried["wait_ms"] >= 400  # the server's retry-after, before the answering request
    assert SERVER_LATENCY * 1000 <= retried["latency_ms"] < SERVER_LATENCY * 1000 + SLACK_MS  # one request
    assert by_input["plain"]["attempts"] == 1
    assert by_input["failed"]["attempts"] == 3 and "after 3 attempts" in by_input["failed"]["error"]
    assert results["run"]["calls"]["requests"] == calls == 7
    assert results["run"]["calls"]["retries"] == 4 and results["run"]["calls"]["retried_cases"] == 2


@pytest.mark.slow
def test_the_settled_limit_is_in_the_results_and_the_report(tmp_path: Path) -> None:
    cap = 3
    with FakeLLMServer(latency=0.02, max_concurrent=cap, retry_after="0.2") as server:
        config = suite(
            tmp_path,
            f'{{type: anthropic, model: claude-haiku-4-5, base_url: "{server.url}"}}',
            [f"question {i}" for i in range(150)],  # ~1 s at the cap: it outweighs the retry-after pauses
            concurrency=12,
        )
        assert main(["run", "-q", "--config", str(config), "--output", str(tmp_path / "r.json")]) == 0
        refusals = server.state.rate_limited
    results = json.loads((tmp_path / "r.json").read_text())
    limiter = results["run"]["limiter"]
    assert limiter["settled"] == cap and limiter["slots"] == 12
    assert limiter["overloads"] == refusals > 0
    assert results["run"]["calls"]["retries"] == refusals
    code = main(
        [
            "gate",
            "--current",
            str(tmp_path / "r.json"),
            "--config",
            str(config),
            "--report",
            str(tmp_path / "report.md"),
        ]
    )
    assert code in (0, 1)
    report = (tmp_path / "report.md").read_text()
    assert f"concurrency settled on {cap} of 12" in report
    assert f"{150 + refusals} requests ({refusals} retries" in report


@pytest.mark.slow
@pytest.mark.parametrize("vendor", ["anthropic", "openai"])
def test_streaming_records_the_time_to_the_first_token_and_the_generation_rate(
    tmp_path: Path, vendor: str
) -> None:
    first_token, token_delay = 0.12, 0.03
    text = "one two three four five six"
    with FakeLLMServer(latency=first_token, token_delay=token_delay) as server:
        base_url = server.url + ("/v1" if vendor == "openai" else "")
        model = "claude-haiku-4-5" if vendor == "anthropic" else "gpt-4o-mini"
        config = suite(
            tmp_path,
            f'{{type: {vendor}, model: {model}, base_url: "{base_url}", stream: true}}',
            [text, text + " seven"],
        )
        assert main(["run", "-q", "--config", str(config), "--output", str(tmp_path / "r.json")]) == 0
        bodies = [request.body for request in server.requests]
    assert all(body["stream"] is True for body in bodies)
    results = json.loads((tmp_path / "r.json").read_text())
    for case in results["cases"]:
        answer = answer_for(case["input"])
        assert case["output"] == answer and case["tokens_out"] == words(answer)
        gaps = len(answer.split()) - 1  # the server sleeps token_delay before each word after the first
        assert first_token * 1000 <= case["ttft_ms"] < first_token * 1000 + SLACK_MS
        assert case["latency_ms"] >= (first_token + gaps * token_delay) * 1000  # every sleep of the server
        # the generation (after the first token) spans the server's gaps, less the client's delay in reading the
        # first token (a busy client reads it late): at least half of them on a loaded machine
        assert case["latency_ms"] - case["ttft_ms"] >= gaps * token_delay * 1000 * READ_DELAY_SHARE
    metrics = results["metrics"]
    assert metrics["latency_ttft_p50_ms"]["n"] == 2
    assert metrics["latency_ttft_p50_ms"]["value"] >= first_token * 1000
    generated = sum(case["tokens_out"] for case in results["cases"])
    seconds = sum((case["latency_ms"] - case["ttft_ms"]) / 1000 for case in results["cases"])
    assert metrics["generation_tokens_per_s"]["value"] == pytest.approx(generated / seconds, rel=1e-9)
    # the server's sleeps bound it: no faster than a word per token_delay after the first one (less the late read)
    max_rate = generated / sum(
        (len(answer_for(c["input"]).split()) - 1) * token_delay * READ_DELAY_SHARE for c in results["cases"]
    )
    assert metrics["generation_tokens_per_s"]["value"] <= max_rate
    assert results["metric_keys"]["latency_ttft_p95_ms"]["shown"] is True


@pytest.mark.slow
@pytest.mark.usefixtures("fast_backoff")
def test_an_overload_inside_a_stream_is_retried_like_a_529(tmp_path: Path) -> None:
    with FakeLLMServer() as server:
        server.script("q", ["stream-overloaded", "ok"])
        server.script("broken", ["stream-overloaded"] * 3)
        config = suite(
            tmp_path,
            f'{{type: anthropic, model: claude-haiku-4-5, base_url: "{server.url}", stream: true, max_attempts: 3}}',
            ["q", "broken"],
        )
        assert main(["run", "-q", "--config", str(config), "--output", str(tmp_path / "r.json")]) == 0
        assert server.calls == 2 + 3
    results = json.loads((tmp_path / "r.json").read_text())
    by_input = {case["input"]: case for case in results["cases"]}
    assert by_input["q"]["output"] == answer_for("q") and by_input["q"]["attempts"] == 2
    assert (
        "overloaded_error in the streamed answer: Overloaded (after 3 attempts)"
        in by_input["broken"]["error"]
    )
    assert results["run"]["limiter"]["overloads"] == 1 + 3
