"""Metrics: a registry of metric families by name, built from the config's `metrics` list.

Owned by the metrics module set; `build_metrics(config)` and `score_results(metrics, records)` are the API
(see docs/internals.md and docs/metrics.md). A config name is either a family (`rouge`, `f1`, `latency`)
or one of its keys (`rougeL`, `f1_macro`, `latency_p95_ms`); RESOLVE below maps names to families.
"""

from __future__ import annotations

# family name -> "module:Class" (imported lazily)
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
    # the judge families are implemented in evalgate/metrics/judge.py
    "judge": "evalgate.metrics.judge:RubricJudge",
    "factual_consistency": "evalgate.metrics.judge:FactualConsistency",
}

# the families every suite computes, listed or not
ALWAYS: tuple[str, ...] = ("error_rate", "latency", "usage")
# and the one a suite computes when one of its providers streams (`stream: true`)
WHEN_STREAMING = "streaming"

# config name -> (family, the key it names or None for the whole family)
RESOLVE: dict[str, tuple[str, str | None]] = {
    **{family: (family, None) for family in FAMILIES},
    **{name: ("classification", None) for name in ("precision", "recall", "f1")},
    **{
        f"{stat}_{average}": ("classification", f"{stat}_{average}")
        for stat in ("precision", "recall", "f1")
        for average in ("macro", "micro", "weighted")
    },
    **{key: ("ranking", key) for key in ("roc_auc", "average_precision")},
    "judge_score": ("judge", "judge_score"),
    "hallucination_rate": ("factual_consistency", "hallucination_rate"),
    **{key: ("rouge", key) for key in ("rouge1", "rouge2", "rougeL", "rougeLsum")},
    **{f"bertscore_{part}": ("bertscore", f"bertscore_{part}") for part in ("precision", "recall", "f1")},
    **{
        key: ("latency", key)
        for key in ("latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "latency_mean_ms")
    },
    **{
        key: ("streaming", key)
        for key in (
            "latency_ttft_p50_ms",
            "latency_ttft_p95_ms",
            "latency_ttft_p99_ms",
            "latency_ttft_mean_ms",
            "generation_tokens_per_s",
        )
    },
    **{
        key: ("usage", key)
        for key in (
            "tokens_in",
            "tokens_out",
            "tokens_in_per_case",
            "tokens_out_per_case",
            "tokens_per_s",
            "cost_total",
            "cost_per_1k_requests",
        )
    },
}

from evalgate.metrics.build import build_metrics, family_class, resolve_name  # noqa: E402
from evalgate.metrics.scoring import (  # noqa: E402
    metric_keys,
    prepare_metrics,
    score_results,
    summarize,
    summarize_all,
)

__all__ = [
    "ALWAYS",
    "FAMILIES",
    "RESOLVE",
    "build_metrics",
    "family_class",
    "metric_keys",
    "prepare_metrics",
    "resolve_name",
    "score_results",
    "summarize",
    "summarize_all",
]
