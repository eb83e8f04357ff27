"""Metamorphic properties of the whole gate (invariant 1 of the developers' guide), on results dicts built as
`evalgate run` builds them (real metrics scoring real case records), then `compare` and `decide`:

- an identical run always passes;
- a larger drop (a run worse case by case than another) never gets a milder verdict;
- the same drop on more cases (every case repeated k times) never gets a milder verdict;

for every kind of metric key: binary (accuracy: exact McNemar), continuous (rougeL and a judge-like Likert
score: paired bootstrap), corpus (f1_macro, BLEU, latency p95 by interpolation and by nearest rank, ROC-AUC:
index resampling); for min, max, max_drop and max_drop_pct rules, overall, per category and per slice (a
metadata slice and a tag slice, across the categories, in one Holm family with them); in both gate modes. A verdict's severity is pass < warn < fail. `min` is drawn for metrics where higher is better and `max` where lower is better: a
ceiling on a quality score (a `max` on accuracy) is the one rule that, by design, a drop moves away from.

The fast loop draws suites of 10 to 300 cases (up to 1,500 repeated) with 1,000 resamples; the `slow` tests
take the same properties to 100,000 cases.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from gatekit import make_config, rule, scored_results
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evalgate.gate import decide
from evalgate.metrics import build_metrics
from tests.gatekit import compare

# hypothesis over every metric family: the full suite only (tests/test_gate_properties.py keeps invariant 1
# in the everyday loop)
pytestmark = pytest.mark.slow

SEVERITY = {"pass": 0, "warn": 1, "fail": 2}
SCORERS = Path(__file__).parent / "fixtures" / "scorers"
CLASSES = ("billing", "shipping", "other")


def _label(i: int, level: int) -> tuple[Any, Any, float]:
    expected = CLASSES[i % 3]
    return expected, expected if level == 0 else CLASSES[(i + 1) % 3], 10.0


def _text(i: int, level: int) -> tuple[Any, Any, float]:
    words = [f"w{(i * 7 + j * 13) % 97}" for j in range(8)]
    output = [f"zz{j}" if j < 2 * level else word for j, word in enumerate(words)]
    return " ".join(words), " ".join(output), 10.0


def _rating(i: int, level: int) -> tuple[Any, Any, float]:
    return None, {"rating": 5 - level}, 10.0


def _latency(i: int, level: int) -> tuple[Any, Any, float]:
    return "ok", "ok", (40.0 + (i * 37) % 61) * (1.0 + 0.5 * level)


def _ranked(i: int, level: int) -> tuple[Any, Any, float]:
    positive = i % 2 == 0
    tiny = (i * 7919 % 1000) / 1e5  # distinct scores
    score = 0.8 - 0.15 * level + tiny if positive else 0.2 + 0.15 * level + tiny
    return int(positive), {"score": score}, 10.0


@dataclass(frozen=True)
class Kind:
    """One metric key under test: the config's metrics, how a case renders at a quality level (0 best,
    levels - 1 worst), and the scale of its values (for drawing thresholds)."""

    metrics: list[Any]
    key: str
    levels: int
    render: Callable[[int, int], tuple[Any, Any, float]]
    scale: float
    higher_is_better: bool = True


KINDS = {
    "accuracy": Kind(["accuracy"], "accuracy", 2, _label, 0.5),
    "f1_macro": Kind(["f1_macro"], "f1_macro", 2, _label, 0.5),
    "rougeL": Kind(["rougeL"], "rougeL", 5, _text, 0.5),
    "judge": Kind(
        [("custom", {"function": "judge_like.py:likert", "name": "judge"})], "judge", 5, _rating, 0.5
    ),
    "bleu": Kind(["bleu"], "bleu", 5, _text, 50.0),
    "latency_p95_ms": Kind([], "latency_p95_ms", 5, _latency, 60.0, higher_is_better=False),
    "latency_nearest_rank": Kind(
        [("latency", {"method": "nearest_rank"})], "latency_p95_ms", 5, _latency, 60.0, higher_is_better=False
    ),
    "roc_auc": Kind(["roc_auc"], "roc_auc", 5, _ranked, 0.5),
}
# Kinds whose value the same cases repeated k times keep: not an interpolated percentile (the p95 of 3 values
# lies between the two largest, that of the 6 values of two copies on the largest: another drop, found by
# hypothesis); the nearest-rank percentile keeps its value, and stands for latency there.
REPLICABLE = [name for name in KINDS if name != "latency_p95_ms"]
_BUILT: dict[str, list] = {}


def _category(i: int) -> str:
    return "edge" if i % 10 < 3 else "typical"


def _sliced(i: int) -> dict[str, Any]:
    """A case's metadata and tags: slices length=long (every third case) and tag=billing (every fourth)."""
    return {
        "metadata": {"length": "long" if i % 3 == 0 else "short"},
        "tags": ["billing"] if i % 4 == 0 else [],
    }


