"""decide(): pass, warn and fail for each rule kind, errors, no baseline, signatures, the Verdict JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest
from gatekit import make_config, make_results, rule

from evalgate.gate import decide
from tests.gatekit import compare


def _pair(n: int, worse: int, better: int, *, categories=None, seed: int = 0):
    rng = np.random.default_rng(seed)
    base = (rng.random(n) < 0.85).astype(float)
    cur = base.copy()
    cur[np.flatnonzero(base == 1)[:worse]] = 0
    cur[np.flatnonzero(base == 0)[:better]] = 1
    return (
        make_results({"accuracy": cur}, categories=categories),
        make_results({"accuracy": base}, categories=categories),
    )


def _verdict(current, baseline, config):
    return decide(compare(current, baseline, config), config)


def test_significant_drop_beyond_the_margin_fails():
    current, baseline = _pair(500, worse=40, better=10)
    verdict = _verdict(current, baseline, make_config([rule("accuracy", max_drop=0.02)]))
    assert verdict.verdict == "fail" and verdict.exit_code == 1
    (reason,) = verdict.reasons
    assert (reason.metric, reason.rule, reason.severity, reason.threshold) == (
        "accuracy",
        "max_drop",
        "fail",
        0.02,
    )
    assert "accuracy dropped 6.0 points" in reason.message and "beyond the 2.0-point margin" in reason.message
    assert verdict.headline == reason.message
    assert verdict.comparison.metric("accuracy").status == "fail"


def test_a_drop_beyond_the_margin_that_is_not_significant_warns():
    current, baseline = _pair(60, worse=3, better=0)
    verdict = _verdict(current, baseline, make_config([rule("accuracy", max_drop=0.02)]))
    assert verdict.verdict == "warn" and verdict.exit_code == 0
    assert "inconclusive" in verdict.reasons[0].message and "not significantly" in verdict.reasons[0].message


@pytest.mark.slow
def test_a_significant_drop_within_the_margin_warns():
    current, baseline = _pair(4000, worse=60, better=10)
    verdict = _verdict(current, baseline, make_config([rule("accuracy", max_drop=0.03)]))
    assert verdict.verdict == "warn"
    assert (
        "significant drop" in verdict.reasons[0].message
        and "within the 3.0-point margin" in verdict.reasons[0].message
    )


def test_noise_within_the_margin_passes():
    current, baseline = _pair(500, worse=26, better=24)
    verdict = _verdict(current, baseline, make_config([rule("accuracy", min=0.5, max_drop=0.02)]))
    assert verdict.verdict == "pass" and verdict.exit_code == 0 and verdict.reasons == []
    assert verdict.headline.startswith("no regression")
    assert verdict.comparison.metric("accuracy").status == "pass"


def test_threshold_mode_fails_on_the_observed_drop_alone():
    current, baseline = _pair(60, worse=3, better=0)
    config = make_config([rule("accuracy", max_drop=0.02)], mode="threshold")
    verdict = _verdict(current, baseline, config)
    assert verdict.verdict == "fail" and verdict.to_json()["mode"] == "threshold"
    message = verdict.reasons[0].message  # no p-value: threshold mode runs no test
    assert message.endswith("), beyond the 2.0-point margin") and "p=" not in message and "p<" not in message


def test_max_drop_pct_is_relative_to_the_baseline():
    current, baseline = _pair(2000, worse=120, better=20)
    base_value = baseline["metrics"]["accuracy"]["value"]
    verdict = _verdict(current, baseline, make_config([rule("accuracy", max_drop_pct=2.0)]))
    item = verdict.comparison.metric("accuracy")
    assert item.margin == pytest.approx(0.02 * base_value)
    assert verdict.verdict == "fail" and verdict.reasons[0].rule == "max_drop_pct"
    assert "2% of the baseline" in verdict.reasons[0].message
    lenient = _verdict(current, baseline, make_config([rule("accuracy", max_drop_pct=10.0)]))
    assert lenient.verdict == "warn"  # significant, but within 10% of the baseline


def test_min_and_max_are_hard_limits_even_without_a_drop():
    current, baseline = _pair(200, worse=0, better=0)
    value = current["metrics"]["accuracy"]["value"]
    too_low = _verdict(current, baseline, make_config([rule("accuracy", min=value + 0.01)]))
    assert too_low.verdict == "fail" and too_low.reasons[0].rule == "min"
    assert f"is {value:.1%}, below the minimum {value + 0.01:.1%}" in too_low.reasons[0].message
    too_high = _verdict(current, baseline, make_config([rule("accuracy", max=value - 0.01)]))
    assert too_high.verdict == "fail" and "above the maximum" in too_high.reasons[0].message
    fine = _verdict(current, baseline, make_config([rule("accuracy", min=value - 0.01, max=value + 0.01)]))
    assert fine.verdict == "pass"


def test_a_lower_is_better_metric_that_rises_fails():
    rng = np.random.default_rng(3)
    base = rng.normal(300, 30, 400)
    kinds = {"latency_ms": ("continuous", False)}
    current = make_results({"latency_ms": base + 40 + rng.normal(0, 10, 400)}, kinds=kinds)
    baseline = make_results({"latency_ms": base}, kinds=kinds)
    verdict = _verdict(current, baseline, make_config([rule("latency_ms", max_drop=20.0)], resamples=2000))
    assert verdict.verdict == "fail"
    assert "latency_ms rose by" in verdict.reasons[0].message
    improved = _verdict(baseline, current, make_config([rule("latency_ms", max_drop=20.0)], resamples=2000))
    assert improved.verdict == "pass"


def test_one_reason_per_breached_rule_including_categories():
    categories = ["edge" if i % 5 == 0 else "typical" for i in range(1000)]
    rng = np.random.default_rng(0)
    base = (rng.random(1000) < 0.9).astype(float)
    cur = base.copy()
    edge_pass = [i for i in range(1000) if categories[i] == "edge" and base[i] == 1]
    cur[edge_pass[:40]] = 0  # the edge category collapses; overall only drops 4 points
    config = make_config(
        [
            rule("accuracy", min=0.8, max_drop=0.05),
            rule("accuracy", "edge", min=0.8, max_drop=0.05),
        ]
    )
    verdict = _verdict(
        make_results({"accuracy": cur}, categories=categories),
        make_results({"accuracy": base}, categories=categories),
        config,
    )
    assert verdict.verdict == "fail"
    assert sorted((r.category or "", r.rule, r.severity) for r in verdict.reasons) == [
        ("", "max_drop", "warn"),
        ("edge", "max_drop", "fail"),
        ("edge", "min", "fail"),
    ]
    assert "in category 'edge'" in verdict.reasons[-1].message


def test_without_a_baseline_only_absolute_thresholds_apply_and_it_says_so():
    current, _ = _pair(100, worse=0, better=0)
    config = make_config([rule("accuracy", min=0.5, max_drop=0.0)])
    verdict = _verdict(current, None, config)
    data = verdict.to_json()
    assert verdict.verdict == "pass"
    assert data["baseline"]["available"] is False
    assert "only the absolute thresholds" in data["baseline"]["note"]
    assert any("no baseline" in w for w in data["warnings"])
    assert "no baseline" in verdict.headline
    failing = _verdict(current, None, make_config([rule("accuracy", min=0.99)]))
    assert failing.verdict == "fail" and failing.exit_code == 1


def test_too_many_errors_fail_the_run_by_default():
    scores = [1.0] * 94 + [0.0] * 6
    errors = [None] * 94 + ["HTTP 429"] * 6  # errored cases score 0: never a pass
    current = make_results({"accuracy": scores}, errors=errors)
    verdict = _verdict(current, None, make_config([rule("accuracy", min=0.5)]))
    assert verdict.verdict == "fail"
    (reason,) = verdict.reasons
    assert reason.metric == "error_rate" and reason.threshold == 0.05 and reason.value == pytest.approx(0.06)
    assert reason.message.startswith("too many errors to trust the run: 6.0%")
    assert verdict.comparison.metric("error_rate").status == "fail"


def test_the_error_rate_rule_sets_the_limit():
    errors = [None] * 94 + ["HTTP 429"] * 6
    current = make_results({"accuracy": [1.0] * 94 + [0.0] * 6}, errors=errors)
    assert _verdict(current, None, make_config([rule("error_rate", max=0.1)])).verdict == "pass"
    assert _verdict(current, None, make_config([rule("error_rate", max=0.01)])).verdict == "fail"
    few = make_results({"accuracy": [1.0] * 96 + [0.0] * 4}, errors=[None] * 96 + ["x"] * 4)
    assert _verdict(few, None, make_config()).verdict == "pass"


def test_a_signature_mismatch_is_at_least_a_warning():
    current, baseline = _pair(100, worse=0, better=0)
    current["signature"]["metrics"] = "sha256:new"
    verdict = _verdict(current, baseline, make_config([rule("accuracy", max_drop=0.02)]))
    assert verdict.verdict == "warn"
    data = verdict.to_json()
    assert data["baseline"]["signature_match"] is False
    assert data["baseline"]["signature_diff"][0]["field"] == "metrics"
    assert "computed differently" in verdict.headline


def test_quarantined_cases_do_not_fail_the_gate():
    base = [1.0] * 20
    cur = [1.0] * 18 + [0.0] * 2
    ids = [f"c{i}" for i in range(20)]
    config = make_config([rule("accuracy", min=0.95)], quarantine=["c18", "c19"])
    verdict = _verdict(
        make_results({"accuracy": cur}, ids=ids), make_results({"accuracy": base}, ids=ids), config
    )
    assert verdict.verdict == "pass"
    assert verdict.to_json()["cases"]["quarantined"] == ["c18", "c19"]
    assert (
        _verdict(
            make_results({"accuracy": cur}, ids=ids), None, make_config([rule("accuracy", min=0.95)])
        ).verdict
        == "fail"
    )


def test_verdict_json_has_the_documented_shape():
    current, baseline = _pair(300, worse=25, better=5, categories=["a", "b", "c"] * 100)
    config = make_config([rule("accuracy", min=0.5, max_drop=0.02), rule("accuracy", "a", max_drop=0.1)])
    data = _verdict(current, baseline, config).to_json()
    json.dumps(data, allow_nan=False)
    assert set(data) >= {
        "schema_version",
        "suite",
        "verdict",
        "exit_code",
        "headline",
        "mode",
        "baseline",
        "reasons",
        "metrics",
        "categories",
        "cases",
        "warnings",
    }
    assert set(data["baseline"]) >= {
        "available",
        "label",
        "created_at",
        "signature_match",
        "signature_diff",
        "note",
    }
    assert data["baseline"]["label"] == "main@abc1234"
    assert set(data["reasons"][0]) >= {
        "metric",
        "category",
        "rule",
        "threshold",
        "value",
        "baseline",
        "delta",
        "severity",
        "message",
    }
    metric_fields = {
        "metric",
        "category",
        "kind",
        "higher_is_better",
        "current",
        "baseline",
        "delta",
        "ci_low",
        "ci_high",
        "p_value",
        "p_adjusted",
        "mde",
        "margin",
        "n",
        "rules",
        "status",
        "note",
    }
    assert all(set(m) >= metric_fields for m in data["metrics"] + data["categories"])
    assert {(m["category"], m["metric"]) for m in data["categories"]} >= {
        ("a", "accuracy"),
        ("b", "accuracy"),
    }
    assert set(data["cases"]) >= {"added", "removed", "paired", "regressed", "failing", "flaky"}
    regressed = data["cases"]["regressed"][0]
    assert set(regressed) >= {
        "id",
        "category",
        "metric",
        "baseline",
        "current",
        "input",
        "expected",
        "output",
        "baseline_output",
        "error",
    }
    accuracy = data["metrics"][0]
    assert accuracy["rules"] == {"min": 0.5, "max_drop": 0.02} and accuracy["margin"] == 0.02


def test_a_suite_too_small_for_its_margin_says_so_plainly():
    current, baseline = _pair(100, worse=6, better=4)
    verdict = _verdict(current, baseline, make_config([rule("accuracy", max_drop=0.02)]))
    note = verdict.comparison.metric("accuracy").note
    assert note.startswith(
        "With 100 paired cases this suite is too small to detect a drop of the 2.0-point margin"
    )
    assert any(w.startswith("accuracy: With 100 paired cases") for w in verdict.warnings)


def test_a_drop_rule_with_no_case_in_both_runs_warns_and_says_why():
    current = make_results({"accuracy": [1.0, 1.0]}, ids=["new-1", "new-2"])
    baseline = make_results({"accuracy": [1.0, 0.0]}, ids=["old-1", "old-2"])
    verdict = _verdict(current, baseline, make_config([rule("accuracy", max_drop=0.02)]))
    assert verdict.verdict == "warn"
    assert "no case is in both runs" in verdict.reasons[0].message
    data = verdict.to_json()["cases"]
    assert (data["added"], data["removed"], data["paired"]) == (["new-1", "new-2"], ["old-1", "old-2"], 0)
