"""Classification and ranking metrics against scikit-learn on random data (several seeds)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import average_precision_score, precision_recall_fscore_support, roc_auc_score

from evalgate.metrics import score_results

from .metricskit import build, only, record

SEEDS = [0, 1, 2, 3, 4]
CLASSES = ["billing", "bug", "other", "praise"]
NO_LABEL = "\x00no label"


def random_cases(seed: int, n: int = 200) -> list[dict]:
    """Labels with some errors, some predictions outside the classes, mixed output shapes."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        truth = CLASSES[rng.integers(0, 3 if seed % 2 else 4)]  # odd seeds: "praise" never expected
        guess = truth if rng.random() < 0.6 else ([*CLASSES, "spam"])[rng.integers(0, 5)]
        output = {"label": guess} if rng.random() < 0.3 else guess
        error = "TimeoutError: slow" if rng.random() < 0.08 else None
        rows.append(record(output, truth, id=f"c{i}", error=error, category=f"k{i % 3}"))
    return rows


def sklearn_labels(rows: list[dict]) -> tuple[list[str], list[str]]:
    y_true = [r["expected"] for r in rows]
    y_pred = [
        NO_LABEL if r["error"] else (r["output"]["label"] if isinstance(r["output"], dict) else r["output"])
        for r in rows
    ]
    return y_true, y_pred


@pytest.mark.parametrize("seed", SEEDS)
def test_classification_equals_sklearn(tmp_path, seed):
    metrics = build(tmp_path, "metrics: [f1_macro]\n")
    rows = random_cases(seed)
    overall, categories = score_results(metrics, rows)
    for subset, values in [(rows, overall)] + [
        ([r for r in rows if r["category"] == name], categories[name]) for name in categories
    ]:
        y_true, y_pred = sklearn_labels(subset)
        labels = sorted(set(y_true))
        for average in ("macro", "micro", "weighted"):
            p, r, f, _ = precision_recall_fscore_support(
                y_true, y_pred, labels=labels, average=average, zero_division=0
            )
            assert values[f"precision_{average}"]["value"] == pytest.approx(p, abs=1e-9)
            assert values[f"recall_{average}"]["value"] == pytest.approx(r, abs=1e-9)
            assert values[f"f1_{average}"]["value"] == pytest.approx(f, abs=1e-9)
            assert values[f"f1_{average}"]["n"] == len(subset)


@pytest.mark.parametrize("seed", SEEDS[:3])
def test_fixed_labels_and_per_class_keys_equal_sklearn(tmp_path, seed):
    metrics = build(tmp_path, "metrics:\n  - classification: {labels: [billing, bug, other, praise]}\n")
    rows = random_cases(seed)
    overall, _ = score_results(metrics, rows)
    y_true, y_pred = sklearn_labels(rows)
    p, r, f, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=CLASSES, average=None, zero_division=0
    )
    for i, label in enumerate(CLASSES):
        assert overall[f"precision[{label}]"]["value"] == pytest.approx(p[i], abs=1e-9)
        assert overall[f"recall[{label}]"]["value"] == pytest.approx(r[i], abs=1e-9)
        assert overall[f"f1[{label}]"]["value"] == pytest.approx(f[i], abs=1e-9)
    macro = precision_recall_fscore_support(y_true, y_pred, labels=CLASSES, average="macro", zero_division=0)
    assert overall["f1_macro"]["value"] == pytest.approx(macro[2], abs=1e-9)


@pytest.mark.parametrize("fixed", [False, True])
def test_resampled_rows_equal_aggregate_on_the_subsets(tmp_path, fixed):
    option = "  - classification: {labels: [billing, bug, other, praise]}\n" if fixed else "  - f1\n"
    metric = only(build(tmp_path, "metrics:\n" + option), "classification")
    rows = random_cases(7, n=60)
    rows[5]["expected"] = None  # left out
    indices = np.random.default_rng(1).integers(0, len(rows), size=(40, len(rows)))
    y_true, y_pred = sklearn_labels(rows)
    right = [i for i in range(len(rows)) if y_true[i] == y_pred[i]]
    indices[0, :] = right[0]  # a resample holding one class, predicted right
    indices[1, :] = np.array(right)[np.arange(len(rows)) % 3]  # a few cases, fewer classes than the whole set
    fast = metric.resampled(rows, indices)
    for r, row in enumerate(indices):
        slow = metric.aggregate([rows[i] for i in row])
        for key, value in slow.items():
            expected = np.nan if value is None else value
            assert fast[key][r] == pytest.approx(expected, abs=1e-12, nan_ok=True), (key, r)


