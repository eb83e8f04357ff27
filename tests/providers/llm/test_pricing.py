"""Prices: built-in list prices, snapshots, overrides, and no price (None, never 0) for unknown models."""

from __future__ import annotations

import pytest

from evalgate.providers.llm.pricing import DEFAULT_PRICES, Price, PriceTable


def test_exact_snapshot_and_latest() -> None:
    table = PriceTable()
    assert table.price_for("claude-sonnet-4-5") == Price(3.0, 15.0)
    assert table.price_for("claude-sonnet-4-5-20250929") == Price(3.0, 15.0)
    assert table.price_for("claude-3-5-haiku-latest") == Price(0.8, 4.0)
    assert table.price_for("gpt-4o-2024-08-06") == Price(2.5, 10.0)
    assert table.price_for("gpt-4o-mini") == Price(0.15, 0.6)  # not gpt-4o's price
    assert table.price_for("gpt-4o-mini-2024-07-18") == Price(0.15, 0.6)


def test_unknown_models_have_no_price() -> None:
    table = PriceTable()
    for model in ("llama3.2", "gpt-4o-turbo-preview", "claude-sonnet-4-5-experimental", "", None):
        assert table.price_for(model) is None


def test_overrides_replace_and_extend() -> None:
    table = PriceTable({"gpt-4o": {"input": 1.0, "output": 4.0}, "house": {"input": 0, "output": 0.5}})
    assert table.price_for("gpt-4o-2024-08-06") == Price(1.0, 4.0)
    assert table.price_for("house") == Price(0.0, 0.5)
    assert PriceTable().price_for("gpt-4o") == Price(*DEFAULT_PRICES["gpt-4o"])  # the default is untouched


def test_cost() -> None:
    price = Price(3.0, 15.0)
    assert price.cost(1_000_000, 0) == pytest.approx(3.0, rel=1e-15)
    assert price.cost(1234, 567) == pytest.approx((1234 * 3 + 567 * 15) / 1e6, rel=1e-15)
    assert price.cost(None, 10) is None and price.cost(10, None) is None
