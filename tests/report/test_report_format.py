"""Number formatting of the report: rates in percent and points, ms, dollars, three significant digits."""

from __future__ import annotations

import pytest

from evalgate.report import formatting as fmt


@pytest.mark.parametrize(
    ("row", "unit"),
    [
        ({"metric": "accuracy", "unit": "rate"}, "rate"),
        ({"metric": "latency_p95_ms", "unit": "ms"}, "ms"),
        ({"metric": "cost_total", "unit": "usd"}, "usd"),
        ({"metric": "rougeL", "unit": "plain"}, "plain"),
        ({"metric": "accuracy", "kind": "binary"}, "plain"),  # no unit carried: nothing guessed from the name
        ({"metric": "x", "unit": "furlongs"}, "plain"),
        (None, "plain"),
    ],
)
def test_the_unit_is_the_one_the_row_carries(row, unit: str) -> None:
    assert fmt.unit_in(row) == unit


@pytest.mark.parametrize(
    ("value", "digits", "text"),
    [
        (0.41274, 3, "0.413"),
        (412.7, 3, "413"),
        (12345.6, 3, "12,346"),
        (0.000523, 3, "0.000523"),
        (-0.0122, 3, "-0.0122"),
        (87.04, 3, "87.0"),
        (0, 3, "0"),
        (0.003, 2, "0.0030"),
    ],
)
def test_sig_keeps_three_significant_digits_without_exponents(value: float, digits: int, text: str) -> None:
    assert fmt.sig(value, digits) == text


def test_sig_strip_drops_trailing_zeros_only_after_the_point() -> None:
    assert fmt.sig(0.003, 2, strip=True) == "0.003"
    assert fmt.sig(1.0, strip=True) == "1"
    assert fmt.sig(500.0, strip=True) == "500"


def test_rates_are_percent_and_their_changes_points() -> None:
    assert fmt.value(0.87, "rate") == "87.0%"
    assert fmt.value(0.004, "rate") == "0.400%"
    assert fmt.delta(-0.04, "rate") == "-4.0 pp"
    assert fmt.delta(0.002, "rate", 0.002) == "+0.200 pp"  # no relative change for rates


def test_non_rates_show_the_relative_change() -> None:
    assert fmt.delta(24.6, "ms", 388.1) == "+24.6 ms (+6.3%)"
    assert fmt.delta(-67.5, "ms", 1910.5) == "-67.5 ms (-3.5%)"
    assert fmt.delta(0.0, "plain", 3.0) == "±0"


def test_missing_and_non_finite_numbers_show_a_dash() -> None:
    assert fmt.value(None, "rate") == fmt.DASH
    assert fmt.value(float("nan"), "plain") == fmt.DASH
    assert fmt.delta(float("inf"), "ms") == fmt.DASH
    assert fmt.value(True, "plain") == fmt.DASH  # a bool is not a number here


def test_interval_of_a_change_is_signed_and_of_a_value_is_not() -> None:
    assert fmt.interval(-0.061, -0.019, "rate", of_change=True) == "[-6.1 pp, -1.9 pp]"
    assert fmt.interval(0.786, 0.851, "rate", of_change=False) == "[78.6%, 85.1%]"
    assert fmt.interval(None, 0.1, "rate", of_change=True) == fmt.DASH


def test_p_values_show_the_holm_adjusted_value_when_it_differs() -> None:
    assert fmt.p_value(0.003, 0.006) == "0.003 (adj. 0.006)"
    assert fmt.p_value(0.21, 0.21) == "0.21"
    assert fmt.p_value(0.0002) == "< 0.001"


def test_thresholds_in_words_follow_the_direction_of_better() -> None:
    assert fmt.threshold({"min": 0.85, "max_drop": 0.02}, "rate", True) == "≥ 85.0%, drop ≤ 2.0 pp"
    assert fmt.threshold({"max": 500}, "ms", False) == "≤ 500 ms"
    assert fmt.threshold({"max_drop": 50.0, "max_drop_pct": 10}, "ms", False) == "rise ≤ 50 ms, rise ≤ 10%"
    assert fmt.threshold({}, "plain", True) == fmt.DASH
