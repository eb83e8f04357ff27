"""The unit of a metric key: the one place that decides it, by what the metric is (its kind and name), never by
the range of its values. The gate's reasons and notes, the report's tables, the PR comment, the step summary,
the command line and the config's checks of thresholds all ask here.

- `rate`: a share of cases, from 0 to 1: every pass/fail key (kind `binary`: accuracy, exact_match, contains,
  a binary custom scorer...), `accuracy` and `exact_match` by name (where the kind is not known), and every
  key named `...rate` (error_rate, hallucination_rate). Shown in percent; its changes in percentage points.
- `ms`: milliseconds, keys named `..._ms` (latency percentiles).
- `usd`: US dollars, keys naming `cost`.
- `plain`: the number as it is: F1, precision and recall, ROUGE, AUC, similarity and judge scores (scores
  from 0 to 1 that are not shares of cases), BLEU and chrF (sacrebleu's 0 to 100), tokens.

A ROUGE-L of 0.53 is a score, not a share of cases: it drops "by 0.03", never "3.0 points", in the reasons as
in the tables. A later metric-facts registry can take this decision over; until then this is where a new unit
or a new family's unit is added.
"""

from __future__ import annotations

from typing import Literal

Unit = Literal["rate", "ms", "usd", "plain"]

RATE_NAMES = ("accuracy", "exact_match")


def unit_of(name: str, kind: str | None = None) -> Unit:
    """The unit of metric key `name` of kind `kind` (binary, continuous, corpus; None when not known)."""
    if kind == "binary" or name in RATE_NAMES or name.endswith("rate"):
        return "rate"
    if name.endswith("_ms"):
        return "ms"
    if "cost" in name:
        return "usd"
    return "plain"