SLICES = ["metadata.length", "tags"]


def _config(kind: Kind, rules: list, mode: str, resamples: int):
    """The suite's config; with the slices when a rule names one or when scoring (so results record them), else
    without (no slice is compared: the large suites stay within their time)."""
    sliced = not rules or any(r.slice is not None for r in rules)
    return make_config(
        rules,
        metrics=kind.metrics,
        base_dir=SCORERS,
        mode=mode,
        resamples=resamples,
        slices=SLICES if sliced else [],
    )


def _scoped(key: str, scope: str | None, **bounds: float):
    """A rule on `key` overall (None), in a category, or in a slice (a name with `=`)."""
    if scope is not None and "=" in scope:
        return rule(key, slice=scope, **bounds)
    return rule(key, scope, **bounds)


def _built(name: str) -> list:
    if name not in _BUILT:
        _BUILT[name] = build_metrics(_config(KINDS[name], [], "significance", 1000))
    return _BUILT[name]


def _results(name: str, levels: np.ndarray, copies: int = 1) -> dict[str, Any]:
    """The results of a run whose case i (of each copy) is at quality `levels[i]`."""
    kind = KINDS[name]
    rows = []
    for copy in range(copies):
        for i, level in enumerate(levels.tolist()):
            expected, output, latency = kind.render(i, level)
            row = {"id": f"c{copy}-{i:06d}", "category": _category(i), "expected": expected, **_sliced(i)}
            rows.append(row | {"output": output, "latency_ms": latency})
    return scored_results(_config(kind, [], "significance", 1000), rows, _built(name))


@dataclass(frozen=True)
class Runs:
    """A baseline, a current run, and a run worse than the current one case by case."""

    base: np.ndarray
    current: np.ndarray
    worse: np.ndarray


def _few(rng: np.random.Generator, n: int, count: int) -> np.ndarray:
    chosen = np.zeros(n, dtype=bool)
    chosen[rng.choice(n, size=count, replace=False)] = True
    return chosen


def _runs(levels: int, n: int, seed: int, bad: float, changed: float, worsened: float | int) -> Runs:
    """Quality levels of a baseline, a current run (some cases changed either way) and a run worse than the
    current one case by case (a share of the cases, or a few, worsened by one or more levels)."""
    rng = np.random.default_rng(seed)
    base = np.where(rng.random(n) < bad, rng.integers(1, levels, n), 0)
    current = np.where(rng.random(n) < changed, rng.integers(0, levels, n), base)  # better and worse
    chosen = rng.random(n) < worsened if isinstance(worsened, float) else _few(rng, n, worsened)
    steps = np.where(chosen, rng.integers(1, levels, n), 0)
    return Runs(base, current, np.minimum(current + steps, levels - 1))