def test_errored_case_is_wrong_for_its_class(tmp_path):
    metrics = build(tmp_path, "metrics: [f1, accuracy]\n")
    rows = [
        record("a", "a", id="1"),
        record("a", "a", id="2", error="RuntimeError: boom"),
        record("b", "b", id="3"),
    ]
    overall, _ = score_results(metrics, rows)
    assert overall["recall_micro"]["value"] == pytest.approx(2 / 3)
    assert overall["precision_micro"]["value"] == 1.0  # the error predicts no class: no false positive
    assert overall["accuracy"]["value"] == pytest.approx(2 / 3)
    assert rows[1]["scores"]["accuracy"] == 0.0


def test_labels_are_compared_as_strings_consistently(tmp_path):
    metrics = build(tmp_path, "metrics: [accuracy, f1]\n")
    rows = [
        record(1, "1", id="1"),
        record(1.0, 1, id="2"),
        record(True, "true", id="3"),
        record({"label": " no "}, "no", id="4"),
        record(True, 1, id="5"),
        record({"probabilities": {"yes": 0.2, "no": 0.8}}, "no", id="6"),
        record({"probabilities": {"yes": 0.5, "no": 0.5}}, "no", id="7"),
        record({"label": "refund", "confidence": 0.9}, "refund", id="8"),
    ]
    overall, _ = score_results(metrics, rows)
    assert [r["scores"]["accuracy"] for r in rows] == [1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 0.0, 1.0]
    assert overall["accuracy"]["value"] == pytest.approx(6 / 8)


def test_no_cases_gives_none(tmp_path):
    metric = only(build(tmp_path, "metrics: [f1]\n"), "classification")
    assert set(metric.aggregate([]).values()) == {None}


