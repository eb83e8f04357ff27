"""compare(): pairing by id, paired statistics of each kind of metric, signatures, quarantine, case lists."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from gatekit import make_config, make_results, rule, scored_results
from scipy import stats as sps

from evalgate import stats
from evalgate.errors import InputError
from evalgate.metrics.base import Metric, MetricKey
from evalgate.metrics.latency import Latency
from tests.gatekit import compare


class MedianLatency(Metric):
    """A corpus metric (not a mean): the median latency, lower is better."""

    family = "median_latency"

    def keys(self):
        return [MetricKey("latency_median_ms", "corpus", higher_is_better=False)]

    def aggregate(self, records):
        values = [r["latency_ms"] for r in records if r.get("error") is None]
        return {"latency_median_ms": float(np.median(values)) if values else None}


class VectorizedMedianLatency(MedianLatency):
    def resampled(self, records, indices):
        latencies = np.array([r["latency_ms"] for r in records])
        return {"latency_median_ms": np.median(latencies[indices], axis=1)}


def _flips(n: int, worse: int, better: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    base = (rng.random(n) < 0.8).astype(float)
    cur = base.copy()
    passing, failing = np.flatnonzero(base == 1), np.flatnonzero(base == 0)
    cur[passing[:worse]] = 0
    cur[failing[:better]] = 1
    return base, cur


def test_binary_metric_uses_exact_mcnemar_on_the_paired_cases():
    base, cur = _flips(300, worse=15, better=5)
    config = make_config([rule("accuracy", max_drop=0.02)])
    comparison = compare(make_results({"accuracy": cur}), make_results({"accuracy": base}), config)
    item = comparison.metric("accuracy")
    assert item.method == "mcnemar_exact"
    assert item.discordant == {"worse": 15, "better": 5}
    assert item.delta == pytest.approx(-10 / 300)
    assert item.current == pytest.approx(cur.mean()) and item.baseline == pytest.approx(base.mean())
    assert item.p_value == pytest.approx(sps.binomtest(15, 20, 0.5, alternative="greater").pvalue, abs=1e-12)
    assert item.p_adjusted == pytest.approx(item.p_value)  # the only metric with a drop rule
    assert item.margin == 0.02 and item.mde is not None and item.mde_gate > item.mde
    assert comparison.paired == 300 and comparison.added == [] and comparison.removed == []


def test_cases_are_paired_by_id_and_added_and_removed_are_listed():
    base, cur = _flips(100, worse=0, better=0)
    ids = [f"c-{i:05d}" for i in range(100)]
    current = make_results({"accuracy": [*cur[:99].tolist(), 0.0]}, ids=[*ids[1:], "c-new"])
    baseline = make_results({"accuracy": base}, ids=ids)
    comparison = compare(current, baseline, make_config([rule("accuracy", max_drop=0.05)]))
    assert comparison.added == ["c-new"]
    assert comparison.removed == ["c-00000"]
    assert comparison.paired == 99
    assert comparison.metric("accuracy").n == 99


def test_continuous_metric_gets_a_seeded_paired_bootstrap():
    rng = np.random.default_rng(1)
    base = rng.random(400)
    cur = base - 0.03 + rng.normal(0, 0.05, 400)
    kinds = {"rougeL": ("continuous", True)}
    config = make_config([rule("rougeL", max_drop=0.01)], resamples=4000)
    current, baseline = (
        make_results({"rougeL": cur}, kinds=kinds),
        make_results({"rougeL": base}, kinds=kinds),
    )
    item = compare(current, baseline, config).metric("rougeL")
    assert item.method == "bootstrap"
    assert item.delta == pytest.approx(np.mean(cur - base))
    assert item.ci_low < item.delta < item.ci_high
    se = np.std(cur - base, ddof=1) / np.sqrt(400)
    assert item.se == pytest.approx(se, rel=0.06)
    assert item.p_value == pytest.approx(1 / 4001)  # far beyond every resample
    again = compare(copy.deepcopy(current), copy.deepcopy(baseline), config).metric("rougeL")
    assert (again.ci_low, again.ci_high, again.p_value) == (item.ci_low, item.ci_high, item.p_value)


def test_binary_scores_that_are_means_of_repeats_are_bootstrapped():
    base = np.array([1.0, 2 / 3, 1 / 3, 0.0] * 25)
    cur = np.array([2 / 3, 2 / 3, 0.0, 0.0] * 25)
    comparison = compare(make_results({"accuracy": cur}), make_results({"accuracy": base}), make_config())
    assert comparison.metric("accuracy").method == "bootstrap"


def test_shared_clusters_switch_to_the_cluster_bootstrap():
    base, cur = _flips(200, worse=20, better=4)
    clusters = [f"doc-{i // 10}" for i in range(200)]
    config = make_config([rule("accuracy", max_drop=0.02)], resamples=2000)
    clustered = compare(
        make_results({"accuracy": cur}, clusters=clusters),
        make_results({"accuracy": base}, clusters=clusters),
        config,
    ).metric("accuracy")
    assert clustered.method == "cluster_bootstrap"
    assert clustered.delta == pytest.approx(-16 / 200)


def test_corpus_metric_resamples_case_indices_with_or_without_a_vectorized_path():
    rng = np.random.default_rng(5)
    base = make_results({"accuracy": np.ones(120)})
    cur = make_results({"accuracy": np.ones(120)})
    for case, latency in zip(base["cases"], rng.normal(200, 20, 120), strict=True):
        case["latency_ms"] = float(latency)
    for case, before in zip(cur["cases"], base["cases"], strict=True):
        case["latency_ms"] = before["latency_ms"] + 15.0 + float(rng.normal(0, 5))
    for results in (base, cur):
        results["metric_keys"]["latency_median_ms"] = {"kind": "corpus", "higher_is_better": False}
        results["metrics"]["latency_median_ms"] = {
            "value": float(np.median([c["latency_ms"] for c in results["cases"]])),
            "n": 120,
        }
    config = make_config([rule("latency_median_ms", max_drop=5.0)], resamples=500)
    slow = compare(cur, base, config, metrics=[MedianLatency({}, None)]).metric("latency_median_ms")
    fast = compare(cur, base, config, metrics=[VectorizedMedianLatency({}, None)]).metric("latency_median_ms")
    assert slow.method == fast.method == "index_bootstrap"
    assert (slow.ci_low, slow.ci_high, slow.p_value) == pytest.approx(
        (fast.ci_low, fast.ci_high, fast.p_value)
    )
    assert slow.delta == pytest.approx(
        np.median([c["latency_ms"] for c in cur["cases"]])
        - np.median([c["latency_ms"] for c in base["cases"]])
    )
    assert slow.p_value < 0.01  # latency rose: worse for a lower-is-better metric
    assert slow.ci_low > 0


def test_a_corpus_metric_without_its_metric_object_is_compared_by_value_only():
    base, cur = make_results({"accuracy": np.ones(20)}), make_results({"accuracy": np.ones(20)})
    for results, value in ((base, 0.8), (cur, 0.7)):
        results["metric_keys"]["f1_macro"] = {"kind": "corpus", "higher_is_better": True}
        results["metrics"]["f1_macro"] = {"value": value, "n": 20}
    item = compare(cur, base, make_config([rule("f1_macro", max_drop=0.05)]), metrics=[]).metric("f1_macro")
    assert item.delta == pytest.approx(-0.1)
    assert item.p_value is None and "no per-case scores" in item.note


def test_holm_is_applied_across_the_metrics_with_a_drop_rule():
    base, cur = _flips(300, worse=15, better=5)
    other_base, other_cur = _flips(300, worse=9, better=3, seed=1)
    config = make_config(
        [rule("accuracy", max_drop=0.02), rule("exact", max_drop=0.02), rule("other", min=0.1)]
    )
    comparison = compare(
        make_results({"accuracy": cur, "exact": other_cur, "other": cur}),
        make_results({"accuracy": base, "exact": other_base, "other": base}),
        config,
    )
    gated = [comparison.metric("accuracy"), comparison.metric("exact")]
    assert [m.p_adjusted for m in gated] == pytest.approx(stats.holm([m.p_value for m in gated]))
    assert comparison.metric("other").p_adjusted is None  # min only: not in the family


def test_signature_mismatch_warns_with_the_differences():
    base, cur = _flips(50, 0, 0)
    baseline = make_results({"accuracy": base})
    current = make_results({"accuracy": cur})
    current["signature"]["datasets"] = "sha256:other"
    current["signature"]["provider"] = "python:new-model"
    comparison = compare(current, baseline, make_config())
    assert not comparison.signature_match
    fields = {d["field"]: d for d in comparison.signature_diff}
    assert fields["datasets"]["affects_comparison"] and fields["datasets"]["baseline"] == "sha256:d"
    assert not fields["provider"]["affects_comparison"]
    assert any("datasets" in w for w in comparison.warnings)


def test_a_changed_provider_alone_is_what_a_pull_request_tests():
    base, cur = _flips(50, 0, 0)
    current = make_results({"accuracy": cur})
    current["signature"]["provider"] = "python:new-model"
    assert compare(current, make_results({"accuracy": base}), make_config()).signature_match


def test_signature_mismatch_refuses_when_configured():
    base, cur = _flips(50, 0, 0)
    current = make_results({"accuracy": cur})
    current["signature"]["metrics"] = "sha256:changed"
    with pytest.raises(InputError) as error:
        compare(
            current,
            make_results({"accuracy": base}),
            make_config(signature_mismatch="fail"),
            baseline_path="baseline.json",
        )
    assert error.value.file == "baseline.json"
    assert "metrics" in error.value.message and "sha256:changed" in error.value.message


def test_repeated_ids_are_bad_input():
    results = make_results({"accuracy": [1.0, 0.0]}, ids=["a", "a"])
    with pytest.raises(InputError, match="appears twice"):
        compare(results, None, make_config())


def test_quarantined_cases_are_left_out_and_values_recomputed():
    base = make_results({"accuracy": [1.0, 1.0, 1.0, 1.0]}, ids=["a", "b", "c", "flaky"])
    cur = make_results({"accuracy": [1.0, 1.0, 1.0, 0.0]}, ids=["a", "b", "c", "flaky"])
    comparison = compare(cur, base, make_config([rule("accuracy", min=0.9)], quarantine=["flaky"]))
    item = comparison.metric("accuracy")
    assert item.current == 1.0 and item.delta == 0.0 and comparison.paired == 3
    assert comparison.quarantined == ["flaky"]
    assert comparison.regressed == []


def test_regressed_cases_list_pass_to_fail_with_both_outputs():
    base = make_results({"accuracy": [1.0, 1.0, 0.0, 1.0]}, ids=["a", "b", "c", "d"])
    cur = make_results({"accuracy": [0.0, 1.0, 1.0, 1.0]}, ids=["a", "b", "c", "d"])
    cur["cases"][0]["output"] = "wrong"
    comparison = compare(cur, base, make_config([rule("accuracy", max_drop=0.1)]))
    assert [(r["id"], r["baseline"], r["current"]) for r in comparison.regressed] == [("a", 1.0, 0.0)]
    assert comparison.regressed[0]["output"] == "wrong" and comparison.regressed[0]["baseline_output"] == "a"
    assert comparison.regressed_total == 1


def test_without_a_baseline_failing_and_errored_cases_are_listed():
    cur = make_results({"accuracy": [1.0, 0.0, 0.0]}, ids=["a", "b", "c"], errors=[None, None, "timeout"])
    comparison = compare(cur, None, make_config([rule("accuracy", min=0.5)]))
    assert not comparison.has_baseline
    assert [(f["id"], f["metric"]) for f in comparison.failing] == [("c", None), ("b", "accuracy")]
    assert comparison.failing[0]["error"] == "timeout"
    assert comparison.error_rate == pytest.approx(1 / 3) and comparison.errors == 1
    assert any("no baseline" in w for w in comparison.warnings)


def test_flaky_cases_have_a_pass_rate_strictly_between_zero_and_one():
    cur = make_results({"accuracy": [2 / 3, 1.0, 0.0]}, ids=["a", "b", "c"])
    runs = {"a": [1.0, 0.0, 1.0], "b": [1.0, 1.0, 1.0], "c": [0.0, 0.0, 0.0]}
    for case in cur["cases"]:
        case["repeats"] = [
            {"output": "x", "error": None, "latency_ms": 1.0, "scores": {"accuracy": s}}
            for s in runs[case["id"]]
        ]
    cur["cases"][1]["repeats"][2]["error"] = "rate limited"  # an errored run is never a pass
    flaky = compare(cur, None, make_config()).flaky
    assert [(f["id"], f["pass_rate"]) for f in flaky] == [
        ("a", pytest.approx(2 / 3)),
        ("b", pytest.approx(2 / 3)),
    ]


def test_per_category_values_and_paired_statistics():
    base, cur = _flips(200, worse=12, better=2)
    categories = ["edge" if i % 4 == 0 else "typical" for i in range(200)]
    comparison = compare(
        make_results({"accuracy": cur}, categories=categories),
        make_results({"accuracy": base}, categories=categories),
        make_config([rule("accuracy", "edge", max_drop=0.05)]),
    )
    edge = comparison.metric("accuracy", "edge")
    members = [i for i in range(200) if categories[i] == "edge"]
    assert edge.n == 50
    assert edge.current == pytest.approx(cur[members].mean())
    assert edge.delta == pytest.approx((cur[members] - base[members]).mean())
    assert edge.p_adjusted == pytest.approx(edge.p_value)
    assert edge.rules == {"max_drop": 0.05}
    typical = comparison.metric("accuracy", "typical")
    assert typical.rules == {} and typical.p_adjusted is None


def test_a_mean_metric_is_paired_on_the_cases_both_runs_scored():
    rng = np.random.default_rng(9)
    base = rng.random(60)
    cur = base - 0.05
    kinds = {"rougeL": ("continuous", True)}
    current = make_results({"rougeL": cur}, kinds=kinds)
    baseline = make_results({"rougeL": base}, kinds=kinds)
    del current["cases"][0]["scores"]["rougeL"]  # a case the metric left unscored
    del baseline["cases"][1]["scores"]["rougeL"]
    item = compare(current, baseline, make_config([rule("rougeL", max_drop=0.01)], resamples=500)).metric(
        "rougeL"
    )
    assert item.n == 58 and item.method == "bootstrap"
    assert item.delta == pytest.approx(-0.05)


class CountingQuantiles(Metric):
    """Two corpus keys from one family; counts how often it is resampled."""

    family = "quantiles"
    calls = 0

    def keys(self):
        return [MetricKey("q25", "corpus", False), MetricKey("q75", "corpus", False)]

    def aggregate(self, records):
        values = [r["latency_ms"] for r in records]
        return {"q25": float(np.quantile(values, 0.25)), "q75": float(np.quantile(values, 0.75))}

    def resampled(self, records, indices):
        CountingQuantiles.calls += 1
        values = np.array([r["latency_ms"] for r in records])[indices]
        return {"q25": np.quantile(values, 0.25, axis=1), "q75": np.quantile(values, 0.75, axis=1)}


def test_the_keys_of_a_corpus_family_share_one_set_of_resamples():
    base, cur = make_results({"accuracy": np.ones(50)}), make_results({"accuracy": np.ones(50)})
    for results, shift in ((base, 0.0), (cur, 10.0)):
        for i, case in enumerate(results["cases"]):
            case["latency_ms"] = 100.0 + i + shift
        for key in ("q25", "q75"):
            results["metric_keys"][key] = {"kind": "corpus", "higher_is_better": False}
    config = make_config([rule("q25", max_drop=1.0), rule("q75", max_drop=1.0)], resamples=300)
    CountingQuantiles.calls = 0
    comparison = compare(cur, base, config, metrics=[CountingQuantiles({}, None)])
    chunks = -(-300 // (stats.CHUNK_ELEMENTS // 50))
    # two runs, once for both keys; the one category holds the same cases, so it reuses the resamples
    assert CountingQuantiles.calls == 2 * chunks
    assert comparison.metric("q25").delta == pytest.approx(10.0)
    assert comparison.metric("q75").p_value < 0.01


def test_the_reported_mde_is_the_design_figure_and_the_gate_adds_its_margin():
    base, cur = _flips(500, worse=25, better=25)  # 10% discordant pairs, no change
    comparison = compare(
        make_results({"accuracy": cur}),
        make_results({"accuracy": base}),
        make_config([rule("accuracy", max_drop=0.02)]),
    )
    item = comparison.metric("accuracy")
    assert item.mde == pytest.approx(0.035, abs=0.003)  # DESIGN: about 3.5 points at 500 cases
    # computed at the discordance's planning rate (a little above the observed 10%: see test_stats)
    rate = stats.planning_discordance(50, 500)
    assert 0.1 < rate < 0.11
    assert item.mde_gate == pytest.approx(stats.mde_mcnemar(500, rate, alpha=0.05, power=0.8, margin=0.02))
    assert item.mde_gate > item.mde + 0.01
    assert item.note.startswith(
        "With 500 paired cases this suite is too small to detect a drop of the 2.0-point"
    )
    assert item.note.endswith("and fails the gate on drops of about 5.6 points.")


def test_a_corpus_metric_with_clusters_resamples_whole_clusters():
    base, cur = make_results({"accuracy": np.ones(40)}), make_results({"accuracy": np.ones(40)})
    for results, shift in ((base, 0.0), (cur, 30.0)):
        for i, case in enumerate(results["cases"]):
            case["latency_ms"] = 100.0 + 10 * (i // 4) + shift
            case["cluster"] = f"conversation-{i // 4}"
        results["metric_keys"]["latency_median_ms"] = {"kind": "corpus", "higher_is_better": False}
    config = make_config([rule("latency_median_ms", max_drop=5.0)], resamples=200)
    item = compare(cur, base, config, metrics=[VectorizedMedianLatency({}, None)]).metric("latency_median_ms")
    assert item.method == "cluster_index_bootstrap"  # the vectorized path needs equal-size rows: not used
    assert item.delta == pytest.approx(30.0)
    assert item.ci_low == pytest.approx(30.0) and item.ci_high == pytest.approx(30.0)
    assert item.p_value == pytest.approx(1 / 201)


def _latency_runs(n: int) -> tuple[dict, dict]:
    rng = np.random.default_rng(n)
    base, cur = make_results({"accuracy": np.ones(n)}), make_results({"accuracy": np.ones(n)})
    for results in (base, cur):
        for case in results["cases"]:
            case["latency_ms"] = float(rng.lognormal(3, 1))
        for key in ("latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "latency_mean_ms"):
            results["metric_keys"][key] = {"kind": "corpus", "higher_is_better": False}
    return cur, base


@pytest.mark.slow
def test_a_tail_percentile_of_few_cases_is_judged_with_a_note():
    latency = Latency({"method": "linear"}, None)
    rules = [rule(key, max_drop=1.0) for key in ("latency_p50_ms", "latency_p95_ms", "latency_p99_ms")]
    comparison = compare(*_latency_runs(450), make_config(rules, resamples=500), metrics=[latency])
    p99 = comparison.metric("latency_p99_ms")
    assert (
        "Only 4.5 of 450 values lie beyond this 99% point, so its interval and p-value are rough "
        "(about 1,000 cases would put 10 beyond it); the gate judges it all the same." in p99.note
    )
    assert p99.p_value is not None and p99.tests["max_drop"]["p_value"] is not None  # still judged
    assert "lie beyond" not in (comparison.metric("latency_p95_ms").note or "")  # 22 cases beyond the p95
    assert "lie beyond" not in (comparison.metric("latency_p50_ms").note or "")
    large = compare(*_latency_runs(1000), make_config(rules, resamples=200), metrics=[latency])
    assert "lie beyond" not in (large.metric("latency_p99_ms").note or "")


def test_a_corpus_family_no_rule_gates_is_resampled_for_display_with_fewer_resamples(monkeypatch) -> None:
    """Latency percentiles shown beside the gated metrics get an interval from at most DISPLAY_RESAMPLES
    resamples; the same family gated (overall, or in one category) gets every resample there, and only there."""
    from evalgate import stats
    from evalgate.paired_metrics import DISPLAY_RESAMPLES

    drawn: list[tuple[int, int]] = []  # (cases, resamples) of each corpus bootstrap
    real = stats.corpus_bootstrap

    def counting(statistic, n, *, resamples, **options):
        drawn.append((n, resamples))
        return real(statistic, n, resamples=resamples, **options)

    monkeypatch.setattr(stats, "corpus_bootstrap", counting)
    rows = [
        {"id": f"c{i}", "category": "edge" if i % 4 == 0 else "typical", "expected": "a", "output": "a",
         "latency_ms": 100.0 + (i * 37) % 50}
        for i in range(80)
    ]  # fmt: skip
    for rules, full in (
        ([rule("accuracy", max_drop=0.05)], set()),
        ([rule("latency_p95_ms", max_drop=20.0)], {80}),
        ([rule("latency_p50_ms", "edge", max_drop=20.0)], {20}),
    ):
        config = make_config(rules, metrics=["accuracy", "latency"], resamples=5000)
        results = scored_results(config, rows)
        drawn.clear()
        compare(results, results, config)
        assert {n for n, resamples in drawn if resamples == 5000} == full
        assert {n for n, resamples in drawn if resamples != 5000} == {80, 20, 60} - full
        assert all(resamples in (5000, DISPLAY_RESAMPLES) for _, resamples in drawn)
