"""Fixtures for the LLM provider tests: a fake vendor server, test keys, providers built like the config."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from evalgate import runner
from evalgate.config import ProviderConfig
from evalgate.contracts.cases import Case, Output
from evalgate.options import Option, check_options
from evalgate.providers import provider_class
from evalgate.providers.llm import retry
from evalgate.providers.llm.base import LLMProvider
from evalgate.providers.llm.budget import RunSettings
from evalgate.runner import RunOutcome

from .fake_servers import FakeLLMServer

ANTHROPIC_KEY = "sk-ant-test-SECRET-0123456789"
OPENAI_KEY = "sk-openai-test-SECRET-9876543210"


@pytest.fixture
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as fake:
        yield fake


@pytest.fixture(autouse=True)
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    for name in ("ANTHROPIC_BASE_URL", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries without the half-second wait (retry-after from the server still applies)."""
    monkeypatch.setattr(retry, "BACKOFF_BASE", 0.01)


def make_provider(
    type_name: str, options: dict[str, Any], base_dir: Path, *, settings: RunSettings | None = None
) -> LLMProvider:
    """Check the options as the config loader does, then build the provider with the given run settings."""
    cls = provider_class(type_name)
    file = str(base_dir / "evalgate.yaml")
    spec = {"type": Option((str,), required=True), **cls.OPTIONS}
    checked = check_options({"type": type_name, **options}, spec, file=file, context="provider")
    checked.pop("type")
    provider = cls(
        ProviderConfig(type=type_name, name="default", options=checked, file=file, line=3), base_dir
    )
    assert isinstance(provider, LLMProvider)
    provider.configure_run(settings=settings or RunSettings(cache_dir=None))
    return provider


def case(text: Any, id: str | None = None, **fields: Any) -> Case:
    return Case(id=id or str(text), input=text, source="cases.jsonl:1", **fields)


@dataclass
class Ran:
    """The runner's outcome seen by case id (the cases of these tests have distinct ids)."""

    outcome: RunOutcome

    @property
    def outputs(self) -> dict[str, Output]:
        return {r.case.id: r.output for r in self.outcome.results if r.output is not None}

    @property
    def errors(self) -> dict[str, str]:
        return {r.case.id: r.error for r in self.outcome.results if r.error is not None}

    @property
    def aborted(self) -> str | None:
        return self.outcome.aborted


async def run_provider(
    provider: LLMProvider, cases: list[Case], *, concurrency: int = 4, timeout: float = 30
) -> Ran:
    """Start the provider, run the cases through the real runner (evalgate.runner.run_cases), close it."""
    await provider.start(concurrency)
    try:
        outcome = await runner.run_cases(cases, provider, concurrency=concurrency, timeout=timeout)
    finally:
        await provider.close()
    return Ran(outcome)
