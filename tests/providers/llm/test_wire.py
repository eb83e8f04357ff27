"""The anthropic and openai providers send what their SDK sends: the same headers (auth, API version, user agent,
platform) and the same body bytes, compared on the server's captured requests; the SDK's headers are kept per SDK
version, never with the key; an error response maps to the same per-case failure as the SDK's error classes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from evalgate.errors import RunAborted
from evalgate.providers.llm import wire
from evalgate.providers.llm.budget import RunSettings
from evalgate.providers.llm.retry import Failure, failure_for_api_error, failure_for_status
from evalgate.providers.llm.sdk import SDKChatProvider, prime_headers

from .conftest import ANTHROPIC_KEY, OPENAI_KEY, case, make_provider, run_provider
from .fake_servers import FakeLLMServer, answer_for

SDKS = {
    "anthropic": ("claude-haiku-4-5", "", ANTHROPIC_KEY),
    "openai": ("gpt-4o-mini", "/v1", OPENAI_KEY),
}


def sdk_provider(kind: str, server: FakeLLMServer, base_dir: Path, **options: Any) -> SDKChatProvider:
    model, suffix, _ = SDKS[kind]
    provider = make_provider(kind, {"model": model, "base_url": server.url + suffix, **options}, base_dir)
    assert isinstance(provider, SDKChatProvider)
    return provider


def sdk_client(kind: str, base_url: str, timeout: float, http_client: Any) -> Any:
    sdk = __import__(kind)
    client_class = sdk.AsyncAnthropic if kind == "anthropic" else sdk.AsyncOpenAI
    key = SDKS[kind][2]
    return client_class(
        api_key=key, base_url=base_url, max_retries=0, timeout=timeout, http_client=http_client
    )


async def send_with_the_sdk(kind: str, base_url: str, timeout: float, body: dict[str, Any]) -> None:
    """The same request sent by the SDK itself: its public method (headers) and its raw post (body bytes)."""
    sdk = __import__(kind)
    client = sdk_client(kind, base_url, timeout, sdk.DefaultAioHttpClient())
    path = "/v1/messages" if kind == "anthropic" else "/chat/completions"
    create = client.messages.create if kind == "anthropic" else client.chat.completions.create
    try:
        answer = await create(**body)
        if body.get("stream"):
            async for _ in answer:
                pass
        await client.post(path, body=body, cast_to=httpx2.Response)
    finally:
        await client.close()


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("kind", sorted(SDKS))
def test_the_provider_sends_exactly_what_the_sdk_sends(
    kind: str, stream: bool, server: FakeLLMServer, tmp_path: Path
) -> None:
    options = {"system": "Be brief.", "max_tokens": 50, "timeout": 30, "stream": stream}
    provider = sdk_provider(kind, server, tmp_path, **options)
    ran = asyncio.run(run_provider(provider, [case("what is the refund policy?")]))
    assert ran.errors == {}
    ours = server.requests[0]
    timeout = provider.options["timeout"]
    asyncio.run(send_with_the_sdk(kind, server.url + SDKS[kind][1], timeout, ours.body))
    typed, raw = server.requests[1:]
    assert ours.path == typed.path == raw.path
    assert ours.headers == typed.headers == raw.headers
    key = SDKS[kind][2]
    assert key in ours.headers.get("x-api-key", "") + ours.headers.get("authorization", "")
    if kind == "anthropic":
        assert ours.headers["anthropic-version"]
    assert ours.raw == raw.raw  # byte for byte as the SDK encodes it
    assert json.loads(typed.raw) == json.loads(ours.raw)


@pytest.mark.parametrize("kind", sorted(SDKS))
def test_the_sdk_headers_are_kept_without_the_key_and_reused(
    kind: str, server: FakeLLMServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asyncio.run(run_provider(sdk_provider(kind, server, tmp_path), [case("q")]))
    (kept,) = (tmp_path / wire.PROFILE_DIR).iterdir()
    text = kept.read_text(encoding="utf-8")
    assert SDKS[kind][2] not in text and wire.KEY_MARK in text

    def no_capture(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the kept headers were not used")

    monkeypatch.setattr(wire, "capture", no_capture)
    ran = asyncio.run(run_provider(sdk_provider(kind, server, tmp_path), [case("q")]))
    assert ran.errors == {}
    assert server.requests[1].headers == server.requests[0].headers


def user_profiles() -> Path:
    return Path(os.environ["XDG_CACHE_HOME"]) / wire.USER_PROFILE_DIR  # the test's own (tests/conftest.py)


@pytest.mark.parametrize("kind", sorted(SDKS))
def test_the_headers_kept_once_serve_every_suite_of_the_user(
    kind: str, server: FakeLLMServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new suite (a new folder, another checkout) finds the headers another suite of this user kept: the
    user's cache folder holds the same file as the suite's, whose name says all the headers depend on."""
    asyncio.run(run_provider(sdk_provider(kind, server, tmp_path / "first"), [case("q")]))
    (suite_file,) = (tmp_path / "first" / wire.PROFILE_DIR).iterdir()
    (user_file,) = user_profiles().iterdir()
    assert user_file.name == suite_file.name and user_file.read_bytes() == suite_file.read_bytes()

    def no_capture(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the headers kept for the user were not used")

    monkeypatch.setattr(wire, "capture", no_capture)
    ran = asyncio.run(run_provider(sdk_provider(kind, server, tmp_path / "second"), [case("q")]))
    assert ran.errors == {}
    assert server.requests[1].headers == server.requests[0].headers


def test_the_user_cache_folder_follows_xdg_and_its_absence_costs_only_the_capture(
    server: FakeLLMServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a relative XDG_CACHE_HOME is ignored (the XDG spec): the home folder's .cache then, not the working folder's
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    asyncio.run(run_provider(sdk_provider("anthropic", server, tmp_path / "a"), [case("q")]))
    assert len(list((tmp_path / "home" / ".cache" / wire.USER_PROFILE_DIR).iterdir())) == 1
    assert not (tmp_path / "relative").exists()
    # a cache folder that cannot be written (a file in its place), or no home folder at all: captured, and run
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "a-file"))
    (tmp_path / "a-file").write_text("not a folder", encoding="utf-8")
    ran = asyncio.run(run_provider(sdk_provider("anthropic", server, tmp_path / "b"), [case("q")]))
    assert ran.errors == {}
    monkeypatch.delenv("XDG_CACHE_HOME")

    def no_home() -> Path:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(Path, "home", no_home)
    ran = asyncio.run(run_provider(sdk_provider("anthropic", server, tmp_path / "c"), [case("q")]))
    assert ran.errors == {}
    assert (tmp_path / "c" / wire.PROFILE_DIR).is_dir()  # the suite's own is kept still
    assert server.requests[-1].headers == server.requests[0].headers


