"""The run's budget: the run stops cleanly when it is spent, and every case is accounted for."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from evalgate.errors import InputError
from evalgate.providers.llm.budget import Budget, RunSettings

from .conftest import case, make_provider, run_provider
from .fake_servers import FakeLLMServer

CASES = [case(f"tell me about item number {i}") for i in range(40)]


def budgeted(server: FakeLLMServer, tmp_path: Path, budget: Budget, model: str = "claude-haiku-4-5"):
    settings = RunSettings(budget=budget, cache_dir=None)
    return make_provider("anthropic", {"model": model, "base_url": server.url}, tmp_path, settings=settings)


def test_token_budget_aborts_and_accounts_for_every_case(server: FakeLLMServer, tmp_path: Path) -> None:
    budget = Budget(max_tokens=150)
    ran = asyncio.run(run_provider(budgeted(server, tmp_path, budget), CASES, concurrency=4))
    assert ran.aborted is not None and ran.aborted.startswith("budget exceeded")
    assert "max_tokens 150" in ran.aborted
    assert set(ran.outputs) | set(ran.errors) == {item.id for item in CASES}
    assert not set(ran.outputs) & set(ran.errors)
    assert 0 < len(ran.outputs) < len(CASES)
    assert all(error.startswith("aborted: budget exceeded") for error in ran.errors.values())
    spent = sum(o.tokens_in + o.tokens_out for o in ran.outputs.values())
    assert budget.tokens == spent >= 150
    assert server.calls == len(ran.outputs)  # no call was made once the budget was spent


def test_cost_budget(server: FakeLLMServer, tmp_path: Path) -> None:
    budget = Budget(max_cost=0.0002)
    ran = asyncio.run(run_provider(budgeted(server, tmp_path, budget), CASES, concurrency=2))
    assert ran.aborted is not None and "max_cost $0.0002" in ran.aborted
    assert budget.cost == pytest.approx(sum(o.cost for o in ran.outputs.values()), rel=1e-12)
    assert budget.cost >= 0.0002
    assert len(ran.outputs) + len(ran.errors) == len(CASES)


def test_a_budget_large_enough_never_aborts(server: FakeLLMServer, tmp_path: Path) -> None:
    ran = asyncio.run(
        run_provider(budgeted(server, tmp_path, Budget(max_cost=10.0, max_tokens=10**6)), CASES)
    )
    assert ran.aborted is None and ran.errors == {} and len(ran.outputs) == len(CASES)


def test_cost_budget_with_an_unpriced_model_is_bad_input(server: FakeLLMServer, tmp_path: Path) -> None:
    provider = budgeted(server, tmp_path, Budget(max_cost=1.0), model="house-model")
    with pytest.raises(InputError, match="price of model 'house-model' is unknown"):
        asyncio.run(provider.start(1))


def test_providers_sharing_settings_share_the_budget(server: FakeLLMServer, tmp_path: Path) -> None:
    settings = RunSettings(budget=Budget(max_tokens=100), cache_dir=None)
    options = {"model": "claude-haiku-4-5", "base_url": server.url}
    model = make_provider("anthropic", options, tmp_path, settings=settings)
    judge = make_provider("anthropic", {**options, "system": "Grade it."}, tmp_path, settings=settings)
    first = asyncio.run(run_provider(model, CASES[:8], concurrency=1))
    assert first.aborted is None
    second = asyncio.run(run_provider(judge, CASES, concurrency=1))
    assert second.aborted is not None
    assert settings.budget.tokens == sum(
        o.tokens_in + o.tokens_out for ran in (first, second) for o in ran.outputs.values()
    )
