"""The gate's margins and the tests against them: the rules of a key, Holm's adjustment within a family, the
smallest detectable drop and the sentence that says when a suite is too small (docs/gate.md)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from evalgate import stats
from evalgate.config import DROP_RULES, Rule
from evalgate.contracts.comparison import MetricComparison
from evalgate.report import formatting as fmt


def finish(item: MetricComparison, family: list[MetricComparison], settings: dict[str, Any]) -> None:
    """The smallest drop the suite detects (and the gate fails on) with the configured power, and the note
    when that is larger than the margin."""
    if item.p_value is None or item.baseline is None:
        return
    alpha = float(settings["alpha"])
    tests = sum(len(other.tests) for other in family)
    if item.tests:
        alpha /= tests  # what the smallest p of the family must beat under Holm
    elif not item.rules:
        return  # display only: no MDE (keeps the gate fast)
    power = float(settings["power"])
    margin = item.margin or 0.0
    if item.method == "mcnemar_exact" and item.discordant is not None:
        rate = stats.planning_discordance(item.discordant["worse"] + item.discordant["better"], item.n)
        item.mde_gate = stats.mde_mcnemar(item.n, rate, alpha=alpha, power=power, margin=margin)
        item.mde = stats.mde_mcnemar(item.n, rate, alpha=alpha, power=power)
    else:
        item.mde_gate, item.mde = stats.mde_normal(item.se, alpha=alpha, power=power, margin=margin)
    if item.margin is None:
        return
    if item.mde is None:
        if item.method == "mcnemar_exact":
            item.note = _join(
                f"With {item.n} paired cases this suite is too small to detect any drop at alpha "
                f"{alpha:g}: no number of changed cases would be significant.",
                item.note,
            )
    elif item.mde > item.margin:
        gate = (
            f", and fails the gate on drops of about {amount(item, item.mde_gate)}"
            if item.mde_gate is not None
            else ""
        )
        item.note = _join(
            f"With {item.n} paired cases this suite is too small to detect a drop of the "
            f"{amount(item, item.margin, adjective=True)} margin: it detects drops of about "
            f"{amount(item, item.mde)} {power:.0%} of the time{gate}.",
            item.note,
        )


def _join(*sentences: str | None) -> str | None:
    return " ".join(s for s in sentences if s) or None


def amount(item: MetricComparison, value: float, *, adjective: bool = False) -> str:
    """A change in words, in the metric's unit (evalgate.facts): points for rates ("2.0 points", or "2.0-point"
    before a noun), "120 ms", "$0.002", or the plain number ("0.03")."""
    unit = item.unit
    if unit == "rate":
        return f"{abs(value) * 100:.1f}{'-point' if adjective else ' points'}"
    return fmt.amount(value, unit, strip=True)


def adjust(items: list[MetricComparison]) -> None:
    """Holm within a family (the overall rules, or the category and slice rules together): across the metrics with a drop rule
    for the test of no change, and across the drop rules for the tests against their margins."""
    gated = [(item, item.p_value) for item in items if item.tests and item.p_value is not None]
    for (item, _), adjusted in zip(gated, stats.holm([p for _, p in gated]), strict=True):
        item.p_adjusted = adjusted
    tests = [
        (test, p) for item in items for test in item.tests.values() if (p := test["p_value"]) is not None
    ]
    for (test, _), adjusted in zip(tests, stats.holm([p for _, p in tests]), strict=True):
        test["p_adjusted"] = adjusted
    for item in items:
        if item.tests:
            strictest = min(item.tests.values(), key=lambda test: test["margin"])
            item.p_margin, item.p_margin_adjusted = strictest["p_value"], strictest["p_adjusted"]


def rule_margin(rule: str, threshold: float, baseline: float | None) -> float:
    """max_drop is the margin itself; max_drop_pct is a percent of the baseline value."""
    return threshold if rule == "max_drop" else threshold / 100 * abs(baseline or 0.0)


def strictest_margin(rules: dict[str, float], baseline: float | None) -> float | None:
    """The practical margin shown: the strictest of the drop rules."""
    margins = [rule_margin(rule, value, baseline) for rule, value in rules.items() if rule in DROP_RULES]
    return min(margins) if margins else None


def rules_for(
    rules: Sequence[Rule], key: str, category: str | None, slice: str | None = None
) -> dict[str, float]:
    merged: dict[str, float] = {}
    for rule in rules:
        if rule.metric == key and rule.category == category and rule.slice == slice:
            merged.update(rule.bounds())
    return merged
