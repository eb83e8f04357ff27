"""The http provider: a team's own endpoint, called with httpx."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from evalgate.errors import InputError

from .conftest import case, make_provider, run_provider
from .fake_servers import CUSTOM_PATH, FakeLLMServer, answer_for, words

TOKEN = "tok-SECRET-abcdef123456"


@pytest.fixture(autouse=True)
def token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_TOKEN", TOKEN)


def http(server: FakeLLMServer, tmp_path: Path, **options):
    base = {
        "url": server.url + CUSTOM_PATH,
        "headers": {"Authorization": "Bearer ${MY_TOKEN}", "X-Team": "support"},
        "body": {"question": "{{ input.text }}", "context": "{{ input }}", "label": "case {{ id }}", "n": 3},
        "output_path": "result.answer",
        "tokens_in_path": "usage.in",
        "tokens_out_path": "usage.out",
    }
    return make_provider("http", {**base, **options}, tmp_path)


def test_body_headers_output_and_usage(server: FakeLLMServer, tmp_path: Path) -> None:
    item = case({"text": "is it open?", "shop": 12}, id="h1")
    ran = asyncio.run(run_provider(http(server, tmp_path), [item]))
    output = ran.outputs["h1"]
    assert output.value == answer_for("is it open?")
    assert output.tokens_out == words(answer_for("is it open?"))
    assert output.tokens_in is not None and output.cost is None
    (request,) = server.requests
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["x-team"] == "support"
    # `{{ input }}` alone keeps the object; other strings are rendered text; plain values pass through
    assert request.body == {
        "question": "is it open?",
        "context": {"text": "is it open?", "shop": 12},
        "label": "case h1",
        "n": 3,
    }


def test_body_as_a_json_template_and_list_paths(server: FakeLLMServer, tmp_path: Path) -> None:
    provider = http(
        server, tmp_path, body='{"question": {{ input | tojson }}}', output_path="result.labels.1"
    )
    ran = asyncio.run(run_provider(provider, [case('say "hi"')]))
    assert ran.outputs['say "hi"'].value == "b"
    assert server.requests[0].body == {"question": 'say "hi"'}


def test_a_body_template_that_is_not_json_is_bad_input(server: FakeLLMServer, tmp_path: Path) -> None:
    provider = http(server, tmp_path, body='{"question": "{{ input }}"}')
    asyncio.run(provider.start(1))
    with pytest.raises(InputError, match=r"not JSON.*tojson"):
        provider.build_request(case('with "quotes"'))


def test_missing_env_var_is_bad_input(
    server: FakeLLMServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MY_TOKEN")
    with pytest.raises(InputError, match=r"\$\{MY_TOKEN\}.*MY_TOKEN is not set"):
        asyncio.run(http(server, tmp_path).start(1))


def test_header_value_from_the_environment_with_a_line_break(
    server: FakeLLMServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A header value from an environment variable with a line break inside cannot be sent: InputError before
    any call, naming the provider, never the value; with only a trailing newline (as CI secrets often have)
    the value is sent without it."""
    provider = http(server, tmp_path, headers={"X-Api-Key": "${MY_KEY}"})
    monkeypatch.setenv("MY_KEY", "key-FIRST-half\nkey-SECOND-half")
    with pytest.raises(InputError) as caught:
        asyncio.run(run_provider(provider, [case({"text": "q"}, id="q")]))
    message = str(caught.value)
    assert "provider 'default' cannot send its requests" in message
    assert "FIRST" not in message and "SECOND" not in message
    assert server.calls == 0

    monkeypatch.setenv("MY_KEY", "key-FIRST-half\n")
    provider = http(server, tmp_path, headers={"X-Api-Key": "${MY_KEY}"})
    ran = asyncio.run(run_provider(provider, [case({"text": "q"}, id="q")]))
    assert ran.outputs["q"].value == answer_for("q")
    (request,) = server.requests
    assert request.headers["x-api-key"] == "key-FIRST-half"


@pytest.mark.usefixtures("fast_backoff")
def test_retries_and_errors(server: FakeLLMServer, tmp_path: Path) -> None:
    server.script("flaky", ["503", "ok"])
    server.script("missing", ["404"])
    server.script("broken", ["malformed"])
    cases = [case({"text": name}, id=name) for name in ("flaky", "missing", "broken")]
    ran = asyncio.run(run_provider(http(server, tmp_path), cases, concurrency=1))
    assert ran.outputs["flaky"].value == answer_for("flaky")
    assert ran.errors["missing"].startswith("ProviderError: HTTP 404")
    assert "malformed response" in ran.errors["broken"]
    assert server.calls == 4
    assert all(TOKEN not in error for error in ran.errors.values())


def test_output_path_not_found_is_a_case_error(server: FakeLLMServer, tmp_path: Path) -> None:
    ran = asyncio.run(
        run_provider(http(server, tmp_path, output_path="result.nope"), [case({"text": "x"}, id="x")])
    )
    assert "output_path 'result.nope' not found" in ran.errors["x"]


def test_the_secret_is_not_in_the_cache(server: FakeLLMServer, tmp_path: Path) -> None:
    from evalgate.providers.llm.budget import RunSettings

    provider = make_provider(
        "http",
        {
            "url": server.url + CUSTOM_PATH,
            "headers": {"Authorization": "Bearer ${MY_TOKEN}"},
            "body": {"question": "{{ input }}"},
        },
        tmp_path,
        settings=RunSettings(cache_dir=tmp_path / "cache"),
    )
    ran = asyncio.run(run_provider(provider, [case("q")]))
    assert ran.outputs["q"].value["result"]["answer"] == answer_for("q")  # no output_path: the whole response
    for file in (tmp_path / "cache").iterdir():
        assert TOKEN.encode() not in file.read_bytes()


@pytest.mark.slow
def test_rate_limit_honours_retry_after(server: FakeLLMServer, tmp_path: Path) -> None:
    import time

    server.script("limited", ["429:0.4", "ok"])
    provider = http(server, tmp_path)
    started = time.monotonic()
    ran = asyncio.run(run_provider(provider, [case({"text": "limited"}, id="l")]))
    assert ran.outputs["l"].value == answer_for("limited")
    assert time.monotonic() - started >= 0.4
    assert provider.limiter is not None and provider.limiter.decreases == 1