def random_scores(seed: int, n: int = 150) -> list[dict]:
    """Binary targets with tied, rounded scores in the three output shapes, and a few errors."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        y = int(rng.random() < 0.4)
        score = float(np.round(np.clip(rng.normal(0.35 + 0.3 * y, 0.2), 0, 1), 1))  # rounding makes ties
        shape = i % 3
        output = (
            score
            if shape == 0
            else {"score": score}
            if shape == 1
            else {"probabilities": {"0": 1 - score, "1": score}}
        )
        error = "ConnectionError: reset" if rng.random() < 0.05 else None
        rows.append(record(output, y if i % 2 else str(y), id=f"s{i}", error=error))
    return rows


def pessimistic_scores(rows: list[dict]) -> tuple[list[int], list[float]]:
    """sklearn inputs with errored positives at the bottom and errored negatives at the top."""
    y = [int(str(r["expected"]) == "1") for r in rows]
    raw = []
    for r in rows:
        out = r["output"]
        raw.append(
            None
            if r["error"]
            else out
            if isinstance(out, float)
            else out.get("score", out.get("probabilities", {}).get("1"))
        )
    known = [s for s in raw if s is not None]
    low, high = min(known) - 1, max(known) + 1
    return y, [s if s is not None else (low if t else high) for s, t in zip(raw, y, strict=True)]


@pytest.mark.parametrize("seed", SEEDS)
def test_roc_auc_and_average_precision_equal_sklearn(tmp_path, seed):
    metrics = build(tmp_path, "metrics: [roc_auc]\n")
    rows = random_scores(seed)
    overall, _ = score_results(metrics, rows)
    y, s = pessimistic_scores(rows)
    assert overall["roc_auc"]["value"] == pytest.approx(roc_auc_score(y, s), abs=1e-9)
    assert overall["average_precision"]["value"] == pytest.approx(average_precision_score(y, s), abs=1e-9)


def test_ranking_resampled_equals_sklearn_on_each_resample(tmp_path):
    metric = only(build(tmp_path, "metrics: [average_precision]\n"), "ranking")
    rows = random_scores(11, n=50)
    y, s = pessimistic_scores(rows)
    indices = np.random.default_rng(2).integers(0, len(rows), size=(30, len(rows)))
    fast = metric.resampled(rows, indices)
    for r, row in enumerate(indices):
        ys, ss = [y[i] for i in row], [s[i] for i in row]
        assert fast["roc_auc"][r] == pytest.approx(roc_auc_score(ys, ss), abs=1e-9)
        assert fast["average_precision"][r] == pytest.approx(average_precision_score(ys, ss), abs=1e-9)


def test_errors_never_help_ranking(tmp_path):
    metrics = build(tmp_path, "metrics: [roc_auc]\n")
    clean = [record(0.9, 1, id="p"), record(0.1, 0, id="n"), record(0.8, 1, id="p2")]
    overall, _ = score_results(metrics, clean)
    assert overall["roc_auc"]["value"] == 1.0
    clean[1]["error"] = "boom"  # an errored negative ranks above every positive
    overall, _ = score_results(metrics, clean)
    assert overall["roc_auc"]["value"] == 0.0


def test_one_class_gives_none_and_positive_label_option(tmp_path):
    metrics = build(tmp_path, "metrics: [roc_auc]\n")
    overall, _ = score_results(metrics, [record(0.2, 1, id="a"), record(0.7, 1, id="b")])
    assert overall["roc_auc"]["value"] is None
    assert overall["average_precision"]["value"] is None
    metrics = build(tmp_path, "metrics:\n  - roc_auc: {positive_label: spam}\n")
    rows = [
        record({"probabilities": {"spam": 0.9, "ham": 0.1}}, "spam", id="a"),
        record({"probabilities": {"spam": 0.4, "ham": 0.6}}, "ham", id="b"),
        record({"probabilities": {"spam": 0.6, "ham": 0.4}}, "ham", id="c"),
    ]
    overall, _ = score_results(metrics, rows)
    assert overall["roc_auc"]["value"] == pytest.approx(roc_auc_score([1, 0, 0], [0.9, 0.4, 0.6]))


CASE = st.tuples(st.sampled_from("abc"), st.sampled_from("abcd"), st.booleans())


@pytest.mark.slow
@settings(max_examples=60, deadline=None)
@given(st.lists(CASE, min_size=1, max_size=25))
def test_classification_equals_sklearn_on_any_small_set(tmp_path_factory, cases):
    metric = only(build(tmp_path_factory.mktemp("c"), "metrics: [f1]\n"), "classification")
    rows = [record(p, t, id=str(i), error="x" if e else None) for i, (t, p, e) in enumerate(cases)]
    got = metric.aggregate(rows)
    y_true, y_pred = sklearn_labels(rows)
    for average in ("macro", "micro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(
            y_true, y_pred, labels=sorted(set(y_true)), average=average, zero_division=0
        )
        assert (got[f"precision_{average}"], got[f"recall_{average}"], got[f"f1_{average}"]) == pytest.approx(
            (p, r, f), abs=1e-9
        )


@pytest.mark.slow
@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.integers(0, 4)), min_size=2, max_size=25))
def test_ranking_equals_sklearn_on_any_small_set(tmp_path_factory, cases):
    metric = only(build(tmp_path_factory.mktemp("r"), "metrics: [roc_auc]\n"), "ranking")
    rows = [record(s / 4, y, id=str(i)) for i, (y, s) in enumerate(cases)]
    got = metric.aggregate(rows)
    y, s = [c[0] for c in cases], [c[1] / 4 for c in cases]
    if len(set(y)) < 2:
        assert got == {"roc_auc": None, "average_precision": None}
    else:
        assert got["roc_auc"] == pytest.approx(roc_auc_score(y, s), abs=1e-9)
        assert got["average_precision"] == pytest.approx(average_precision_score(y, s), abs=1e-9)
