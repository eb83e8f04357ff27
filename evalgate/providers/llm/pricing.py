"""Prices of LLM calls: USD per million input and output tokens, by model, and the cost of one call.

The built-in table holds list prices of current Claude and OpenAI models; a suite overrides or extends it with
`prices: {model: {input: .., output: ..}}`. A dated snapshot (`claude-sonnet-4-5-20250929`,
`gpt-4o-2024-08-06`) or a `-latest` alias takes its family's price.
An unknown model has no price: its cost is None, never 0.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

# USD per million tokens (input, output): list prices, standard tier, no prompt caching or batch discount.
DEFAULT_PRICES: dict[str, tuple[float, float]] = {
    # Anthropic
    "claude-opus-4-5": (5.0, 25.0),
    "claude-opus-4-1": (15.0, 75.0),
    "claude-opus-4-0": (15.0, 75.0),
    "claude-opus-4": (15.0, 75.0),
    "claude-sonnet-4-5": (3.0, 15.0),
    "claude-sonnet-4-0": (3.0, 15.0),
    "claude-sonnet-4": (3.0, 15.0),
    "claude-3-7-sonnet": (3.0, 15.0),
    "claude-3-5-sonnet": (3.0, 15.0),
    "claude-haiku-4-5": (1.0, 5.0),
    "claude-3-5-haiku": (0.8, 4.0),
    "claude-3-haiku": (0.25, 1.25),
    "claude-3-opus": (15.0, 75.0),
    # OpenAI
    "gpt-5": (1.25, 10.0),
    "gpt-5-mini": (0.25, 2.0),
    "gpt-5-nano": (0.05, 0.4),
    "gpt-4.1": (2.0, 8.0),
    "gpt-4.1-mini": (0.4, 1.6),
    "gpt-4.1-nano": (0.1, 0.4),
    "gpt-4o": (2.5, 10.0),
    "gpt-4o-mini": (0.15, 0.6),
    "o3": (2.0, 8.0),
    "o3-mini": (1.1, 4.4),
    "o4-mini": (1.1, 4.4),
}

# what may follow a family name in a model id: a date (20250929, 2024-08-06) or "latest"
_SNAPSHOT = re.compile(r"-(\d{8}|\d{4}-\d{2}-\d{2}|latest)$")


@dataclass(frozen=True)
class Price:
    """USD per million input and output tokens."""

    input: float
    output: float

    def cost(self, tokens_in: int | None, tokens_out: int | None) -> float | None:
        """The cost of one call in USD; None when the usage is unknown."""
        if tokens_in is None or tokens_out is None:
            return None
        return (tokens_in * self.input + tokens_out * self.output) / 1_000_000


class PriceTable:
    """The built-in prices, overridden by a suite's `prices` section."""

    def __init__(self, overrides: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self._prices = {model: Price(*pair) for model, pair in DEFAULT_PRICES.items()}
        for model, body in (overrides or {}).items():
            self._prices[str(model)] = Price(float(body["input"]), float(body["output"]))

    def price_for(self, model: str | None) -> Price | None:
        """The price of `model`: its own entry, else its family's (a dated snapshot, -latest), else None."""
        key = price_key(model, self._prices)
        return None if key is None else self._prices[key]


def price_key(model: str | None, keys: Collection[str]) -> str | None:
    """The entry of `keys` whose price applies to `model`: its own, else its family's, else None."""
    if not model:
        return None
    if model in keys:
        return model
    family = _SNAPSHOT.sub("", model)
    return family if family in keys else None