@contextlib.contextmanager
def never_blocked_on(fifo: Path, what: str) -> Iterator[None]:
    """Fail, never hang: a write into `fifo` waits for a reader, so one is opened after 20 s and the block's
    code (`what`) fails for having waited."""
    finished, released = threading.Event(), threading.Event()

    def release_a_blocked_writer() -> None:
        if not finished.wait(20):
            released.set()
            reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
            time.sleep(1)
            os.close(reader)

    threading.Thread(target=release_a_blocked_writer, daemon=True).start()
    try:
        yield
    finally:
        finished.set()
    assert not released.is_set(), f"{what} blocked on the FIFO"


@pytest.mark.parametrize("where", ["suite", "user"])
def test_a_fifo_where_a_kept_file_would_be_costs_only_the_capture(
    where: str, server: FakeLLMServer, tmp_path: Path
) -> None:
    """Reading it would block, and so would writing into it (a stream takes a write as output does): the headers
    are captured, the run goes on, and the FIFO is left as it is."""
    asyncio.run(run_provider(sdk_provider("anthropic", server, tmp_path / "first"), [case("q")]))
    (name,) = (path.name for path in user_profiles().iterdir())
    fifo = (tmp_path / "second" / wire.PROFILE_DIR if where == "suite" else user_profiles()) / name
    (user_profiles() / name).unlink()  # nothing kept to read: the headers are captured again
    fifo.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(fifo)
    with never_blocked_on(fifo, "the run"):
        ran = asyncio.run(run_provider(sdk_provider("anthropic", server, tmp_path / "second"), [case("q")]))
    assert ran.errors == {}
    assert server.requests[-1].headers == server.requests[0].headers
    assert stat.S_ISFIFO(fifo.stat().st_mode)


def test_a_broken_or_hostile_kept_file_is_captured_again(server: FakeLLMServer, tmp_path: Path) -> None:
    asyncio.run(run_provider(sdk_provider("anthropic", server, tmp_path), [case("q")]))
    (kept,) = (tmp_path / wire.PROFILE_DIR).iterdir()
    (user_kept,) = user_profiles().iterdir()
    hostile = (
        b'{"headers": {"host": "elsewhere.example"}}',
        b'{"headers": {"x-a": "1\\r\\nx-injected: 1"}}',
        b'{"headers": {"x:y": "1"}}',
    )
    for broken in (b"{not json", b"\xff\xfe", b'{"headers": {"x": 1}}', b"[]", b'{"headers": {}}', *hostile):
        kept.write_bytes(broken)
        user_kept.write_bytes(broken)  # the user's copy too: else the run would read that one
        ran = asyncio.run(run_provider(sdk_provider("anthropic", server, tmp_path), [case("q")]))
        assert ran.errors == {}
        assert server.requests[-1].headers == server.requests[0].headers
        assert json.loads(kept.read_text(encoding="utf-8"))["headers"]  # written again
        assert user_kept.read_bytes() == kept.read_bytes()


