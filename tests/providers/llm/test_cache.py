"""The response cache: a second run pays nothing, errors are not kept, secrets are never stored."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
from pathlib import Path
from types import SimpleNamespace
from typing import ClassVar

import pytest
from gatekit import make_config

from evalgate.contracts.cases import Case, Output
from evalgate.options import Option
from evalgate.providers.base import Provider
from evalgate.providers.cache import CACHE_FILE, CachedProvider, ResponseCache
from evalgate.providers.llm.budget import Budget, RunSettings

from .conftest import ANTHROPIC_KEY, OPENAI_KEY, case, make_provider, run_provider
from .fake_servers import FakeLLMServer, answer_for

CASES = [case(f"question {i}") for i in range(12)]


def cached(type_name: str, server: FakeLLMServer, tmp_path: Path, **options):
    base_url = server.url + ("/v1" if type_name == "openai" else "")
    model = "gpt-4o-mini" if type_name == "openai" else "claude-haiku-4-5"
    settings = RunSettings(cache_dir=tmp_path / ".evalgate" / "cache")
    return make_provider(
        type_name, {"model": model, "base_url": base_url, **options}, tmp_path, settings=settings
    )


@pytest.mark.parametrize("type_name", ["anthropic", "openai"])
def test_second_run_makes_no_call(server: FakeLLMServer, tmp_path: Path, type_name: str) -> None:
    first_provider = cached(type_name, server, tmp_path)
    first = asyncio.run(run_provider(first_provider, CASES))
    assert server.calls == len(CASES)
    assert first_provider.cache_stats == {"hits": 0, "misses": len(CASES)}

    second_provider = cached(type_name, server, tmp_path)
    second = asyncio.run(run_provider(second_provider, CASES))
    assert server.calls == len(CASES)  # not one more
    assert second_provider.cache_stats == {"hits": len(CASES), "misses": 0}
    for item in CASES:
        before, after = first.outputs[item.id], second.outputs[item.id]
        assert after.cached and not before.cached
        assert (after.value, after.tokens_in, after.tokens_out, after.cost, after.extra) == (
            before.value,
            before.tokens_in,
            before.tokens_out,
            before.cost,
            before.extra,
        )


def test_a_changed_prompt_or_parameter_is_a_miss(server: FakeLLMServer, tmp_path: Path) -> None:
    asyncio.run(run_provider(cached("anthropic", server, tmp_path), CASES[:3]))
    changed = cached("anthropic", server, tmp_path, system="Be brief.")
    asyncio.run(run_provider(changed, CASES[:3]))
    assert changed.cache_stats == {"hits": 0, "misses": 3}
    hotter = cached("anthropic", server, tmp_path, temperature=1.0)
    asyncio.run(run_provider(hotter, CASES[:3]))
    assert hotter.cache_stats == {"hits": 0, "misses": 3}
    assert server.calls == 9


@pytest.mark.usefixtures("fast_backoff")
def test_errors_are_not_cached(server: FakeLLMServer, tmp_path: Path) -> None:
    server.script("question 0", ["400"])
    first = asyncio.run(run_provider(cached("anthropic", server, tmp_path), CASES[:2]))
    assert "question 0" in first.errors
    second_provider = cached("anthropic", server, tmp_path)
    second = asyncio.run(run_provider(second_provider, CASES[:2]))
    assert second.outputs["question 0"].value == answer_for("question 0")
    assert not second.outputs["question 0"].cached
    assert second_provider.cache_stats == {"hits": 1, "misses": 1}
    assert server.calls == 3


def test_no_cache_calls_again(server: FakeLLMServer, tmp_path: Path) -> None:
    asyncio.run(run_provider(cached("anthropic", server, tmp_path), CASES[:2]))
    off = make_provider(
        "anthropic",
        {"model": "claude-haiku-4-5", "base_url": server.url},
        tmp_path,
        settings=RunSettings(cache_dir=None),
    )
    ran = asyncio.run(run_provider(off, CASES[:2]))
    assert server.calls == 4
    assert off.cache_stats == {"hits": 0, "misses": 0}
    assert not any(output.cached for output in ran.outputs.values())


def test_keys_are_never_stored_or_returned(server: FakeLLMServer, tmp_path: Path) -> None:
    for type_name in ("anthropic", "openai"):
        ran = asyncio.run(run_provider(cached(type_name, server, tmp_path), CASES[:3]))
        assert not any(key in repr(ran) for key in (ANTHROPIC_KEY, OPENAI_KEY))
    folder = tmp_path / ".evalgate" / "cache"
    files = list(folder.iterdir())
    assert any(file.name == CACHE_FILE for file in files)
    for file in files:  # the database, its WAL and shared-memory files
        data = file.read_bytes()
        assert ANTHROPIC_KEY.encode() not in data and OPENAI_KEY.encode() not in data
    rows = sqlite3.connect(folder / CACHE_FILE).execute("SELECT key, value FROM responses").fetchall()
    assert len(rows) == 6
    assert not any(ANTHROPIC_KEY in key + value or OPENAI_KEY in key + value for key, value in rows)


def test_an_interrupted_run_resumes_without_paying_twice(server: FakeLLMServer, tmp_path: Path) -> None:
    settings = RunSettings(budget=Budget(max_tokens=40), cache_dir=tmp_path / "cache")
    provider = make_provider(
        "anthropic", {"model": "claude-haiku-4-5", "base_url": server.url}, tmp_path, settings=settings
    )
    first = asyncio.run(run_provider(provider, CASES, concurrency=1))
    assert first.aborted is not None and 0 < len(first.outputs) < len(CASES)
    paid = server.calls

    resumed = cached("anthropic", server, tmp_path)
    resumed.configure_run(settings=RunSettings(cache_dir=tmp_path / "cache"))
    second = asyncio.run(run_provider(resumed, CASES))
    assert second.errors == {}
    assert resumed.cache_stats == {"hits": len(first.outputs), "misses": len(CASES) - len(first.outputs)}
    assert server.calls == paid + len(CASES) - len(first.outputs)


def test_cache_directory_from_the_suite_config(tmp_path: Path) -> None:
    suite = dataclasses.replace(
        make_config(),
        base_dir=tmp_path,
        cache={"enabled": True, "dir": "ci-cache"},
        budget={"max_cost": 1.5, "max_tokens": None},
        prices={"my-model": {"input": 1.0, "output": 2.0}},
    )
    settings = RunSettings.from_suite(suite)
    assert settings.cache_dir == (tmp_path / "ci-cache").resolve()
    assert settings.budget.max_cost == 1.5 and settings.budget.max_tokens is None
    assert settings.prices.price_for("my-model") is not None
    suite.cache = {"enabled": False, "dir": "ci-cache"}
    assert RunSettings.from_suite(suite).cache_dir is None


def test_a_corrupt_cache_file_is_bad_input(tmp_path: Path) -> None:
    (tmp_path / CACHE_FILE).write_bytes(b"this is not sqlite" * 100)
    from evalgate.errors import InputError

    with pytest.raises(InputError, match="cache"):
        ResponseCache(tmp_path)


class CountingProvider(Provider):
    type = "counting"
    OPTIONS: ClassVar[dict[str, Option]] = {}

    def __init__(self) -> None:
        super().__init__(SimpleNamespace(options={"name": "x"}), Path("."))
        self.calls = 0

    async def complete(self, case: Case) -> Output | str:
        self.calls += 1
        if case.input == "boom":
            raise RuntimeError("boom")
        return {"text": case.input.upper(), "tokens_out": 3}  # type: ignore[return-value]


def test_cached_provider_wraps_any_provider(tmp_path: Path) -> None:
    inner = CountingProvider()

    async def run() -> list[Output]:
        wrapper = CachedProvider(inner, ResponseCache(tmp_path))
        await wrapper.start(1)
        outputs = [await wrapper.complete(case("a")), await wrapper.complete(case("a"))]
        with pytest.raises(RuntimeError):
            await wrapper.complete(case("boom"))
        with pytest.raises(RuntimeError):
            await wrapper.complete(case("boom"))
        assert wrapper.cache_stats == {"hits": 1, "misses": 3}
        await wrapper.close()
        return outputs

    first, second = asyncio.run(run())
    assert inner.calls == 3  # "a" once, "boom" twice (errors are not cached)
    assert first.value == second.value == {"text": "A"} and second.tokens_out == 3
    assert not first.cached and second.cached


def test_repeats_are_separate_samples_and_replay(server: FakeLLMServer, tmp_path: Path) -> None:
    repeated = [case("same question", id="r")] * 3
    first = cached("anthropic", server, tmp_path)

    async def ask_three_times(provider) -> list[Output]:
        await provider.start(2)
        outputs = [await provider.complete(item) for item in repeated]
        await provider.close()
        return outputs

    outputs = asyncio.run(ask_three_times(first))
    assert server.calls == 3  # not one call and two copies
    assert first.cache_stats == {"hits": 0, "misses": 3}
    second = cached("anthropic", server, tmp_path)
    replayed = asyncio.run(ask_three_times(second))
    assert server.calls == 3 and second.cache_stats == {"hits": 3, "misses": 0}
    assert [o.value for o in replayed] == [o.value for o in outputs]
    third = cached("anthropic", server, tmp_path)
    asyncio.run(run_provider(third, [case("same question", id="r")] * 1))
    assert third.cache_stats == {"hits": 1, "misses": 0}


def test_without_run_settings_the_cache_is_next_to_the_config(server: FakeLLMServer, tmp_path: Path) -> None:
    options = {"model": "claude-haiku-4-5", "base_url": server.url}
    provider = make_provider(
        "anthropic", options, tmp_path, settings=RunSettings(cache_dir=tmp_path / "elsewhere")
    )
    provider.settings = None  # as if the runner never called configure_run
    asyncio.run(run_provider(provider, CASES[:1]))
    assert (tmp_path / ".evalgate" / "cache" / CACHE_FILE).is_file()
    assert not (tmp_path / "elsewhere").exists()
    assert provider.cache_stats == {"hits": 0, "misses": 1}
