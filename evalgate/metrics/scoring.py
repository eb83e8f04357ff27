"""Score every case with every metric, then aggregate overall, per category and per slice (evalgate.slices).

Each aggregate is {"value": float | None, "n": int}. Mean metrics (kinds binary and continuous) also carry
"stderr", "ci_low", "ci_high" at the given confidence and "interval", the method:
- "wilson": the Wilson score interval, for binary keys;
- "normal": mean +- z * s / sqrt(n) (s the sample standard deviation), for continuous keys;
- "cluster": when cases share a `cluster` (they are not independent), mean +- z * the cluster-robust standard
  error sqrt(G / (G - 1) * sum over clusters of (sum of x - mean)^2) / n, for both kinds (clipped to [0, 1]
  for binary keys); a case without a cluster is a cluster of its own.
Corpus keys get their intervals from the statistics module, which resamples case indices. Timing keys (latency,
tokens per second) also carry "fresh", how many of their n values were timed in this run (the others are cached
answers' recorded timings), and "measured" (metrics.base.timing_measured): false when too few were.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist
from typing import Any

from evalgate.metrics.base import CaseRecord, Kind, Metric, timing_measured
from evalgate.slices import SliceSpec, groups

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
    return summarize_all(metrics, records, confidence)


def summarize_all(
    metrics: Sequence[Metric], records: list[CaseRecord], confidence: float = 0.95
) -> tuple[Aggregates, dict[str, Aggregates]]:
    """The aggregates of already scored records, overall and per category (sorted by name)."""
    by_category: dict[str, list[CaseRecord]] = {}
    for record in records:
        by_category.setdefault(str(record.get("category") or "default"), []).append(record)
    overall = summarize(metrics, records, confidence)
    categories = {name: summarize(metrics, by_category[name], confidence) for name in sorted(by_category)}
    return overall, categories


def summarize_slices(
    metrics: Sequence[Metric], records: list[CaseRecord], specs: Sequence[SliceSpec], confidence: float = 0.95
) -> dict[str, Aggregates]:
    """The aggregates of already scored records in each slice (sorted by name), computed from the records' own
    metadata and tags, as a category's are from its cases (never summed from parts: a merge recomputes them)."""
    return {
        name: summarize(metrics, [records[i] for i in members], confidence)
        for name, members in groups(records, specs).items()
    }


def summarize(metrics: Sequence[Metric], records: list[CaseRecord], confidence: float = 0.95) -> Aggregates:
    """The aggregates of already scored records."""
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    result: Aggregates = {}
    for metric in metrics:
        aggregates, sizes, fresh = metric.summary(records)
        for key in metric.keys():
            value = aggregates.get(key.name)
            entry: dict[str, Any] = {
                "value": None if value is None or math.isnan(value) else float(value),
                "n": int(sizes.get(key.name, len(records))),
            }
            if key.timing:  # how many values were timed now, and whether that makes a measurement
                entry["fresh"] = fresh[key.name]
                entry["measured"] = timing_measured(entry["n"], entry["fresh"])
            if key.kind != "corpus":
                scored = [r for r in records if (r.get("scores") or {}).get(key.name) is not None]
                scores = [r["scores"][key.name] for r in scored]
                entry.update(mean_interval(scores, key.kind, z, [r.get("cluster") for r in scored]))
            result[key.name] = entry
    return result


def mean_interval(
    values: list[float], kind: Kind, z: float, clusters: list[Any] | None = None
) -> dict[str, Any]:
    """Standard error and confidence interval of a mean (see the module docstring for the methods)."""
    n = len(values)
    clustered = clusters is not None and any(cluster is not None for cluster in clusters)
    method = "cluster" if clustered else "wilson" if kind == "binary" else "normal"
    result: dict[str, Any] = {"stderr": None, "ci_low": None, "ci_high": None, "interval": method}
    if n == 0:
        return result
    mean = math.fsum(values) / n
    if method == "wilson":
        denominator = 1 + z * z / n
        center = (mean + z * z / (2 * n)) / denominator
        half = z / denominator * math.sqrt(mean * (1 - mean) / n + z * z / (4 * n * n))
        stderr = math.sqrt(mean * (1 - mean) / n)
        return {
            **result,
            "stderr": stderr,
            "ci_low": max(0.0, center - half),
            "ci_high": min(1.0, center + half),
        }
    if method == "cluster":
        sums: dict[Any, float] = {}
        for index, (value, cluster) in enumerate(zip(values, clusters or [], strict=True)):
            unit = ("cluster", cluster) if cluster is not None else ("case", index)
            sums[unit] = sums.get(unit, 0.0) + value - mean
        groups = len(sums)
        if groups < 2:
            return result
        stderr = math.sqrt(groups / (groups - 1) * math.fsum(d * d for d in sums.values())) / n
    else:
        if n < 2:
            return result
        stderr = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1) / n)
    low, high = mean - z * stderr, mean + z * stderr
    if kind == "binary":
        low, high = max(0.0, low), min(1.0, high)
    return {**result, "stderr": stderr, "ci_low": low, "ci_high": high}


def metric_keys(metrics: Sequence[Metric]) -> dict[str, dict[str, Any]]:
    """The results file's `metric_keys`: each key's kind, direction, meaning and declared facts (quantity, unit;
    `timing` for timing keys), so every reader of the file writes its values in one unit."""
    return {
        key.name: {
            "kind": key.kind,
            "higher_is_better": key.higher_is_better,
            "description": key.description,
            "quantity": key.quantity,
            "unit": key.unit,
            **({"timing": True} if key.timing else {}),
        }
        for metric in metrics
        for key in metric.keys()
    }