def test_an_unwritable_folder_costs_only_the_capture(server: FakeLLMServer, tmp_path: Path) -> None:
    (tmp_path / ".evalgate").write_text("a file where the folder would be", encoding="utf-8")
    ran = asyncio.run(run_provider(sdk_provider("openai", server, tmp_path), [case("q")]))
    assert ran.errors == {}
    assert server.requests[0].headers["authorization"] == f"Bearer {OPENAI_KEY}"


def test_the_sdks_own_environment_is_honoured_and_never_kept(
    server: FakeLLMServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_CUSTOM_HEADERS", "X-Team: evals")
    ran = asyncio.run(run_provider(sdk_provider("anthropic", server, tmp_path), [case("q")]))
    assert ran.errors == {}
    assert server.requests[0].headers["x-team"] == "evals"
    assert not (tmp_path / wire.PROFILE_DIR).exists()
    assert not user_profiles().exists()


@pytest.mark.slow  # it imports both SDKs
@pytest.mark.parametrize("kind", sorted(SDKS))
def test_headers_primed_at_build_serve_a_fresh_checkout_without_the_sdk(
    kind: str, server: FakeLLMServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Action's image keeps every SDK provider's headers (`prime_headers`, at the default timeout) in
    EVALGATE_SDK_PROFILES: a run in a checkout with no kept file sends exactly what the SDK sends, without
    importing it, and writes nothing into the checkout."""
    shipped = tmp_path / "image"
    primed = prime_headers(shipped)
    assert sorted(path.name.split("-")[0] for path in primed) == sorted(SDKS)
    assert all(SDKS[name][2] not in path.read_text(encoding="utf-8") for path in primed for name in SDKS)
    fresh = tmp_path / "checkout"
    asyncio.run(run_provider(sdk_provider(kind, server, fresh / "captured"), [case("q")]))  # the SDK's own

    def no_capture(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the primed headers were not used")

    monkeypatch.setattr(wire, "capture", no_capture)
    monkeypatch.setenv(wire.SHIPPED_PROFILES_ENV, str(shipped))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "another-user"))  # not the headers kept just now
    ran = asyncio.run(run_provider(sdk_provider(kind, server, fresh / "suite"), [case("q")]))
    assert ran.errors == {}
    assert server.requests[1].headers == server.requests[0].headers
    assert not (fresh / "suite").exists()
    # another timeout has no primed file: captured as before (here: refused by the stand-in above)
    with pytest.raises(RunAborted):
        asyncio.run(run_provider(sdk_provider(kind, server, fresh / "other", timeout=7), [case("q")]))


@pytest.mark.slow  # it imports an SDK
def test_priming_leaves_a_fifo_where_a_file_would_be_alone(tmp_path: Path) -> None:
    """scripts/bootstrap.py primes the user's folder at install: a FIFO there (where the anthropic file would be)
    is skipped, never written into (which waits for a reader: a setup that hangs); the other file is kept."""
    from evalgate.providers import provider_class

    anthropic_call, openai_call = (
        provider_class(name).endpoint_call(set()) for name in ("anthropic", "openai")
    )
    fifo = tmp_path / wire.profile_name(anthropic_call, 60.0)
    os.mkfifo(fifo)
    with never_blocked_on(fifo, "priming"):
        written = wire.prime(tmp_path, [anthropic_call, openai_call], 60.0)
    assert written == [tmp_path / wire.profile_name(openai_call, 60.0)]
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert wire.read_profile(written[0])


def sdk_failure(kind: str, status: int, body: bytes, headers: dict[str, str]) -> Failure:
    """How the SDK's own error classes carried this response, classified as before the raw path."""
    sdk = __import__(kind)

    def answer(request: Any) -> Any:
        return httpx2.Response(status, content=body, headers=headers)

    async def call() -> Exception:
        async with httpx2.AsyncClient(transport=httpx2.MockTransport(answer)) as http:
            client = sdk_client(kind, "http://127.0.0.1:9/v1", 5, http)
            try:
                await client.post("/x", body={}, cast_to=httpx2.Response)
            except sdk.APIStatusError as exc:
                return exc
        raise AssertionError("no error")

    exc: Any = asyncio.run(call())
    assert isinstance(exc, sdk.APIStatusError)
    error = exc.body if isinstance(exc.body, dict) else {}
    error = error["error"] if isinstance(error.get("error"), dict) else error
    return failure_for_status(
        exc.status_code,
        str(error.get("message") or ""),
        headers=exc.response.headers,
        error_type=error.get("type"),
    )


ERRORS = [
    (
        400,
        {"type": "error", "error": {"type": "invalid_request_error", "message": "max_tokens: too large"}},
        {},
    ),
    (529, {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}, {}),
    (429, {"error": {"type": "rate_limit_error", "message": "slow down"}}, {"retry-after": "3"}),
    (500, {"message": "top-level message", "type": "api_error"}, {"retry-after-ms": "250"}),
    (503, "upstream connect error", {}),
    (401, ["not", "a", "mapping"], {}),
]


@pytest.mark.parametrize("kind", sorted(SDKS))
@pytest.mark.parametrize(("status", "payload", "headers"), ERRORS)
def test_an_error_response_fails_as_the_sdk_error_did(
    kind: str, status: int, payload: Any, headers: dict[str, str]
) -> None:
    body = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
    assert failure_for_api_error(status, body, headers) == sdk_failure(kind, status, body, headers)


@pytest.mark.parametrize("kind", sorted(SDKS))
def test_an_error_status_in_a_stream_is_the_same_failure(
    kind: str, server: FakeLLMServer, tmp_path: Path
) -> None:
    server.script("q", ["400"])
    provider = sdk_provider(kind, server, tmp_path, stream=True)
    ran = asyncio.run(run_provider(provider, [case("q")]))
    assert ran.errors["q"].startswith("ProviderError: HTTP 400")
    assert server.calls == 1


@pytest.mark.parametrize("kind", sorted(SDKS))
def test_a_streamed_event_of_a_megabyte_is_read_whole(
    kind: str, server: FakeLLMServer, tmp_path: Path
) -> None:
    word = "w" * 1_000_000  # one delta of 1 MB: one line over many reads of the socket (64 KiB each)
    provider = sdk_provider(kind, server, tmp_path, stream=True)
    ran = asyncio.run(run_provider(provider, [case(word, id="long")]))
    assert ran.errors == {}
    assert ran.outputs["long"].value == answer_for(word)


def test_an_sdk_that_gives_no_headers_aborts_the_run_and_sends_nothing(
    server: FakeLLMServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def changed_sdk(*args: Any, **kwargs: Any) -> Any:
        raise TypeError("create() got an unexpected keyword argument 'max_tokens'")

    monkeypatch.setattr(wire, "capture", changed_sdk)
    with pytest.raises(RunAborted, match=r"the anthropic SDK did not give its headers \(TypeError"):
        asyncio.run(run_provider(sdk_provider("anthropic", server, tmp_path), [case("q")]))
    cached = make_provider(
        "anthropic",
        {"model": "claude-haiku-4-5", "base_url": server.url},
        tmp_path,
        settings=RunSettings(cache_dir=tmp_path / "cache"),
    )
    ran = asyncio.run(run_provider(cached, [case("q"), case("r")]))
    assert ran.outcome.aborted and ran.outputs == {}
    assert all(error.startswith("aborted: the anthropic SDK") for error in ran.errors.values())
    assert server.calls == 0


def test_a_run_whose_sdk_gives_no_headers_is_exit_2_with_one_message(
    server: FakeLLMServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """The command line: evalgate's own failure before any case is exit 2, never a traceback nor exit 4."""
    from evalgate.cli import main

    def changed_sdk(*args: Any, **kwargs: Any) -> Any:
        raise TypeError("create() got an unexpected keyword argument 'max_tokens'")

    monkeypatch.setattr(wire, "capture", changed_sdk)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    (tmp_path / "cases.jsonl").write_text('{"id": "1", "input": "q", "expected": "q"}\n')
    (tmp_path / "evalgate.yaml").write_text(
        "suite: s\ndatasets: [cases.jsonl]\ncache: {enabled: false}\n"
        f"provider: {{type: anthropic, model: claude-haiku-4-5, base_url: '{server.url}'}}\n"
    )
    code = main(
        ["run", "-q", "--config", str(tmp_path / "evalgate.yaml"), "--output", str(tmp_path / "r.json")]
    )
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and "internal error" not in err
    assert "the run could not start, nothing was sent: the anthropic SDK did not give its headers" in err
    assert server.calls == 0
