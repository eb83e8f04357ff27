"""Corpus metrics of repeated cases: computed over every run, and a resampled case brings all its runs."""

from __future__ import annotations

import numpy as np
import pytest

from evalgate.metrics.base import expand_runs, timing_measured
from evalgate.results import merge_repeats

from .metricskit import build, only, record


def repeated_cases(seed: int, n: int, runs: list[int]) -> list[dict]:
    """n cases, case i run runs[i % len(runs)] times, merged as the pipeline merges them."""
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(n):
        k = runs[i % len(runs)]
        truth = ["a", "b", "c"][i % 3]
        records = [
            record(
                str(rng.choice(["a", "b", "c"])),
                truth,
                id=f"c{i}",
                error="boom" if rng.random() < 0.1 else None,
                latency_ms=float(rng.lognormal(4, 0.6)),
                tokens_in=int(rng.integers(5, 50)),
                tokens_out=int(rng.integers(1, 30)),
                cost=float(rng.random() / 1000),
                cached=bool(rng.random() < 0.3),
                scores={"accuracy": 0.0},
            )
            for _ in range(k)
        ]
        cases.append(merge_repeats(records))
    return cases


@pytest.mark.parametrize("runs", [[3], [1, 2, 4]], ids=["K=3", "K varies"])
@pytest.mark.parametrize("family", ["latency", "usage", "classification"])
def test_a_resample_of_cases_equals_the_aggregate_of_their_runs(tmp_path, family, runs):
    metric = only(build(tmp_path, "metrics: [f1]\n"), family)
    cases = repeated_cases(7, 40, runs)
    indices = np.random.default_rng(1).integers(0, len(cases), size=(25, len(cases)))
    fast = metric.resampled(cases, indices)
    for row, drawn in enumerate(indices):
        expected = metric.aggregate_runs(expand_runs([cases[i] for i in drawn]))
        for key, value in expected.items():
            assert fast[key][row] == pytest.approx(np.nan if value is None else value, rel=1e-9, nan_ok=True)
    whole = metric.aggregate(cases)  # every run of every case
    assert whole == pytest.approx(metric.aggregate_runs(expand_runs(cases)), nan_ok=True)
    sizes = metric.sizes(cases)
    assert max(sizes.values()) <= sum(len(case.get("repeats") or [case]) for case in cases)


def test_usage_and_latency_count_every_run_and_which_were_fresh(tmp_path):
    metrics = build(tmp_path, "metrics: [accuracy]\n")
    cases = repeated_cases(3, 30, [3])
    runs = expand_runs(cases)
    usage, latency = only(metrics, "usage"), only(metrics, "latency")
    assert usage.aggregate(cases)["tokens_in"] == sum(run["tokens_in"] for run in runs)
    assert sum(case["tokens_in"] for case in cases) == sum(run["tokens_in"] for run in runs)  # case totals
    timed = [run for run in runs if run["error"] is None]
    fresh = [run for run in timed if not run["cached"]]
    assert latency.sizes(cases)["latency_p95_ms"] == len(timed)
    assert latency.fresh_sizes(cases) == dict.fromkeys(
        ("latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "latency_mean_ms"), len(fresh)
    )
    assert latency.aggregate(cases)["latency_mean_ms"] == pytest.approx(
        np.mean([run["latency_ms"] for run in timed])
    )


@pytest.mark.parametrize(
    ("n", "fresh", "measured"), [(0, 0, False), (10, 0, False), (10, 4, False), (10, 5, True), (1, 1, True)]
)
def test_a_timing_is_measured_when_at_least_half_its_values_are_fresh(n, fresh, measured):
    assert timing_measured(n, fresh) is measured


@pytest.mark.parametrize("cached_share", [0.0, 0.3], ids=["all fresh", "some cached"])
@pytest.mark.parametrize("runs", [[1], [1, 2, 4]], ids=["once", "K varies"])
def test_a_summary_is_the_aggregate_the_sizes_and_the_fresh_sizes(tmp_path, runs, cached_share):
    """`summary` reads each family's runs once (latency, usage and streaming read both their values and their
    sizes from one encoding; no second count when no run was cached): what it returns is what the three give."""
    suite = "metrics: [f1, streaming, exact_match]\n"
    cases = repeated_cases(11, 60, runs)
    rng = np.random.default_rng(5)
    for run in (run for case in cases for run in case.get("repeats") or [case]):
        run["cached"] = bool(rng.random() < cached_share)
        run["ttft_ms"] = None if rng.random() < 0.2 else float(rng.uniform(1, 20))
    for case in cases:
        case["scores"] = {"exact_match": 1.0, "accuracy": 0.0, "error_rate": 0.0}
    for metric in build(tmp_path, suite):
        aggregates, sizes, fresh = metric.summary(cases)
        assert aggregates == pytest.approx(metric.aggregate(cases), nan_ok=True), metric.family
        assert sizes == metric.sizes(cases), metric.family
        assert fresh == metric.fresh_sizes(cases), metric.family
        assert min(sizes.values()) > 0, metric.family  # every key has values to count
        if metric.family in {"latency", "usage", "streaming"} and cached_share:
            assert fresh != sizes  # the cached runs are not counted as timed now
