"""Latency percentiles, error rate and usage against numpy on random runs."""

from __future__ import annotations

import numpy as np
import pytest

from evalgate.metrics import score_results

from .metricskit import build, only, record


def run(seed: int, n: int = 120, reported: float = 0.8) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        tokens = rng.random() < reported
        rows.append(
            record(
                "ok",
                "ok",
                id=f"r{i}",
                error="TimeoutError" if rng.random() < 0.1 else None,
                latency_ms=float(rng.lognormal(5, 0.7)),
                tokens_in=int(rng.integers(10, 500)) if tokens else None,
                tokens_out=int(rng.integers(1, 200)) if tokens else None,
                cost=float(rng.random() / 1000) if tokens else None,
            )
        )
    return rows


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize(("method", "numpy_method"), [("linear", "linear"), ("nearest_rank", "inverted_cdf")])
def test_latency_equals_numpy(tmp_path, seed, method, numpy_method):
    metrics = build(tmp_path, f"metrics:\n  - latency: {{method: {method}}}\n")
    rows = run(seed)
    overall, _ = score_results(metrics, rows)
    ok = np.array([r["latency_ms"] for r in rows if r["error"] is None])
    for q in (50, 95, 99):
        assert overall[f"latency_p{q}_ms"]["value"] == pytest.approx(
            np.percentile(ok, q, method=numpy_method), abs=1e-9
        )
        assert overall[f"latency_p{q}_ms"]["n"] == len(ok)
    assert overall["latency_mean_ms"]["value"] == pytest.approx(ok.mean(), abs=1e-9)


def test_latency_resampled_equals_aggregate_on_each_resample(tmp_path):
    metric = only(build(tmp_path, "metrics:\n  - latency: {method: nearest_rank}\n"), "latency")
    rows = run(4, n=30)
    rows[0]["error"] = rows[1]["error"] = "x"
    indices = np.random.default_rng(0).integers(0, len(rows), size=(25, len(rows)))
    indices[0] = [0, 1] * 15  # only errored cases: undefined
    fast = metric.resampled(rows, indices)
    for r, row in enumerate(indices):
        for key, value in metric.aggregate([rows[i] for i in row]).items():
            assert fast[key][r] == pytest.approx(np.nan if value is None else value, abs=1e-9, nan_ok=True)


def test_no_latency_gives_none(tmp_path):
    overall, _ = score_results(build(tmp_path, "metrics: [accuracy]\n"), [record("a", "a", error="boom")])
    assert overall["latency_p50_ms"] == {"value": None, "n": 0, "fresh": 0, "measured": False}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_usage_equals_numpy(tmp_path, seed):
    overall, _ = score_results(build(tmp_path, "metrics: [accuracy]\n"), rows := run(seed))
    reported = [r for r in rows if r["tokens_in"] is not None]
    tin = np.array([r["tokens_in"] for r in reported], dtype=float)
    tout = np.array([r["tokens_out"] for r in reported], dtype=float)
    cost = np.array([r["cost"] for r in reported])
    ok = [r for r in reported if r["error"] is None]
    assert overall["tokens_in"]["value"] == tin.sum() and overall["tokens_in"]["n"] == len(reported)
    assert overall["tokens_out"]["value"] == tout.sum()
    assert overall["tokens_in_per_case"]["value"] == pytest.approx(tin.mean(), abs=1e-9)
    assert overall["tokens_out_per_case"]["value"] == pytest.approx(tout.mean(), abs=1e-9)
    rate = sum(r["tokens_out"] for r in ok) / (sum(r["latency_ms"] for r in ok) / 1000)
    assert overall["tokens_per_s"]["value"] == pytest.approx(rate, rel=1e-12)
    assert overall["tokens_per_s"]["n"] == len(ok)
    assert overall["cost_total"]["value"] == pytest.approx(cost.sum(), abs=1e-12)
    assert overall["cost_per_1k_requests"]["value"] == pytest.approx(cost.mean() * 1000, abs=1e-9)


def test_usage_resampled_equals_aggregate_on_each_resample(tmp_path):
    metric = only(build(tmp_path, "metrics: [accuracy]\n"), "usage")
    rows = run(8, n=20, reported=0.5)
    indices = np.random.default_rng(4).integers(0, len(rows), size=(30, len(rows)))
    fast = metric.resampled(rows, indices)
    for r, row in enumerate(indices):
        for key, value in metric.aggregate([rows[i] for i in row]).items():
            assert fast[key][r] == pytest.approx(np.nan if value is None else value, rel=1e-12, nan_ok=True)


def test_error_rate_per_case(tmp_path):
    rows = [
        record("a", "a"),
        record("a", "a", error="RuntimeError: x"),
        record(None, "a", error="aborted: budget"),
    ]
    overall, categories = score_results(build(tmp_path, "metrics: [accuracy]\n"), rows)
    assert [r["scores"]["error_rate"] for r in rows] == [0.0, 1.0, 1.0]
    assert overall["error_rate"]["value"] == pytest.approx(2 / 3)
    assert categories["default"]["error_rate"]["value"] == pytest.approx(2 / 3)
