"""Properties of the gate (hypothesis): identical runs never fail; a verdict never depends on case order."""

from __future__ import annotations

import random

import numpy as np
import pytest
from gatekit import make_config, make_results, rule
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evalgate.gate import decide
from evalgate.metrics.latency import Latency
from tests.gatekit import compare

RULES = [
    rule("accuracy", max_drop=0.0),
    rule("accuracy", max_drop_pct=0.0),
    rule("rougeL", max_drop=0.0),
    rule("accuracy", "b", max_drop=0.0),
]
KINDS = {"rougeL": ("continuous", True)}

runs = st.lists(
    st.tuples(
        st.booleans(),
        st.floats(0, 1, allow_nan=False),
        st.sampled_from(["a", "b"]),
        st.sampled_from([None, "k1", "k2", "k3"]),
    ),
    min_size=1,
    max_size=40,
).map(lambda rows: [*rows, (True, 0.5, "a", None), (False, 0.5, "b", None)])  # both gated categories exist


def _results(rows, *, accuracy=None, order=None):
    order = order or list(range(len(rows)))
    accuracy = accuracy or [float(r[0]) for r in rows]
    return make_results(
        {"accuracy": [accuracy[i] for i in order], "rougeL": [rows[i][1] for i in order]},
        kinds=KINDS,
        ids=[f"c{i}" for i in order],
        categories=[rows[i][2] for i in order],
        clusters=[rows[i][3] for i in order],
    )


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=runs, mode=st.sampled_from(["significance", "threshold"]))
def test_identical_runs_never_fail(rows, mode):
    config = make_config(RULES, mode=mode, resamples=300)
    verdict = decide(compare(_results(rows), _results(rows), config), config)
    assert verdict.verdict == "pass"
    assert verdict.exit_code == 0


@pytest.mark.slow
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=runs, flips=st.lists(st.booleans(), min_size=42, max_size=42), seed=st.integers(0, 2**16))
def test_a_verdict_never_depends_on_case_order(rows, flips, seed):
    config = make_config([*RULES, rule("rougeL", max_drop=0.05)], quarantine=["c1"], resamples=300)
    candidate = [float(r[0]) != flip for r, flip in zip(rows, flips, strict=False)]
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    first = decide(compare(_results(rows, accuracy=candidate), _results(rows), config), config).to_json()
    shuffled = decide(
        compare(_results(rows, accuracy=candidate, order=order), _results(rows, order=order[::-1]), config),
        config,
    ).to_json()
    assert shuffled == first


def _latency_results(latencies: list[float]) -> dict:
    results = make_results({"accuracy": [1.0] * len(latencies)})
    for case, latency in zip(results["cases"], latencies, strict=True):
        case["latency_ms"] = latency
    for key in LATENCY.keys():
        results["metric_keys"][key.name] = {"kind": "corpus", "higher_is_better": False}
    return results


LATENCY = Latency({"method": "linear"}, None)
ALPHA = 0.05


@pytest.mark.slow
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(40, 300),
    spikes=st.integers(0, 6),
    slowdown=st.floats(0.5, 2.0),
)
def test_a_corpus_metric_is_significantly_worse_only_when_its_interval_excludes_zero(
    seed, n, spikes, slowdown
):
    """Skewed latencies (lognormal, a few 100x spikes): for every percentile the one-sided p-value is below
    alpha only when the (1 - 2 alpha) interval lies on the worse side of 0, and the other way round (up to
    the resolution of the resamples), because both come from the same resamples."""
    rng = np.random.default_rng(seed)
    base = rng.lognormal(0.0, 1.0, n)
    cur = base * rng.lognormal(np.log(slowdown), 0.3, n)
    for run in (base, cur):
        run[rng.integers(0, n, spikes)] *= 100.0
    resamples = 2000
    config = make_config(
        [rule(key.name, max_drop=0.0) for key in LATENCY.keys()],
        confidence=1 - 2 * ALPHA,
        resamples=resamples,
    )
    comparison = compare(_latency_results(list(cur)), _latency_results(list(base)), config, metrics=[LATENCY])
    for key in LATENCY.keys():
        item = comparison.metric(key.name)
        assert item.method == "index_bootstrap"
        if item.p_value < ALPHA:
            assert item.ci_low > 0, (key.name, item.p_value, item.ci_low, item.ci_high)
        if item.ci_low > 0:  # latency: higher is worse, so the worse side is above 0
            assert item.p_value <= ALPHA + 2 / (resamples + 1), (key.name, item.p_value, item.ci_low)
