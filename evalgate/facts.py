"""What a metric key is, declared once beside its family: its quantity, direction, display unit, whether it is a
timing and when a report shows it.

Each family (evalgate/metrics/*.py) lists its keys in `FACTS` (a tuple of KeyFacts) and builds its MetricKeys
from them (`Metric.declared_key`); the registry (evalgate.metrics.registry) is derived from those declarations,
and every reader (the gate's reasons, the report's tables, the PR comment's change detection, the run summary,
docs/metrics.md) reads the facts, recorded with each key in the results file (`metric_keys`).

This module imports nothing but the standard library: the results file's readers use it without loading a metric.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

# What a key measures. rate: a share of cases, 0 to 1 (accuracy, error_rate); score: a number on the metric's own
# scale (F1, ROUGE, BLEU 0-100, judge 1-5, similarity); time: milliseconds; count: tokens, tokens per second;
# money: US dollars.
Quantity = Literal["rate", "score", "time", "count", "money"]
# How a value is written (evalgate.report.formatting): rate in percent (changes in percentage points), ms, usd,
# plain (the number, three significant digits).
Unit = Literal["rate", "ms", "usd", "plain"]
UNITS: dict[str, Unit] = {"rate": "rate", "score": "plain", "time": "ms", "count": "plain", "money": "usd"}
# When a report shows a key: always (error rate, latency percentiles); when the run measured it (usage,
# streaming); or when the config names it (by the key or its family) or a rule gates it.
Shown = Literal["always", "measured", "asked"]


@dataclass(frozen=True)
class KeyFacts:
    """One key a family can write. `name` is the key itself, or a pattern with `{placeholders}` for keys named
    from the options (`judge_{criterion}`, `f1[{label}]`); only a literal name can be named in a config."""

    name: str
    quantity: Quantity
    higher_is_better: bool = True
    timing: bool = False  # computed from call latencies: a measurement only from fresh calls
    shown: Shown = "asked"
    note: str = ""  # for the docs table: what the options change (a custom scorer's direction)

    @property
    def unit(self) -> Unit:
        return UNITS[self.quantity]

    @property
    def literal(self) -> bool:
        return "{" not in self.name

    def matches(self, key: str) -> bool:
        if self.literal:
            return key == self.name
        parts = re.split(r"\{[^}]*\}", self.name)
        return re.fullmatch(".+".join(re.escape(part) for part in parts), key) is not None


def direction(higher_is_better: bool) -> str:
    return "higher is better" if higher_is_better else "lower is better"
