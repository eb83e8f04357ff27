"""score_results: per-case scores, aggregates overall and per category, intervals, errors counted honestly."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from scipy import stats

from evalgate.metrics import prepare_metrics, score_results, summarize

from .metricskit import build, record


def cases() -> list[dict]:
    rng = np.random.default_rng(5)
    rows = []
    for i in range(90):
        category = ["typical", "edge", "adversarial"][i % 3]
        truth = ["yes", "no"][int(rng.integers(0, 2))]
        right = rng.random() < {"typical": 0.9, "edge": 0.6, "adversarial": 0.4}[category]
        error = "TimeoutError: case timed out after 5s" if i % 17 == 0 else None
        rows.append(
            record(
                truth if right else {"yes": "no", "no": "yes"}[truth],
                truth,
                id=f"c{i}",
                category=category,
                error=error,
                latency_ms=float(rng.gamma(2.0, 50.0)),
            )
        )
    return rows


def test_per_category_aggregates_equal_the_aggregate_of_the_category_alone(tmp_path):
    metrics = build(tmp_path, "metrics: [accuracy, f1_macro, rougeL]\n")
    rows = cases()
    overall, categories = score_results(metrics, rows)
    assert sorted(categories) == ["adversarial", "edge", "typical"]
    for name, values in categories.items():
        alone = [dict(r) for r in rows if r["category"] == name]
        assert values == score_results(metrics, alone)[0]
        members = [r for r in rows if r["category"] == name]
        assert values["accuracy"]["value"] == pytest.approx(
            np.mean([r["scores"]["accuracy"] for r in members])
        )
        assert values["accuracy"]["n"] == len(members)
    assert overall["accuracy"]["n"] == len(rows)


def test_errored_cases_fail_and_count_in_error_rate(tmp_path):
    metrics = build(tmp_path, "metrics: [accuracy, exact_match, contains, rouge1]\n")
    rows = cases()
    overall, _ = score_results(metrics, rows)
    errored = [r for r in rows if r["error"]]
    assert errored
    for row in errored:
        assert row["scores"] == {
            "accuracy": 0.0,
            "exact_match": 0.0,
            "contains": 0.0,
            "rouge1": 0.0,
            "error_rate": 1.0,
        }
    assert overall["error_rate"]["value"] == pytest.approx(len(errored) / len(rows))
    assert overall["latency_p50_ms"]["n"] == len(rows) - len(errored)
    ok_latencies = [r["latency_ms"] for r in rows if not r["error"]]
    assert overall["latency_p95_ms"]["value"] == pytest.approx(np.percentile(ok_latencies, 95), abs=1e-9)


def test_binary_interval_is_wilson(tmp_path):
    metrics = build(tmp_path, "metrics: [accuracy]\n")
    rows = cases()
    overall, _ = score_results(metrics, rows)
    k, n = int(sum(r["scores"]["accuracy"] for r in rows)), len(rows)
    wilson = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    entry = overall["accuracy"]
    assert (entry["ci_low"], entry["ci_high"]) == pytest.approx((wilson.low, wilson.high), abs=1e-9)
    assert entry["stderr"] == pytest.approx(np.sqrt(k / n * (1 - k / n) / n), abs=1e-12)
    overall90, _ = score_results(metrics, rows, confidence=0.9)
    wilson90 = stats.binomtest(k, n).proportion_ci(confidence_level=0.9, method="wilson")
    assert overall90["accuracy"]["ci_low"] == pytest.approx(wilson90.low, abs=1e-9)


def test_continuous_interval_is_normal(tmp_path):
    metrics = build(tmp_path, "metrics: [rougeL]\n")
    rows = [
        record(f"the cat sat on {w}", "the cat sat on the mat", id=w) for w in ("the", "a", "mat", "floor")
    ]
    overall, _ = score_results(metrics, rows)
    values = np.array([r["scores"]["rougeL"] for r in rows])
    sem = stats.sem(values)
    low, high = stats.norm.interval(0.95, loc=values.mean(), scale=sem)
    entry = overall["rougeL"]
    assert entry["stderr"] == pytest.approx(sem, abs=1e-12)
    assert (entry["ci_low"], entry["ci_high"]) == pytest.approx((low, high), abs=1e-9)


def test_corpus_keys_have_value_and_n_only(tmp_path):
    overall, _ = score_results(build(tmp_path, "metrics: [f1]\n"), cases())
    assert set(overall["f1_macro"]) == {"value", "n"}
    assert set(overall["error_rate"]) == {"value", "n", "stderr", "ci_low", "ci_high", "interval"}
    assert overall["error_rate"]["interval"] == "wilson"
    assert set(overall["latency_p95_ms"]) == {"value", "n", "fresh", "measured"}  # a timing key


def test_no_usage_reported_gives_none(tmp_path):
    overall, _ = score_results(build(tmp_path, "metrics: [accuracy]\n"), cases())
    assert overall["tokens_in"] == {"value": None, "n": 0}
    assert overall["cost_per_1k_requests"]["value"] is None


def test_scores_are_replaced_not_accumulated(tmp_path):
    metrics = build(tmp_path, "metrics: [accuracy]\n")
    rows = [record("a", "a", scores={"stale": 1.0})]
    score_results(metrics, rows)
    assert rows[0]["scores"] == {"accuracy": 1.0, "error_rate": 0.0}


def test_prepare_metrics_awaits_each_prepare(tmp_path):
    metrics = build(tmp_path, "metrics: [accuracy]\n")
    seen = []

    class Recorder(type(metrics[0])):
        async def prepare(self, records, context):
            await asyncio.sleep(0)
            seen.append((len(records), context))

    recorder = Recorder(metrics[0].options, tmp_path)
    asyncio.run(prepare_metrics([recorder, *metrics[1:]], [record("a", "a")], "ctx"))
    assert seen == [(1, "ctx")]


def test_clustered_cases_get_a_cluster_robust_interval(tmp_path):
    metrics = build(tmp_path, "metrics: [rougeL, accuracy]\n")
    rows = [
        record(text, "the cat sat on the mat", id=str(i), cluster=f"doc{i // 3}" if i < 9 else None)
        for i, text in enumerate(
            ["the cat", "a cat sat", "mat", "the mat", "on the mat", "cat", "x", "the cat sat"] * 2
        )
    ]
    overall, _ = score_results(metrics, rows)
    x = np.array([r["scores"]["rougeL"] for r in rows])
    units = [r["cluster"] or r["id"] for r in rows]
    sums = np.array(
        [sum(x[i] - x.mean() for i in range(len(x)) if units[i] == u) for u in dict.fromkeys(units)]
    )
    g, n = len(sums), len(x)
    stderr = np.sqrt(g / (g - 1) * np.sum(sums**2)) / n
    entry = overall["rougeL"]
    assert entry["interval"] == "cluster"
    assert entry["stderr"] == pytest.approx(stderr, rel=1e-12)
    z = stats.norm.ppf(0.975)
    assert (entry["ci_low"], entry["ci_high"]) == pytest.approx(
        (x.mean() - z * stderr, x.mean() + z * stderr)
    )
    assert overall["accuracy"]["interval"] == "cluster"


def test_clusters_of_one_case_give_the_plain_standard_error(tmp_path):
    metrics = build(tmp_path, "metrics: [rougeL]\n")
    texts = ["the cat", "a cat sat", "mat", "the mat", "on the mat"]
    plain = [record(t, "the cat sat on the mat", id=str(i)) for i, t in enumerate(texts)]
    single = [record(t, "the cat sat on the mat", id=str(i), cluster=str(i)) for i, t in enumerate(texts)]
    a, _ = score_results(metrics, plain)
    b, _ = score_results(metrics, single)
    assert b["rougeL"]["stderr"] == pytest.approx(a["rougeL"]["stderr"], rel=1e-12)


def test_summarize_reads_merged_scores_and_skips_missing_ones(tmp_path):
    """Repeated runs merged into one case (mean scores, None where no run scored) aggregate as they stand."""
    metrics = build(tmp_path, "metrics: [accuracy]\n")
    rows = [
        record("a", "a", id="1", scores={"accuracy": 0.5, "error_rate": 0.0}),
        record("a", "a", id="2", scores={"accuracy": 1.0, "error_rate": 0.0}),
        record("a", "a", id="3", scores={"accuracy": None, "error_rate": 1.0}),
    ]
    overall = summarize(metrics, rows)
    assert overall["accuracy"]["value"] == 0.75 and overall["accuracy"]["n"] == 2
    assert overall["error_rate"]["value"] == pytest.approx(1 / 3)
