"""Every published vector in reference-vectors.json, through evalgate's metrics."""

from __future__ import annotations

import numpy as np
import pytest

from evalgate.metrics import score_results

from .metricskit import build, only, record


def test_rouge_vectors(tmp_path, vectors):
    for case in vectors["rouge"]["cases"]:
        stem = "true" if case["stemmer"] else "false"
        metrics = build(tmp_path, f"metrics:\n  - {case['type']}: {{use_stemmer: {stem}}}\n")
        rows = [record(case["prediction"], case["target"])]
        overall, _ = score_results(metrics, rows)
        assert overall[case["type"]]["value"] == pytest.approx(case["prf"][2], abs=1e-12), case
        assert rows[0]["scores"][case["type"]] == pytest.approx(case["prf"][2], abs=1e-12)


def test_bleu_and_chrf_vectors(tmp_path, vectors):
    data = vectors["bleu_chrf"]
    streams = data["references"]
    rows = [
        record(hyp, [stream[i] for stream in streams], id=str(i)) for i, hyp in enumerate(data["hypotheses"])
    ]
    overall, _ = score_results(build(tmp_path, "metrics: [bleu, chrf]\n"), rows)
    assert overall["bleu"]["value"] == pytest.approx(data["corpus_bleu"], abs=1e-9)
    assert overall["chrf"]["value"] == pytest.approx(data["corpus_chrf"], abs=1e-9)
    assert overall["bleu"]["n"] == 3


def test_roc_auc_and_average_precision_vectors(tmp_path, vectors):
    metrics = build(tmp_path, "metrics: [roc_auc]\n")
    for case in vectors["classification"]["roc_auc"]:
        rows = [
            record(s, y, id=str(i))
            for i, (y, s) in enumerate(zip(case["y_true"], case["y_score"], strict=True))
        ]
        overall, _ = score_results(metrics, rows)
        assert overall["roc_auc"]["value"] == pytest.approx(case["roc_auc"], abs=1e-12)
        if "average_precision" in case:
            assert overall["average_precision"]["value"] == pytest.approx(
                case["average_precision"], abs=1e-12
            )


def test_f1_vector(tmp_path, vectors):
    case = vectors["classification"]["f1"]
    metrics = build(tmp_path, "metrics:\n  - classification: {labels: [0, 1, 2]}\n")
    rows = [
        record(p, t, id=str(i)) for i, (t, p) in enumerate(zip(case["y_true"], case["y_pred"], strict=True))
    ]
    overall, _ = score_results(metrics, rows)
    for average in ("macro", "micro", "weighted"):
        assert overall[f"f1_{average}"]["value"] == pytest.approx(case[average], abs=1e-12)
    for label, value in enumerate(case["per_class"]):
        assert overall[f"f1[{label}]"]["value"] == pytest.approx(value, abs=1e-12)


def test_percentile_vectors(tmp_path, vectors):
    data = vectors["percentiles"]
    linear = only(build(tmp_path, "metrics: [latency]\n"), "latency")
    rows = [record("x", latency_ms=float(v), id=str(v)) for v in range(1, 11)]
    assert linear.aggregate(rows)["latency_p95_ms"] == pytest.approx(data["linear_p95_of_1_to_10"], abs=1e-12)
    nearest = only(build(tmp_path, "metrics:\n  - latency: {method: nearest_rank}\n"), "latency")
    for case in data["nearest_rank"]:
        rows = [record("x", latency_ms=float(v), id=str(i)) for i, v in enumerate(case["data"])]
        values = nearest.encode(rows)
        # the metric's own percentile method, at every q of the vector
        got = np.percentile(values, case["q"], method=nearest.method)
        assert list(got) == case["values"]
        for q, expected in zip(case["q"], case["values"], strict=True):
            if q in (50, 95, 99):
                assert nearest.aggregate(rows)[f"latency_p{q}_ms"] == expected
