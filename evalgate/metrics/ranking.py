"""Ranking quality of score outputs for a binary target: roc_auc and average_precision.

Equal to `sklearn.metrics.roc_auc_score` and `average_precision_score` (ties included): ROC AUC is the
Mann-Whitney probability that a positive outranks a negative (a tie counts one half); average precision is
sum over distinct score thresholds of (recall step) x precision. Both are None when the cases hold one class.

A case's score is its output when that is a number, else `output["score"]`, else
`output["probabilities"][positive label]`. A case whose score is missing (an error, or an output without a
score) gets the worst score for its class: below every score when it is positive, above every score when it
is negative, so errors never help. Cases without an expected value are left out.

Fast path: `resampled(records, indices)` weights each case by how often a resample draws it and computes
both keys from per-tie-group weighted counts (one pass over the cases sorted by score, for all resamples).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from evalgate.facts import KeyFacts
from evalgate.metrics.base import CaseRecord, MetricKey, ResampledMetric, resample_counts
from evalgate.metrics.values import as_label, as_number, has_expected
from evalgate.options import Option

DEFAULT_POSITIVES = frozenset({"1", "true"})


class ScoreRanking(ResampledMetric):
    family = "ranking"
    FACTS = (KeyFacts("roc_auc", "score"), KeyFacts("average_precision", "score"))
    OPTIONS: ClassVar[dict[str, Option]] = {
        "positive_label": Option(
            (str, int, bool), help="the expected value of the positive class (default: 1 or true)"
        ),
    }

    def __init__(self, options: dict[str, Any], base_dir: Any) -> None:
        super().__init__(options, base_dir)
        positive = options["positive_label"]
        self.positives = DEFAULT_POSITIVES if positive is None else frozenset({as_label(positive)})

    def keys(self) -> list[MetricKey]:
        return [
            self.declared_key(
                "roc_auc",
                "corpus",
                "area under the ROC curve of the output score (0.5 = chance, 1 = perfect)",
            ),
            self.declared_key(
                "average_precision",
                "corpus",
                "area under the precision-recall curve of the output score (sklearn average_precision_score)",
            ),
        ]

    def score_of(self, record: CaseRecord) -> float | None:
        """The case's score for the positive class, or None when it has none."""
        if record.get("error") is not None:
            return None
        output = record.get("output")
        number = as_number(output)
        if number is not None or not isinstance(output, dict):
            return number
        if "score" in output:
            return as_number(output["score"])
        probabilities = output.get("probabilities")
        if isinstance(probabilities, dict):
            for label, probability in probabilities.items():
                if as_label(label) in self.positives:
                    return as_number(probability)
        return None

    def encode(self, records: list[CaseRecord]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per case: is it positive, is it used (has an expected value), its score (worst when missing)."""
        used = np.array([has_expected(r) for r in records], dtype=bool)
        positive = (
            np.array([as_label(r.get("expected")) in self.positives for r in records], dtype=bool) & used
        )
        raw = [self.score_of(r) for r in records]
        known = [s for s, u in zip(raw, used, strict=True) if s is not None and u]
        low, high = (min(known) - 1.0, max(known) + 1.0) if known else (0.0, 1.0)
        scores = np.array(
            [s if s is not None else (low if p else high) for s, p in zip(raw, positive, strict=True)],
            dtype=np.float64,
        )
        return positive, used, scores

    def sizes_runs(self, records: list[CaseRecord]) -> dict[str, int]:
        n = sum(has_expected(record) for record in records)
        return {key.name: n for key in self.keys()}

    def resample(
        self, encoded: tuple[np.ndarray, np.ndarray, np.ndarray], indices: np.ndarray
    ) -> dict[str, np.ndarray]:
        positive, used, scores = encoded
        weights = resample_counts(indices, len(scores)) * used
        if not len(scores):
            nothing = np.full(weights.shape[0], np.nan)
            return {"roc_auc": nothing, "average_precision": nothing.copy()}
        order = np.argsort(-scores, kind="stable")  # highest score first
        sorted_scores = scores[order]
        starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
        w = weights[:, order].astype(np.float64)
        pos = np.add.reduceat(w * positive[order], starts, axis=1)  # weighted positives per tie group
        neg = np.add.reduceat(w * ~positive[order], starts, axis=1)
        total_pos, total_neg = pos.sum(axis=1), neg.sum(axis=1)
        defined = (total_pos > 0) & (total_neg > 0)
        # ROC AUC: each positive beats the negatives of lower groups and ties half of its own group's
        neg_below = total_neg[:, None] - np.cumsum(neg, axis=1)
        auc_num = (pos * (neg_below + 0.5 * neg)).sum(axis=1)
        auc = np.divide(auc_num, total_pos * total_neg, out=np.full(len(pos), np.nan), where=defined)
        # average precision: precision at each threshold, weighted by the recall it adds
        tp, fp = np.cumsum(pos, axis=1), np.cumsum(neg, axis=1)
        precision = np.divide(tp, tp + fp, out=np.zeros_like(tp), where=(tp + fp) > 0)
        ap_num = (pos * precision).sum(axis=1)
        ap = np.divide(ap_num, total_pos, out=np.full(len(pos), np.nan), where=defined)
        return {"roc_auc": auc, "average_precision": ap}
