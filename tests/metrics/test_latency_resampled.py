"""Latency's fast resampled path against numpy's nanpercentile (bit for bit), and aggregates that do not
depend on the order of the cases."""

from __future__ import annotations

import random
import warnings

import numpy as np
import pytest

from evalgate.metrics import score_results
from evalgate.metrics.latency import PERCENTILES

from .metricskit import build, only, record


def latency_rows(seed: int, n: int, error_rate: float) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [
        record(
            "ok",
            "ok",
            id=f"r{i}",
            error="TimeoutError" if rng.random() < error_rate else None,
            latency_ms=float(rng.lognormal(3, 1.2)),
        )
        for i in range(n)
    ]


@pytest.mark.parametrize("method", ["linear", "nearest_rank"])
@pytest.mark.parametrize("error_rate", [0.0, 0.08, 0.9])
def test_resampled_equals_nanpercentile_bit_for_bit(tmp_path, method, error_rate):
    metric = only(build(tmp_path, f"metrics:\n  - latency: {{method: {method}}}\n"), "latency")
    rows = latency_rows(7, 60, error_rate)
    indices = np.random.default_rng(1).integers(0, len(rows), size=(400, len(rows)))
    drawn = metric.encode(rows)[indices]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # rows of errored cases only: NaN
        expected = np.nanpercentile(drawn, PERCENTILES, axis=1, method=metric.method)
        expected_mean = np.nanmean(drawn, axis=1)
    fast = metric.resampled(rows, indices)
    for i, q in enumerate(PERCENTILES):
        np.testing.assert_array_equal(fast[f"latency_p{q}_ms"], expected[i])
    np.testing.assert_allclose(fast["latency_mean_ms"], expected_mean, rtol=1e-13, equal_nan=True)
    if error_rate > 0.5:
        assert np.isnan(fast["latency_p50_ms"]).any()  # some resamples drew errored cases only


def test_shuffled_cases_give_identical_aggregates(tmp_path):
    """Means and totals are exact sums (math.fsum): the recorded values cannot change with the order of the
    cases (latency, exact_match, and usage's cost_total, cost_per_1k_requests and tokens_per_s)."""
    metrics = build(tmp_path, "metrics:\n  - latency\n  - exact_match\n")
    rows = latency_rows(3, 301, 0.05)
    for i, row in enumerate(rows):
        row["latency_ms"] *= 10.0 ** (i % 7 - 3)  # magnitudes from 1e-3 to 1e3: float sums depend on order
        row["cost"] = 0.01 * (1 + i / 7) * 10.0 ** (i % 5 - 2)
        row["tokens_out"] = i
        row["output"] = "ok" if i % 3 else "no"
    overall, categories = score_results(metrics, [dict(row) for row in rows])
    for seed in range(20):
        shuffled = [dict(row) for row in rows]
        random.Random(seed).shuffle(shuffled)
        again, again_categories = score_results(metrics, shuffled)
        assert again == overall  # dict equality of floats: identical to the last bit
        assert again_categories == categories


def test_streaming_keys_resampled_equal_numpy_and_the_rate_is_tokens_over_generation_seconds(tmp_path):
    """latency_ttft_* are the latency percentiles of `ttft_ms`; generation_tokens_per_s sums tokens and the
    seconds after the first token, over streamed cases without error (cases without a ttft are left out)."""
    metric = only(build(tmp_path, "metrics:\n  - streaming\n"), "streaming")
    rng = np.random.default_rng(5)
    rows = latency_rows(11, 80, 0.1)
    for i, row in enumerate(rows):
        row["ttft_ms"] = None if i % 9 == 0 else float(row["latency_ms"] * rng.uniform(0.1, 0.9))
        row["tokens_out"] = int(rng.integers(1, 400))
    indices = np.random.default_rng(2).integers(0, len(rows), size=(300, len(rows)))
    ttft = np.array([np.nan if r["error"] or r["ttft_ms"] is None else r["ttft_ms"] for r in rows])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = np.nanpercentile(ttft[indices], PERCENTILES, axis=1, method="linear")
    fast = metric.resampled(rows, indices)
    for i, q in enumerate(PERCENTILES):
        np.testing.assert_array_equal(fast[f"latency_ttft_p{q}_ms"], expected[i])
    rated = [r for r in rows if r["error"] is None and r["ttft_ms"] is not None]
    tokens = sum(r["tokens_out"] for r in rated)
    seconds = sum((r["latency_ms"] - r["ttft_ms"]) / 1000 for r in rated)
    overall, _ = score_results([metric], [dict(row) for row in rows])
    assert overall["generation_tokens_per_s"]["value"] == pytest.approx(tokens / seconds, rel=1e-12)
    assert overall["generation_tokens_per_s"]["n"] == len(rated)
    assert overall["latency_ttft_p95_ms"]["n"] == len(rated)
    whole = metric.resampled(rows, np.arange(len(rows))[None, :])
    assert whole["generation_tokens_per_s"][0] == pytest.approx(tokens / seconds, rel=1e-12)
