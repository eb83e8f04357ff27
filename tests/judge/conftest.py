from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from gatekit import make_config

from evalgate.config import ProviderConfig, SuiteConfig
from evalgate.options import check_options
from evalgate.providers import provider_class

from .fake_anthropic import AnthropicStub


@pytest.fixture
def stub():
    with AnthropicStub() as server:
        yield server


@pytest.fixture
def judge_type(monkeypatch) -> str:
    """The real anthropic provider; the key comes from the environment, as in use."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    return "anthropic"


def provider_config(
    type_name: str, url: str, name: str = "judge", model: str = "claude-haiku-4-5"
) -> ProviderConfig:
    """A provider section as the config loader makes it: options checked, defaults filled in."""
    options = {"model": model, "base_url": url, "max_tokens": 512}
    if type_name == "anthropic":
        options["max_attempts"] = 1  # a failing call fails at once (no backoff in tests)
    checked = check_options(options, provider_class(type_name).OPTIONS, file="evalgate.yaml", context=name)
    return ProviderConfig(type=type_name, name=name, options=checked, file="evalgate.yaml")


@pytest.fixture
def suite(tmp_path: Path, stub: AnthropicStub, judge_type: str) -> SuiteConfig:
    """A SuiteConfig whose judge is the local Messages API server, driven through the anthropic SDK."""
    return dataclasses.replace(
        make_config(),
        path=tmp_path / "evalgate.yaml",
        base_dir=tmp_path,
        suite="judge-tests",
        providers=[provider_config(judge_type, stub.url, name="default")],
        concurrency=4,
        timeout=30.0,
        seed=7,
        judge=provider_config(judge_type, stub.url),
        cache={"enabled": False, "dir": ".evalgate/cache"},
    )
