"""Metrics: a registry of metric families by name, built from the config's `metrics` list.

Owned by the metrics module set; `build_metrics(config)` and `score_results(metrics, records)` are the API
(see docs/internals.md and docs/metrics.md). A config name is either a family (`rouge`, `f1`, `latency`)
or one of its keys (`rougeL`, `f1_macro`, `latency_p95_ms`): each family declares its keys and their facts beside
its definition (`FACTS`, evalgate/metrics/facts.py) and evalgate/metrics/registry.py derives the names from them.
"""

from __future__ import annotations

# family name -> "module:Class": where each family lives, imported lazily (naming a family loads that family only)
FAMILIES: dict[str, str] = {
    "exact_match": "evalgate.metrics.matching:ExactMatch",
    "contains": "evalgate.metrics.matching:Contains",
    "regex": "evalgate.metrics.matching:Regex",
    "accuracy": "evalgate.metrics.matching:Accuracy",
    "classification": "evalgate.metrics.classification:Classification",
    "ranking": "evalgate.metrics.ranking:ScoreRanking",
    "rouge": "evalgate.metrics.rouge:Rouge",
    "bleu": "evalgate.metrics.translation:Bleu",
    "chrf": "evalgate.metrics.translation:Chrf",
    "latency": "evalgate.metrics.latency:Latency",
    "streaming": "evalgate.metrics.latency:Streaming",
    "error_rate": "evalgate.metrics.error_rate:ErrorRate",
    "usage": "evalgate.metrics.usage:Usage",
    "custom": "evalgate.metrics.custom:Custom",
    "json_valid": "evalgate.metrics.structured:JsonValid",
    "json_schema": "evalgate.metrics.structured:JsonSchema",
    "compression_ratio": "evalgate.metrics.compression:CompressionRatio",
    "similarity": "evalgate.metrics.similarity:Similarity",
    "bertscore": "evalgate.metrics.bertscore:BertScore",
    "assertions": "evalgate.metrics.assertions:Assertions",  # the dataset's per-case `assert` lists
    # the judge families (what they share: evalgate/metrics/judged.py)
    "judge": "evalgate.metrics.judge:RubricJudge",
    "factual_consistency": "evalgate.metrics.factual:FactualConsistency",
}

# the families every suite computes, listed or not
ALWAYS: tuple[str, ...] = ("error_rate", "latency", "usage")
# and the one a suite computes when one of its providers streams (`stream: true`)
WHEN_STREAMING = "streaming"

from evalgate.metrics.build import build_metrics, family_class, resolve_name  # noqa: E402
from evalgate.metrics.scoring import (  # noqa: E402
    metric_keys,
    prepare_metrics,
    score_results,
    summarize,
    summarize_all,
    summarize_slices,
)

__all__ = [
    "ALWAYS",
    "FAMILIES",
    "build_metrics",
    "family_class",
    "metric_keys",
    "prepare_metrics",
    "resolve_name",
    "score_results",
    "summarize",
    "summarize_all",
    "summarize_slices",
]