def _rules(kind: Kind, base: dict[str, Any], specs: list[tuple[str, str | None, float]], *, held: bool):
    """Rules on the kind's key from (rule, scope, u in [0, 1]) specs, scaled to the baseline's values.
    `held`: min/max thresholds the baseline meets (an identical run must pass them)."""
    rules = []
    for name, scope, u in specs:
        groups = base.get("slices", {}) if scope is not None and "=" in scope else base["categories"]
        entry = base["metrics"] if scope is None else groups.get(scope)
        value = ((entry or {}).get(kind.key) or {}).get("value")
        if value is None:
            continue
        if name == "limit":
            offset = (u if held else u - 0.2) * kind.scale
            bound = {"min": value - offset} if kind.higher_is_better else {"max": value + offset}
            rules.append(_scoped(kind.key, scope, **bound))
        elif name == "max_drop":
            rules.append(_scoped(kind.key, scope, max_drop=u * 0.3 * kind.scale))
        else:
            rules.append(_scoped(kind.key, scope, max_drop_pct=u * 30.0))
    return rules


def _verdict(current: dict, baseline: dict, name: str, rules: list, mode: str, resamples: int = 1000):
    config = _config(KINDS[name], rules, mode, resamples)
    return decide(compare(current, baseline, config, metrics=_built(name)), config)


rule_specs = st.lists(
    st.tuples(
        st.sampled_from(["limit", "max_drop", "max_drop_pct"]),
        st.sampled_from([None, "typical", "edge", "length=long", "tag=billing"]),
        st.floats(0.0, 1.0),
    ),
    min_size=1,
    max_size=3,
)
suites = st.fixed_dictionaries(
    {
        "n": st.integers(10, 300),
        "seed": st.integers(0, 2**32 - 1),
        "bad": st.floats(0.0, 0.5),
        "changed": st.floats(0.0, 0.5),
        "worsened": st.one_of(st.floats(0.0, 0.5), st.integers(1, 3)),  # a share of cases, or a few
        "specs": rule_specs,
        "mode": st.sampled_from(["significance", "threshold"]),
    }
)
FAST = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _describe(verdict) -> str:
    return f"{verdict.verdict}: {verdict.headline}"


def _rule_sets(suite: dict[str, Any]) -> list[list]:
    """The rule specs to judge the same runs by: `rule_sets` (several, sharing the runs), else `specs`."""
    return suite.get("rule_sets") or [suite["specs"]]


def check_identical_run_passes(name: str, suite: dict[str, Any], resamples: int = 1000) -> None:
    kind = KINDS[name]
    runs = _runs(kind.levels, suite["n"], suite["seed"], suite["bad"], suite["changed"], suite["worsened"])
    base, again = _results(name, runs.base), _results(name, runs.base)
    for specs in _rule_sets(suite):
        rules = _rules(kind, base, specs, held=True)
        verdict = _verdict(again, base, name, rules, suite["mode"], resamples)
        assert verdict.verdict == "pass", _describe(verdict)


def check_larger_drop_not_milder(name: str, suite: dict[str, Any], resamples: int = 1000) -> None:
    kind = KINDS[name]
    runs = _runs(kind.levels, suite["n"], suite["seed"], suite["bad"], suite["changed"], suite["worsened"])
    base, current, worse = (_results(name, levels) for levels in (runs.base, runs.current, runs.worse))
    for specs in _rule_sets(suite):
        rules = _rules(kind, base, specs, held=False)
        drop = _verdict(current, base, name, rules, suite["mode"], resamples)
        larger = _verdict(worse, base, name, rules, suite["mode"], resamples)
        assert SEVERITY[larger.verdict] >= SEVERITY[drop.verdict], (_describe(drop), _describe(larger))
        for before, after in zip(_p_values(drop), _p_values(larger), strict=True):
            # the evidence itself: each p-value the gate decides on is no larger (below 1/2, the only
            # p-values a level alpha <= 1/2 can act on; above it the exact margin test may step up)
            assert before is None or after is None or before >= 0.5 or after <= before, (before, after)


def _p_values(verdict) -> list[float | None]:
    """Every p-value of the rule-bearing items, in a fixed order."""
    found = []
    for item in verdict.comparison.rows:
        if item.tests:
            found += [item.p_value, *(test["p_value"] for test in item.tests.values())]
    return found


