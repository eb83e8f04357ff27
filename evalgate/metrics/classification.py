"""Classification: precision, recall and F1, macro / micro / weighted averaged and per class.

Equal to `sklearn.metrics.precision_recall_fscore_support(y_true, y_pred, labels=L, average=...,
zero_division=0)` where y_true and y_pred are the expected and predicted labels as strings
(`evalgate.metrics.values.as_label`) and L is:
- the `labels` option when given (then per-class keys `precision[L]`, `recall[L]`, `f1[L]` are written too);
- otherwise the sorted classes found in the expected values of the cases aggregated (overall, or one
  category).
An errored case, or a prediction outside L, predicts "no label": wrong for its true class (a false negative)
and a false positive for no class. Cases without an expected value are left out.

Fast path for the statistics: `resampled(records, indices)` builds one confusion matrix per resample with a
single `np.bincount` over (true, predicted) pair codes and computes every key from those counts; row r equals
`aggregate([records[i] for i in indices[r]])`.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from evalgate.facts import KeyFacts
from evalgate.metrics.base import CaseRecord, MetricKey, ResampledMetric
from evalgate.metrics.values import as_label, has_expected
from evalgate.options import Option

STATISTICS = ("precision", "recall", "f1")
AVERAGES = ("macro", "micro", "weighted")
_DESCRIPTIONS = {
    "precision": "of the cases predicted as a class, the fraction truly of it",
    "recall": "of the cases of a class, the fraction predicted as it",
    "f1": "harmonic mean of precision and recall",
}
_AVERAGING = {
    "macro": "unweighted mean over classes",
    "micro": "from the counts summed over classes",
    "weighted": "mean over classes weighted by their number of cases",
}


def _check_labels(value: list[Any]) -> str | None:
    if not value:
        return "must list at least one class"
    labels = [as_label(item) for item in value]
    return "must not repeat a class" if len(set(labels)) != len(labels) else None


class Classification(ResampledMetric):
    family = "classification"
    ALIASES = STATISTICS
    FACTS = (
        *(KeyFacts(f"{stat}_{average}", "score") for stat in STATISTICS for average in AVERAGES),
        KeyFacts("{statistic}[{label}]", "score"),
    )
    OPTIONS: ClassVar[dict[str, Option]] = {
        "labels": Option(
            (list,), check=_check_labels, help="the classes (default: those found in the expected values)"
        ),
        "ignore_case": Option((bool,), default=False, help="compare labels case-insensitively"),
    }

    def __init__(self, options: dict[str, Any], base_dir: Any) -> None:
        super().__init__(options, base_dir)
        self.labels = [self._label(item) for item in options["labels"]] if options["labels"] else None

    def _label(self, value: Any) -> str:
        label = as_label(value)
        return label.casefold() if self.options["ignore_case"] else label

    def keys(self) -> list[MetricKey]:
        keys = [
            self.declared_key(
                f"{stat}_{average}", "corpus", f"{stat}: {_DESCRIPTIONS[stat]}; {_AVERAGING[average]}"
            )
            for stat in STATISTICS
            for average in AVERAGES
        ]
        for label in self.labels or []:
            keys += [
                self.declared_key(
                    f"{stat}[{label}]", "corpus", f"{stat} of class {label!r}: {_DESCRIPTIONS[stat]}"
                )
                for stat in STATISTICS
            ]
        return keys

    def encode(self, records: list[CaseRecord]) -> tuple[list[str], np.ndarray, np.ndarray]:
        """The label set, and per case the index of its true and its predicted class.

        A label outside the set has index K (= len(labels)); a case without expected value has true index -1.
        """
        truths = [self._label(r["expected"]) if has_expected(r) else None for r in records]
        labels = self.labels or sorted({t for t in truths if t is not None})
        index = {label: i for i, label in enumerate(labels)}
        outside = len(labels)
        true = np.array([-1 if t is None else index.get(t, outside) for t in truths], dtype=np.int64)
        predicted = np.array(
            [
                outside if r.get("error") is not None else index.get(self._label(r.get("output")), outside)
                for r in records
            ],
            dtype=np.int64,
        )
        return labels, true, predicted

    def sizes_runs(self, records: list[CaseRecord]) -> dict[str, int]:
        n = sum(has_expected(record) for record in records)
        return {key.name: n for key in self.keys()}

    def resample(
        self, encoded: tuple[list[str], np.ndarray, np.ndarray], indices: np.ndarray
    ) -> dict[str, np.ndarray]:
        labels, true, predicted = encoded
        k = len(labels)
        side = k + 1
        # pair code of each case; cases without expected go to an extra bin that is dropped
        codes = np.where(true >= 0, true * side + predicted, side * side)
        indices = np.asarray(indices, dtype=np.int64)
        rows = indices.shape[0]
        width = side * side + 1
        flat = (codes[indices] + np.arange(rows, dtype=np.int64)[:, None] * width).ravel()
        confusion = (
            np.bincount(flat, minlength=rows * width).reshape(rows, width)[:, :-1].reshape(rows, side, side)
        )
        return self.from_confusion(labels, confusion.astype(np.float64))

    def from_confusion(self, labels: list[str], confusion: np.ndarray) -> dict[str, np.ndarray]:
        """Every key from confusion matrices (resamples, K+1, K+1): [true, predicted], index K = outside."""
        k = len(labels)
        tp = np.diagonal(confusion, axis1=1, axis2=2)[:, :k]
        predicted = confusion.sum(axis=1)[:, :k]
        support = confusion.sum(axis=2)[:, :k]
        # the label set: fixed, or the classes present in the expected values of each resample
        in_set = np.ones_like(support, dtype=bool) if self.labels else support > 0
        per_class = {
            "precision": _ratio(tp, predicted),
            "recall": _ratio(tp, support),
            "f1": _ratio(2 * tp, predicted + support),
        }
        tp_sum = (tp * in_set).sum(axis=1)
        predicted_sum = (predicted * in_set).sum(axis=1)
        support_sum = support.sum(axis=1)
        micro = {
            "precision": _ratio(tp_sum, predicted_sum),
            "recall": _ratio(tp_sum, support_sum),
            "f1": _ratio(2 * tp_sum, predicted_sum + support_sum),
        }
        n_labels = in_set.sum(axis=1)
        empty = (n_labels == 0) | (confusion.sum(axis=(1, 2)) == 0)
        result: dict[str, np.ndarray] = {}
        for stat, values in per_class.items():
            macro = (values * in_set).sum(axis=1) / np.maximum(n_labels, 1)
            weighted = _ratio((values * support).sum(axis=1), support_sum)
            for average, value in (("macro", macro), ("micro", micro[stat]), ("weighted", weighted)):
                result[f"{stat}_{average}"] = np.where(empty, np.nan, value)
            if self.labels:
                for i, label in enumerate(labels):
                    result[f"{stat}[{label}]"] = values[:, i]
        return result


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, 0 where the denominator is 0 (scikit-learn's zero_division=0)."""
    return np.divide(
        numerator, denominator, out=np.zeros_like(numerator, dtype=np.float64), where=denominator > 0
    )
