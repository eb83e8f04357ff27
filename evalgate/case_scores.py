"""One run's per-case scores as arrays by key, and the clusters of a set of cases: what the paired statistics
(evalgate.paired_metrics) resample."""

from __future__ import annotations

import numpy as np

from evalgate import stats
from evalgate.contracts.results import CaseRecord


class ScoreTable:
    """One run's per-case scores as arrays (NaN where a case has no score), looked up by case ids."""

    def __init__(self, cases: dict[str, CaseRecord], keys: list[str]) -> None:
        self.keys = keys
        self.row = {case_id: i for i, case_id in enumerate(cases)}
        self.columns = {
            key: np.array([_score_or_nan(case, key) for case in cases.values()], dtype=np.float64)
            for key in keys
        }
        self._rows: dict[tuple[str, ...], np.ndarray] = {}

    def raw(self, ids: list[str], key: str) -> np.ndarray:
        """The scores of `key` for these cases, in this order, NaN where a case has none."""
        rows = self._rows.get(tuple(ids))
        if rows is None:
            rows = self._rows.setdefault(tuple(ids), np.array([self.row[i] for i in ids], dtype=np.intp))
        return self.columns[key][rows]

    def get(self, ids: list[str], key: str) -> np.ndarray | None:
        """The scores of `key` for these cases, in this order; None when any of them lacks one."""
        if key not in self.columns:
            return None
        values = self.raw(ids, key)
        return None if np.isnan(values).any() else values


def _score_or_nan(case: CaseRecord, key: str) -> float:
    value = case.scores.get(key)
    return float("nan") if value is None else float(value)


def clusters_of(ids: list[str], records: list[CaseRecord]) -> np.ndarray | None:
    """The cluster codes of these cases (stats.cluster_codes), None when none of them has a cluster."""
    keys = [record.cluster for record in records]
    return stats.cluster_codes(ids, keys) if stats.has_clusters(keys) else None
