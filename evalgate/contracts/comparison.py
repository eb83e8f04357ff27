"""The comparison of a run with its baseline: what pairing (evalgate/pairing.py) hands the gate (evalgate/gate.py).

`MetricComparison` is one metric key, overall, in one category or in one slice (evalgate.slices); `Comparison` is everything the gate and the
report need about the two runs. Both are plain typed objects in memory (the verdict file carries their JSON,
evalgate/contracts/verdict.py).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, TypedDict

from evalgate.facts import Unit


class MarginTest(TypedDict):
    """One drop rule's test against its margin (H0: the drop is at most `margin`); Holm fills p_adjusted."""

    margin: float
    p_value: float | None
    p_adjusted: float | None


@dataclass
class MetricComparison:
    """One metric, overall (category and slice None), in one category or in one slice, compared with the
    baseline."""

    metric: str
    category: str | None
    kind: str
    higher_is_better: bool
    current: float | None
    unit: Unit = "plain"  # how its values are written: the key's declared facts (pairing.key_units)
    slice: str | None = None  # a slice's name (`length=long`), for a row of `Comparison.slices`
    baseline: float | None = None
    delta: float | None = None  # current - baseline over the paired cases
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None  # one-sided, towards worse (H0: no drop)
    p_adjusted: float | None = None  # Holm, within its family (see docs/gate.md)
    p_margin: float | None = None  # one-sided, H0: the drop is at most the margin (the strictest drop rule)
    p_margin_adjusted: float | None = None  # Holm across the family's drop rules: the gate fails on this
    mde: float | None = (
        None  # smallest true drop the test against no change detects with the configured power
    )
    mde_gate: float | None = None  # smallest true drop the gate fails on with that power (margin included)
    margin: float | None = None
    n: int = 0
    rules: dict[str, float] = field(default_factory=dict)
    status: str = "info"  # set by the gate: pass | warn | fail, or info when no rule applies
    note: str | None = None
    method: str | None = None
    se: float | None = None
    discordant: dict[str, int] | None = None  # {"worse": b, "better": c} for McNemar
    tests: dict[str, MarginTest] = field(default_factory=dict)  # per drop rule
    # a timing key (latency, tokens/s): per run ("current", "baseline") how its values were timed,
    # {"n", "fresh", "measured", "note"}; a rule needs measured values (gate.py: "not measured")
    timing: dict[str, dict[str, Any]] | None = None

    @property
    def drop(self) -> float | None:
        """The change for the worse (positive = worse), from the paired delta."""
        if self.delta is None:
            return None
        return -self.delta if self.higher_is_better else self.delta

    def to_json(self) -> dict[str, Any]:
        """Its JSON (a row of a suite without slices has no `slice` key: the verdict is as it was)."""
        data = asdict(self)
        if data["slice"] is None:
            del data["slice"]
        return data


@dataclass
class Comparison:
    """Everything the gate and the report need about current versus baseline."""

    suite: str
    stats: dict[str, Any]
    has_baseline: bool
    baseline_info: dict[str, Any]
    signature_match: bool
    signature_diff: list[dict[str, Any]]
    metrics: list[MetricComparison]
    categories: list[MetricComparison]
    added: list[str]
    removed: list[str]
    paired: int
    regressed: list[dict[str, Any]]
    regressed_total: int
    failing: list[dict[str, Any]]
    failing_total: int
    flaky: list[dict[str, Any]]
    error_rate: float
    errors: int  # runs that errored (each repeat counts)
    cases: int
    quarantined: list[str]
    warnings: list[str]
    runs: int = 0  # every case x repeat
    incomplete: str | None = None  # why the current run did not complete (the gate never passes it)
    slices: list[MetricComparison] = field(default_factory=list)  # every key in every slice

    @property
    def rows(self) -> list[MetricComparison]:
        """Every compared row: overall, per category, per slice (the gate judges each that has rules)."""
        return self.metrics + self.categories + self.slices

    def metric(self, name: str, category: str | None = None) -> MetricComparison | None:
        for item in self.metrics if category is None else self.categories:
            if item.metric == name and item.category == category:
                return item
        return None
