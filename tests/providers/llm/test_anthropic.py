"""The anthropic provider: the real SDK against a fake Messages API on 127.0.0.1."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from evalgate.errors import InputError
from evalgate.providers.llm.budget import RunSettings
from evalgate.providers.llm.pricing import PriceTable
from evalgate.providers.llm.retry import ProviderError

from .conftest import ANTHROPIC_KEY, case, make_provider, run_provider
from .fake_servers import FakeLLMServer, answer_for, words


def anthropic(server: FakeLLMServer, tmp_path: Path, **options):
    return make_provider(
        "anthropic", {"model": "claude-haiku-4-5", "base_url": server.url, **options}, tmp_path
    )


def test_answer_usage_cost_and_request_shape(server: FakeLLMServer, tmp_path: Path) -> None:
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "support.j2").write_text(
        "Customer ({{ metadata.tier }}, {{ category }}): {{ input.question }}\n", encoding="utf-8"
    )
    provider = anthropic(
        server,
        tmp_path,
        prompt="prompts/support.j2",
        system="You answer {{ category }} questions.",
        temperature=0.2,
        stop_sequences=["END"],
        extra={"top_k": 5},
    )
    item = case({"question": "where is my refund?"}, id="c1", category="billing", metadata={"tier": "gold"})
    ran = asyncio.run(run_provider(provider, [item]))

    assert ran.errors == {}
    output = ran.outputs["c1"]
    user_text = "Customer (gold, billing): where is my refund?"
    assert output.value == answer_for(user_text)
    system = "You answer billing questions."
    assert output.tokens_in == words(system + " " + user_text)
    assert output.tokens_out == words(answer_for(user_text))
    # claude-haiku-4-5 lists at $1 / $5 per million tokens
    assert output.cost == pytest.approx((output.tokens_in * 1.0 + output.tokens_out * 5.0) / 1e6, rel=1e-12)
    assert output.extra == {"stop_reason": "end_turn"}
    assert output.cached is False

    (request,) = server.requests
    assert request.path == "/v1/messages"
    # the SDK sends the key as x-api-key or as a bearer token, depending on its version
    sent = {
        request.headers.get("x-api-key"),
        request.headers.get("authorization", "").removeprefix("Bearer "),
    }
    assert ANTHROPIC_KEY in sent
    assert request.body["messages"] == [{"role": "user", "content": user_text}]
    assert request.body["system"] == system
    assert request.body["max_tokens"] == 1024
    assert request.body["temperature"] == 0.2
    assert request.body["stop_sequences"] == ["END"]
    assert request.body["top_k"] == 5
    assert "expected" not in str(request.body)


def test_without_a_template_the_input_is_the_user_message(server: FakeLLMServer, tmp_path: Path) -> None:
    provider = anthropic(server, tmp_path, max_tokens=50)
    ran = asyncio.run(run_provider(provider, [case("just this text"), case({"b": 2, "a": 1}, id="obj")]))
    assert ran.outputs["just this text"].value == answer_for("just this text")
    bodies = {r.body["messages"][0]["content"] for r in server.requests}
    assert bodies == {"just this text", '{"a": 1, "b": 2}'}
    assert all(r.body["max_tokens"] == 50 and "system" not in r.body for r in server.requests)


def test_messages_option_renders_each_turn(server: FakeLLMServer, tmp_path: Path) -> None:
    provider = anthropic(
        server,
        tmp_path,
        messages=[
            {"role": "user", "content": "Classify: {{ input }}"},
            {"role": "assistant", "content": "Label:"},
            {"role": "user", "content": "Answer with one word for case {{ id }}."},
        ],
    )
    ran = asyncio.run(run_provider(provider, [case("I love it", id="k9")]))
    assert ran.errors == {}
    assert server.requests[0].body["messages"] == [
        {"role": "user", "content": "Classify: I love it"},
        {"role": "assistant", "content": "Label:"},
        {"role": "user", "content": "Answer with one word for case k9."},
    ]


@pytest.mark.slow
@pytest.mark.usefixtures("fast_backoff")
def test_429_waits_for_retry_after_then_succeeds(server: FakeLLMServer, tmp_path: Path) -> None:
    server.script("q", ["429:0.3", "ok"])
    provider = anthropic(server, tmp_path)
    started = time.monotonic()
    ran = asyncio.run(run_provider(provider, [case("q")]))
    elapsed = time.monotonic() - started
    assert ran.errors == {}
    assert ran.outputs["q"].value == answer_for("q")
    assert server.calls == 2
    assert elapsed >= 0.3  # the server's retry-after, not the backoff (0.01 s here)
    assert provider.limiter is not None and provider.limiter.decreases == 1


@pytest.mark.usefixtures("fast_backoff")
@pytest.mark.parametrize("failure", ["529", "500", "503", "408"])
def test_retried_failures_then_success(server: FakeLLMServer, tmp_path: Path, failure: str) -> None:
    server.script("q", [failure, failure, "ok"])
    ran = asyncio.run(run_provider(anthropic(server, tmp_path), [case("q")]))
    assert ran.errors == {}
    assert ran.outputs["q"].value == answer_for("q")
    assert server.calls == 3


@pytest.mark.usefixtures("fast_backoff")
def test_gives_up_after_max_attempts(server: FakeLLMServer, tmp_path: Path) -> None:
    server.script("q", ["529"] * 10)
    ran = asyncio.run(run_provider(anthropic(server, tmp_path, max_attempts=3), [case("q")]))
    assert ran.outputs == {}
    assert server.calls == 3
    assert "HTTP 529 overloaded_error" in ran.errors["q"]
    assert "after 3 attempts" in ran.errors["q"]


@pytest.mark.parametrize("status", ["400", "401", "404"])
def test_client_errors_are_not_retried(server: FakeLLMServer, tmp_path: Path, status: str) -> None:
    server.script("q", [status])
    ran = asyncio.run(run_provider(anthropic(server, tmp_path), [case("q")]))
    assert server.calls == 1
    assert ran.errors["q"].startswith(f"ProviderError: HTTP {status}")
    assert ANTHROPIC_KEY not in ran.errors["q"]


@pytest.mark.slow
@pytest.mark.usefixtures("fast_backoff")
def test_slow_answers_time_out_and_are_retried(server: FakeLLMServer, tmp_path: Path) -> None:
    server.script("slow", ["slow:2", "slow:2"])
    server.script("late", ["slow:2", "ok"])
    provider = anthropic(server, tmp_path, timeout=0.3, max_attempts=2)
    ran = asyncio.run(run_provider(provider, [case("slow"), case("late")]))
    assert "timed out after 0.3 s (after 2 attempts)" in ran.errors["slow"]
    assert ran.outputs["late"].value == answer_for("late")


@pytest.mark.slow
def test_runner_timeout_cancels_and_leaves_the_provider_usable(server: FakeLLMServer, tmp_path: Path) -> None:
    server.script("hang", ["slow:3"])
    provider = anthropic(server, tmp_path)
    ran = asyncio.run(run_provider(provider, [case("hang"), case("after")], concurrency=1, timeout=0.5))
    assert ran.errors["hang"] == "timeout after 0.5s"  # the runner cancelled it
    assert ran.outputs["after"].value == answer_for("after")
    assert provider.limiter is not None and provider.limiter.in_flight == 0


@pytest.mark.parametrize("behavior", ["malformed", "truncated"])
def test_malformed_bodies_are_case_errors(server: FakeLLMServer, tmp_path: Path, behavior: str) -> None:
    server.script("q", [behavior])
    ran = asyncio.run(run_provider(anthropic(server, tmp_path), [case("q"), case("fine")]))
    assert "malformed response" in ran.errors["q"]
    assert ran.outputs["fine"].value == answer_for("fine")
    assert server.calls == 2


def test_missing_key_is_bad_input_naming_the_variable(
    server: FakeLLMServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    provider = anthropic(server, tmp_path)
    with pytest.raises(InputError, match="ANTHROPIC_API_KEY"):
        asyncio.run(provider.start(2))


def test_base_url_from_the_environment(
    server: FakeLLMServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
    provider = make_provider("anthropic", {"model": "claude-haiku-4-5"}, tmp_path)
    ran = asyncio.run(run_provider(provider, [case("via env")]))
    assert ran.outputs["via env"].value == answer_for("via env")


def test_unknown_model_has_no_cost_and_overrides_apply(server: FakeLLMServer, tmp_path: Path) -> None:
    provider = make_provider("anthropic", {"model": "house-model-7", "base_url": server.url}, tmp_path)
    ran = asyncio.run(run_provider(provider, [case("q")]))
    assert ran.outputs["q"].cost is None
    assert ran.outputs["q"].tokens_out == words(answer_for("q"))

    prices = PriceTable({"house-model-7": {"input": 2.0, "output": 10.0}})
    provider = make_provider(
        "anthropic",
        {"model": "house-model-7", "base_url": server.url},
        tmp_path,
        settings=RunSettings(prices=prices),
    )
    out = asyncio.run(run_provider(provider, [case("q")])).outputs["q"]
    assert out.cost == pytest.approx((out.tokens_in * 2.0 + out.tokens_out * 10.0) / 1e6, rel=1e-12)


def test_answer_is_the_text_blocks_and_missing_usage_is_unknown(
    server: FakeLLMServer, tmp_path: Path
) -> None:
    provider = anthropic(server, tmp_path)
    output = provider.parse_answer(
        {
            "content": [
                {"type": "thinking", "thinking": "hmm", "signature": "s"},
                {"type": "text", "text": "first "},
                {"type": "tool_use", "id": "t", "name": "f", "input": {}},
                {"type": "text", "text": "second"},
            ],
            "stop_reason": "end_turn",
        }
    )
    assert output.value == "first second"
    assert output.tokens_in is None and output.tokens_out is None
    for broken in ({"content": "text"}, [], None, {"usage": {"input_tokens": 3}}):
        with pytest.raises(ProviderError, match="malformed response"):
            provider.parse_answer(broken)
