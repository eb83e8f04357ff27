"""A corpus metric's resampled deltas between two runs on the same cases: the statistic that
stats.corpus_bootstrap draws case-index resamples for (paired_metrics.MetricPairing.corpus). The vectorized path
(metrics.base.ResampledMetric) computes every resample at once; any other metric aggregates each resample."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Protocol, runtime_checkable

import numpy as np

from evalgate.metrics.base import CaseRecord, Metric, ResampledMetric

Statistic = Callable[[np.ndarray | list[np.ndarray]], np.ndarray]


@runtime_checkable
class Vectorized(Protocol):
    """A metric with the vectorized path: every ResampledMetric, or any metric that offers `resampled`."""

    def resampled(self, records: list[CaseRecord], indices: np.ndarray) -> dict[str, np.ndarray]: ...


def _nan(value: float | None) -> float:
    return float("nan") if value is None else value


def vectorized_delta(
    metric: Vectorized, cur: list[CaseRecord], base: list[CaseRecord], names: list[str]
) -> Statistic:
    """The resampled deltas of `names` by the metric's vectorized resampling; each run's records are read
    once, not once per chunk."""
    resample_after, resample_before = _resampler(metric, cur), _resampler(metric, base)

    def statistic(chunk: np.ndarray | list[np.ndarray]) -> np.ndarray:
        indices = np.asarray(chunk)  # without clusters a chunk is one 2-D array of case indices
        after_rows, before_rows = resample_after(indices), resample_before(indices)
        return np.column_stack(
            [
                np.asarray(after_rows[k], dtype=np.float64) - np.asarray(before_rows[k], dtype=np.float64)
                for k in names
            ]
        )

    return statistic


def aggregated_delta(
    metric: Metric, cur: list[CaseRecord], base: list[CaseRecord], names: list[str]
) -> Statistic:
    """The resampled deltas of `names` by the metric's aggregate on each resample (no vectorized path, or
    clusters)."""

    def statistic(chunk: np.ndarray | list[np.ndarray]) -> np.ndarray:
        rows = []
        for row in chunk:
            after_row = metric.aggregate([cur[i] for i in row])
            before_row = metric.aggregate([base[i] for i in row])
            rows.append([_nan(after_row.get(k)) - _nan(before_row.get(k)) for k in names])
        return np.array(rows, dtype=np.float64).reshape(len(rows), len(names))

    return statistic


def _resampler(
    metric: Vectorized, records: list[CaseRecord]
) -> Callable[[np.ndarray], dict[str, np.ndarray]]:
    """The metric's vectorized resampling of `records`, encoded once (ResampledMetric), or its plain
    `resampled` for a metric that only offers that."""
    if isinstance(metric, ResampledMetric):
        return metric.resampler(records)
    return functools.partial(metric.resampled, records)
