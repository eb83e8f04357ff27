"""Properties of the gate (hypothesis): identical runs never fail; a verdict never depends on case order."""

from __future__ import annotations

import random

from gatekit import make_config, make_results, rule
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evalgate.compare import compare
from evalgate.gate import decide

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
)


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


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=runs, mode=st.sampled_from(["significance", "threshold"]))
def test_identical_runs_never_fail(rows, mode):
    config = make_config(RULES, mode=mode, resamples=300)
    verdict = decide(compare(_results(rows), _results(rows), config), config)
    assert verdict.verdict == "pass"
    assert verdict.exit_code == 0


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=runs, flips=st.lists(st.booleans(), min_size=40, max_size=40), seed=st.integers(0, 2**16))
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
