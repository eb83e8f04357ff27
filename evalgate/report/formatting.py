"""Numbers for people: rates in percent (changes in percentage points), latency in ms, cost in USD, the rest
with three significant digits.

A metric's unit is decided in one place, the facts its family declares (evalgate/facts.py), recorded with each
key in the results file and carried by every row of the verdict (`unit`); this module only writes numbers in it.
"""

from __future__ import annotations

import math
from typing import Any

from evalgate.facts import UNITS, Unit

__all__ = [
    "DASH",
    "Unit",
    "amount",
    "count",
    "delta",
    "distinct",
    "interval",
    "p_value",
    "sig",
    "threshold",
    "unit_in",
    "value",
]

DASH = "—"


def unit_in(row: Any) -> Unit:
    """The unit a verdict row (or a results file's key entry) carries; the plain number for one without."""
    unit = row.get("unit") if isinstance(row, dict) else None
    return next((known for known in UNITS.values() if known == unit), "plain")


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def sig(value: float, digits: int = 3, *, strip: bool = False) -> str:
    """`value` with `digits` significant digits, never in exponent notation, thousands separated;
    `strip` drops trailing zeros (0.0030 -> 0.003)."""
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    decimals = max(0, digits - 1 - magnitude)
    text = f"{value:,.{decimals}f}"
    if strip and "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _pct(value: float, digits: int = 3) -> str:
    """Percent with one decimal (more when `digits` asks for more), or `digits` significant digits below 1."""
    if abs(value) >= 1 or value == 0:
        return f"{value:,.{max(1, digits - 2)}f}"
    return sig(value, digits)


def value(x: Any, unit: Unit, *, strip: bool = False, digits: int = 3) -> str:
    """A metric's value (or a threshold, with `strip`); `digits` significant digits (3: one decimal of a
    percent)."""
    if not is_number(x):
        return DASH
    if unit == "rate":
        return _pct(x * 100, digits) + "%"
    if unit == "ms":
        return sig(x, digits, strip=strip) + " ms"
    if unit == "usd":
        return "$" + sig(x, digits, strip=strip)
    return sig(x, digits, strip=strip)


def amount(x: Any, unit: Unit, *, strip: bool = False) -> str:
    """A size of change without sign: points for rates, ms, dollars."""
    if not is_number(x):
        return DASH
    if unit == "rate":
        return _pct(abs(x) * 100) + " pp"
    return value(abs(x), unit, strip=strip)


def distinct(x: float, other: float, unit: Unit, *, strip: bool = False) -> str:
    """`x` written with as many digits as it takes not to read as `other` (89.99% below a 90% minimum, never
    "90.0%, below the minimum 90.0%")."""
    for digits in range(3, 10):
        text = value(x, unit, strip=strip, digits=digits)
        if x == other or text != value(other, unit, strip=strip, digits=digits):
            return text
    return text


def delta(x: Any, unit: Unit, base: Any = None) -> str:
    """A signed change; for non-rates with a non-zero base, the relative change too."""
    if not is_number(x):
        return DASH
    sign = "+" if x > 0 else "-" if x < 0 else "±"
    text = sign + amount(x, unit)
    if unit != "rate" and is_number(base) and base != 0 and x != 0:
        text += f" ({x / abs(base) * 100:+.1f}%)"
    return text


def interval(low: Any, high: Any, unit: Unit, *, of_change: bool) -> str:
    """A confidence interval, of the change (signed) or of the value."""
    if not (is_number(low) and is_number(high)):
        return DASH
    if of_change:
        return f"[{delta(low, unit)}, {delta(high, unit)}]"
    return f"[{value(low, unit)}, {value(high, unit)}]"


def p_value(p: Any, adjusted: Any = None) -> str:
    if not is_number(p):
        return DASH
    text = _p(p)
    if is_number(adjusted) and _p(adjusted) != text:  # an adjustment that changes nothing shown is left out
        text += f" (adj. {_p(adjusted)})"
    return text


def _p(p: float) -> str:
    return "< 0.001" if p < 0.001 else sig(p, 2, strip=True)


def threshold(rules: dict[str, Any] | None, unit: Unit, higher_is_better: bool) -> str:
    """The rules of one metric in words: `≥ 90.0%, drop ≤ 2.0 pp`."""
    if not rules:
        return DASH
    worse = "drop" if higher_is_better else "rise"
    parts = []
    if is_number(rules.get("min")):
        parts.append("≥ " + value(rules["min"], unit, strip=True))
    if is_number(rules.get("max")):
        parts.append("≤ " + value(rules["max"], unit, strip=True))
    if is_number(rules.get("max_drop")):
        parts.append(f"{worse} ≤ {amount(rules['max_drop'], unit, strip=True)}")
    if is_number(rules.get("max_drop_pct")):
        parts.append(f"{worse} ≤ {sig(rules['max_drop_pct'], strip=True)}%")
    return ", ".join(parts) or DASH


def count(n: Any) -> str:
    """An integer with thousands separators."""
    return f"{n:,}" if is_number(n) else DASH
