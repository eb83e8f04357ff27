"""The openai provider: the real SDK against a fake chat-completions API on 127.0.0.1."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from evalgate.errors import InputError
from evalgate.providers.llm.retry import ProviderError

from .conftest import OPENAI_KEY, case, make_provider, run_provider
from .fake_servers import FakeLLMServer, answer_for, words


def openai(server: FakeLLMServer, tmp_path: Path, **options):
    return make_provider(
        "openai", {"model": "gpt-4o-mini", "base_url": server.url + "/v1", **options}, tmp_path
    )


def test_answer_usage_cost_and_request_shape(server: FakeLLMServer, tmp_path: Path) -> None:
    provider = openai(
        server,
        tmp_path,
        system="Topic: {{ category }}",
        max_tokens=64,
        temperature=0,
        stop_sequences=["\n\n"],
    )
    ran = asyncio.run(run_provider(provider, [case("hello there", category="greetings")]))
    output = ran.outputs["hello there"]
    assert output.value == answer_for("hello there")
    assert output.tokens_in == words("Topic: greetings hello there")
    assert output.tokens_out == words(answer_for("hello there"))
    # gpt-4o-mini lists at $0.15 / $0.60 per million tokens
    assert output.cost == pytest.approx((output.tokens_in * 0.15 + output.tokens_out * 0.6) / 1e6, rel=1e-12)
    assert output.extra == {"stop_reason": "stop"}
    (request,) = server.requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {OPENAI_KEY}"
    assert request.body["messages"] == [
        {"role": "system", "content": "Topic: greetings"},
        {"role": "user", "content": "hello there"},
    ]
    assert (
        request.body["max_tokens"] == 64
        and request.body["temperature"] == 0
        and request.body["stop"] == ["\n\n"]
    )


def test_local_server_without_a_key(
    server: FakeLLMServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.setenv("OPENAI_BASE_URL", server.url + "/v1")
    provider = make_provider("openai", {"model": "llama3.2", "api_key_env": "none"}, tmp_path)
    ran = asyncio.run(run_provider(provider, [case("q")]))
    assert ran.outputs["q"].value == answer_for("q")
    assert ran.outputs["q"].cost is None  # a local model has no list price


def test_key_from_another_variable(
    server: FakeLLMServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATEWAY_KEY", "gw-secret-42")
    asyncio.run(run_provider(openai(server, tmp_path, api_key_env="GATEWAY_KEY"), [case("q")]))
    assert server.requests[0].headers["authorization"] == "Bearer gw-secret-42"
    monkeypatch.delenv("GATEWAY_KEY")
    with pytest.raises(InputError, match="GATEWAY_KEY"):
        asyncio.run(openai(server, tmp_path, api_key_env="GATEWAY_KEY").start(1))


@pytest.mark.slow
@pytest.mark.usefixtures("fast_backoff")
def test_429_waits_for_retry_after_then_succeeds(server: FakeLLMServer, tmp_path: Path) -> None:
    server.script("q", ["429:0.3", "ok"])
    started = time.monotonic()
    ran = asyncio.run(run_provider(openai(server, tmp_path), [case("q")]))
    assert ran.outputs["q"].value == answer_for("q")
    assert time.monotonic() - started >= 0.3  # the server's retry-after, not the backoff (0.01 s here)
    assert server.calls == 2


@pytest.mark.usefixtures("fast_backoff")
def test_500_then_success_and_400_not_retried(server: FakeLLMServer, tmp_path: Path) -> None:
    server.script("flaky", ["500", "ok"])
    server.script("bad", ["400"])
    ran = asyncio.run(run_provider(openai(server, tmp_path), [case("flaky"), case("bad")], concurrency=1))
    assert ran.outputs["flaky"].value == answer_for("flaky")
    assert (
        ran.errors["bad"] == "ProviderError: HTTP 400 invalid_request_error: fake invalid_request_error (400)"
    )
    assert server.calls == 3


@pytest.mark.parametrize("behavior", ["malformed", "truncated"])
def test_malformed_bodies(server: FakeLLMServer, tmp_path: Path, behavior: str) -> None:
    server.script("q", [behavior])
    ran = asyncio.run(run_provider(openai(server, tmp_path), [case("q")]))
    assert "malformed response" in ran.errors["q"]
    assert server.calls == 1


def test_an_answer_without_text_is_empty_and_no_choice_is_malformed(
    server: FakeLLMServer, tmp_path: Path
) -> None:
    provider = openai(server, tmp_path)
    output = provider.parse_answer(
        {"choices": [{"message": {"role": "assistant", "content": None}, "finish_reason": "tool_calls"}]}
    )
    assert output.value == "" and output.extra == {"stop_reason": "tool_calls"}
    assert output.tokens_in is None
    for broken in ({"choices": []}, {"choices": [{"finish_reason": "stop"}]}, {"id": "x"}, "text"):
        with pytest.raises(ProviderError, match="malformed response: no choices"):
            provider.parse_answer(broken)
