"""The run's spending cap, and the settings a run gives its LLM providers (prices, the budget, the cache folder)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from evalgate.config_schema import DEFAULT_CACHE_DIR
from evalgate.contracts.cases import Output
from evalgate.errors import RunAborted
from evalgate.providers.llm.pricing import PriceTable

if TYPE_CHECKING:
    from evalgate.config import SuiteConfig


class Budget:
    """The run's spending cap, shared by every provider given the same RunSettings.

    A call is refused (RunAborted) once the cost or the tokens spent reach their maximum; the answer that
    crosses the line is kept. Calls already in flight finish, so the overshoot is at most one round of calls.
    Cached answers cost nothing.
    """

    def __init__(self, max_cost: float | None = None, max_tokens: int | None = None) -> None:
        self.max_cost = max_cost
        self.max_tokens = max_tokens
        self.cost = 0.0
        self.tokens = 0

    def check(self) -> None:
        if self.max_cost is not None and self.cost >= self.max_cost:
            raise RunAborted(f"budget exceeded: spent ${self.cost:.4f} of max_cost ${self.max_cost:g}")
        if self.max_tokens is not None and self.tokens >= self.max_tokens:
            raise RunAborted(f"budget exceeded: spent {self.tokens} tokens of max_tokens {self.max_tokens}")

    def charge(self, output: Output) -> None:
        self.cost += output.cost or 0.0
        self.tokens += (output.tokens_in or 0) + (output.tokens_out or 0)


@dataclass
class RunSettings:
    """What a run decides for its LLM providers: prices, the budget, and where the cache lives (None: off)."""

    prices: PriceTable = field(default_factory=PriceTable)
    budget: Budget = field(default_factory=Budget)
    cache_dir: Path | None = None

    @classmethod
    def from_suite(cls, suite: SuiteConfig) -> RunSettings:
        """From a suite config (`evalgate run --no-cache` sets its cache.enabled to false)."""
        return cls(
            prices=PriceTable(suite.prices),
            budget=Budget(suite.budget.get("max_cost"), suite.budget.get("max_tokens")),
            cache_dir=suite.resolve(suite.cache.get("dir") or DEFAULT_CACHE_DIR)
            if suite.cache_enabled
            else None,
        )