def check_more_cases_not_milder(name: str, suite: dict[str, Any], copies: int, resamples: int = 1000) -> None:
    kind = KINDS[name]
    runs = _runs(kind.levels, suite["n"], suite["seed"], suite["bad"], suite["changed"], suite["worsened"])
    base, worse = _results(name, runs.base), _results(name, runs.worse)
    many_base, many_worse = _results(name, runs.base, copies), _results(name, runs.worse, copies)
    for specs in _rule_sets(suite):
        rules = _rules(kind, base, specs, held=False)
        few = _verdict(worse, base, name, rules, suite["mode"], resamples)
        many = _verdict(many_worse, many_base, name, rules, suite["mode"], resamples)
        assert SEVERITY[many.verdict] >= SEVERITY[few.verdict], (_describe(few), _describe(many))


@pytest.mark.parametrize("name", KINDS)
@FAST
@given(suite=suites)
def test_an_identical_run_always_passes(name, suite):
    check_identical_run_passes(name, suite)


@pytest.mark.parametrize("name", KINDS)
@FAST
@given(suite=suites)
def test_a_larger_drop_never_gets_a_milder_verdict(name, suite):
    check_larger_drop_not_milder(name, suite)


@pytest.mark.parametrize("name", REPLICABLE)
@FAST
@given(suite=suites, copies=st.sampled_from([2, 3, 5]))
def test_the_same_drop_on_more_cases_never_gets_a_milder_verdict(name, suite, copies):
    check_more_cases_not_milder(name, suite, copies)


# Large suites, where exact p-values underflow to 0 and the bootstrap's resolution matters: a small drop just
# beyond its margin, and a much larger one (every property above on each), with fewer resamples (the
# properties hold on any common set of resamples).
LARGE = [
    {"n": 10_000, "seed": 1, "bad": 0.05, "changed": 0.02, "worsened": 0.3, "mode": "significance"},
    {"n": 100_000, "seed": 2, "bad": 0.1, "changed": 0.01, "worsened": 0.05, "mode": "significance"},
]
DROPS = [("max_drop", None, 0.02)]  # alone: no other rule may fail the larger drop for it
CATEGORY_DROPS = [("max_drop_pct", "edge", 0.05), ("max_drop", "typical", 0.02)]
SLICE_DROPS = [
    ("max_drop", "length=long", 0.02),
    ("max_drop_pct", "tag=billing", 0.05),
]  # with the categories
LIMITS = [("limit", None, 0.1), ("limit", "typical", 0.1), ("limit", "length=long", 0.1)]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "suite"),
    [(name, LARGE[0]) for name in KINDS]
    + [(name, LARGE[1]) for name in ("accuracy", "judge", "latency_p95_ms")],  # one of each kind
    ids=lambda value: f"n={value['n']}" if isinstance(value, dict) else value,
)
def test_a_larger_drop_never_gets_a_milder_verdict_on_large_suites(name, suite):
    check_larger_drop_not_milder(
        name, suite | {"rule_sets": [DROPS, CATEGORY_DROPS + SLICE_DROPS]}, resamples=200
    )


@pytest.mark.slow
@pytest.mark.parametrize("name", ["accuracy", "judge", "latency_nearest_rank"])
def test_the_same_drop_on_ten_times_the_cases_never_gets_a_milder_verdict(name):
    suite = LARGE[0] | {"rule_sets": [DROPS, CATEGORY_DROPS + SLICE_DROPS]}
    check_more_cases_not_milder(name, suite, copies=10, resamples=200)


@pytest.mark.slow
@pytest.mark.parametrize("name", KINDS)
def test_an_identical_large_run_always_passes(name):
    check_identical_run_passes(
        name, LARGE[0] | {"rule_sets": [DROPS + CATEGORY_DROPS + SLICE_DROPS + LIMITS]}, resamples=200
    )
