"""Score every case with every metric, then aggregate overall and per category.

Each aggregate is {"value": float | None, "n": int}. Mean metrics (kinds binary and continuous) also carry
"stderr", "ci_low" and "ci_high" at the given confidence: the Wilson score interval for binary keys, the
normal interval mean +- z * s / sqrt(n) (s the sample standard deviation) for continuous keys. Corpus keys
get their intervals from the statistics module, which resamples case indices.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist
from typing import Any

from evalgate.metrics.base import CaseRecord, Kind, Metric, case_scores

Aggregates = dict[str, dict[str, Any]]


async def prepare_metrics(metrics: Sequence[Metric], records: list[CaseRecord], context: Any) -> None:
    """Run each metric's async `prepare` (judge calls, embeddings) before `score_results`."""
    for metric in metrics:
        await metric.prepare(records, context)


def score_results(
    metrics: Sequence[Metric], records: list[CaseRecord], *, confidence: float = 0.95
) -> tuple[Aggregates, dict[str, Aggregates]]:
    """Fill each record's `scores`, and return the aggregates overall and per category (sorted by name)."""
    for record in records:
        scores: dict[str, float] = {}
        for metric in metrics:
            scores.update(metric.score_case(record))
        record["scores"] = scores
    by_category: dict[str, list[CaseRecord]] = {}
    for record in records:
        by_category.setdefault(str(record.get("category") or "default"), []).append(record)
    overall = summarize(metrics, records, confidence)
    categories = {name: summarize(metrics, by_category[name], confidence) for name in sorted(by_category)}
    return overall, categories


def summarize(metrics: Sequence[Metric], records: list[CaseRecord], confidence: float = 0.95) -> Aggregates:
    """The aggregates of already scored records."""
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    result: Aggregates = {}
    for metric in metrics:
        values = metric.aggregate(records)
        sizes = metric.sizes(records)
        for key in metric.keys():  # noqa: SIM118 - a method, not a dict
            value = values.get(key.name)
            entry: dict[str, Any] = {
                "value": None if value is None or math.isnan(value) else float(value),
                "n": int(sizes.get(key.name, len(records))),
            }
            if key.kind != "corpus":
                entry.update(mean_interval(case_scores(records, key.name), key.kind, z))
            result[key.name] = entry
    return result


def mean_interval(values: list[float], kind: Kind, z: float) -> dict[str, float | None]:
    """Standard error and confidence interval of a mean: Wilson for binary, normal for continuous."""
    n = len(values)
    if n == 0:
        return {"stderr": None, "ci_low": None, "ci_high": None}
    mean = math.fsum(values) / n
    if kind == "binary":
        stderr = math.sqrt(mean * (1 - mean) / n)
        denominator = 1 + z * z / n
        center = (mean + z * z / (2 * n)) / denominator
        half = z / denominator * math.sqrt(mean * (1 - mean) / n + z * z / (4 * n * n))
        return {"stderr": stderr, "ci_low": max(0.0, center - half), "ci_high": min(1.0, center + half)}
    if n < 2:
        return {"stderr": None, "ci_low": None, "ci_high": None}
    variance = math.fsum((v - mean) ** 2 for v in values) / (n - 1)
    stderr = math.sqrt(variance / n)
    return {"stderr": stderr, "ci_low": mean - z * stderr, "ci_high": mean + z * stderr}


def metric_keys(metrics: Sequence[Metric]) -> dict[str, dict[str, Any]]:
    """The results file's `metric_keys`: each key's kind, direction and meaning."""
    return {
        key.name: {"kind": key.kind, "higher_is_better": key.higher_is_better, "description": key.description}
        for metric in metrics
        for key in metric.keys()  # noqa: SIM118 - a method, not a dict
    }
