"""Metrics: a registry of metric families by name, built from the config's `metrics` list.

Owned by the metrics module set; `build_metrics(config)` and `score_results(metrics, records)` are the API
(see docs/internals.md). A config name is either a family (`rouge`, `f1`, `latency`) or one of its keys
(`rougeL`, `f1_macro`, `latency_p95_ms`); RESOLVE below maps names to families.
"""

from __future__ import annotations

# family name -> "module:Class" (imported lazily)
FAMILIES: dict[str, str] = {
    # filled by the metrics implementation; the judge families are implemented in evalgate/metrics/judge.py
    "judge": "evalgate.metrics.judge:RubricJudge",
    "factual_consistency": "evalgate.metrics.judge:FactualConsistency",
}
