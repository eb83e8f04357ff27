"""The gate's statistics against their references: the published vectors, scipy, and simulation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from evalgate import stats
from tests.conftest import reference_vectors

VECTORS = reference_vectors()["paired_tests"]


def test_mcnemar_matches_the_reference_vector_and_scipy():
    ref = VECTORS["mcnemar_exact"]
    p = stats.mcnemar_one_sided(ref["b"], ref["c"])
    assert p == pytest.approx(ref["one_sided_p"], abs=1e-12)
    assert p == pytest.approx(
        sps.binomtest(ref["b"], ref["b"] + ref["c"], 0.5, alternative="greater").pvalue, abs=1e-12
    )


@pytest.mark.parametrize(("worse", "better"), [(0, 0), (1, 0), (4, 0), (5, 0), (3, 9), (40, 22), (120, 80)])
def test_mcnemar_agrees_with_scipy_binomtest(worse, better):
    expected = (
        1.0
        if worse + better == 0
        else sps.binomtest(worse, worse + better, 0.5, alternative="greater").pvalue
    )
    assert stats.mcnemar_one_sided(worse, better) == pytest.approx(expected, abs=1e-12)


def test_fewer_than_five_discordant_pairs_never_reach_five_percent():
    assert stats.mcnemar_one_sided(4, 0) > 0.05
    assert stats.mcnemar_one_sided(5, 0) < 0.05


def test_holm_matches_the_reference_vector():
    ref = VECTORS["holm"]
    assert stats.holm(ref["p"]) == pytest.approx(ref["adjusted"], abs=1e-12)


def test_holm_never_lowers_a_p_value_and_keeps_the_order():
    rng = np.random.default_rng(3)
    p = list(rng.random(7) ** 3)
    adjusted = stats.holm(p)
    assert all(a >= raw for a, raw in zip(adjusted, p, strict=True))
    order = np.argsort(p)
    assert all(np.diff(np.array(adjusted)[order]) >= 0)
    assert stats.holm([]) == []


def _paired_binary(worse: int, better: int, both_pass: int, both_fail: int):
    base = np.array([1] * worse + [0] * better + [1] * both_pass + [0] * both_fail, dtype=float)
    cur = np.array([0] * worse + [1] * better + [1] * both_pass + [0] * both_fail, dtype=float)
    return base, cur


def test_mcnemar_paired_counts_discordant_pairs_in_the_worse_direction():
    ref = VECTORS["mcnemar_exact"]
    base, cur = _paired_binary(ref["b"], ref["c"], 70, 10)
    result = stats.mcnemar_paired(base, cur, higher_is_better=True, confidence=0.95)
    assert result.discordant == (15, 5)
    assert result.delta == pytest.approx(-10 / 100)
    assert result.p_value == pytest.approx(ref["one_sided_p"], abs=1e-12)
    # the paired difference's standard error: sd of d in {-1, 0, 1} over sqrt(n)
    d = cur - base
    assert result.se == pytest.approx(np.std(d, ddof=0) / np.sqrt(len(d)), rel=1e-12)
    assert result.ci_low < result.delta < result.ci_high
    # for a lower-is-better rate (errors) the same flips are improvements
    flipped = stats.mcnemar_paired(base, cur, higher_is_better=False, confidence=0.95)
    assert flipped.discordant == (5, 15)
    assert flipped.p_value > 0.9


@pytest.mark.slow
def test_bootstrap_interval_agrees_with_scipy_bootstrap():
    rng = np.random.default_rng(11)
    diffs = rng.normal(-0.02, 0.2, size=400)
    boot = stats.bootstrap_means(diffs, resamples=20000, seed=5)[:, 0]
    result = stats.from_bootstrap(
        float(diffs.mean()), boot, higher_is_better=True, confidence=0.95, method="bootstrap", n=len(diffs)
    )
    reference = sps.bootstrap(
        (diffs,), np.mean, n_resamples=20000, method="percentile", confidence_level=0.95, random_state=1
    )
    se = diffs.std(ddof=1) / np.sqrt(len(diffs))
    assert result.ci_low == pytest.approx(reference.confidence_interval.low, abs=0.08 * se)
    assert result.ci_high == pytest.approx(reference.confidence_interval.high, abs=0.08 * se)
    assert result.se == pytest.approx(reference.standard_error, rel=0.05)


def test_bootstrap_p_value_is_close_to_the_normal_test():
    rng = np.random.default_rng(2)
    diffs = rng.normal(-0.03, 0.25, size=600)
    boot = stats.bootstrap_means(diffs, resamples=20000, seed=9)[:, 0]
    result = stats.from_bootstrap(
        float(diffs.mean()), boot, higher_is_better=True, confidence=0.95, method="bootstrap", n=600
    )
    z = diffs.mean() / (diffs.std(ddof=1) / np.sqrt(len(diffs)))
    assert result.p_value == pytest.approx(sps.norm.cdf(z), abs=0.01)
    lower_is_better = stats.from_bootstrap(
        float(diffs.mean()), boot, higher_is_better=False, confidence=0.95, method="bootstrap", n=600
    )
    assert lower_is_better.p_value == pytest.approx(1 - sps.norm.cdf(z), abs=0.01)


def test_bootstrap_means_shares_resamples_across_metrics_and_is_seeded():
    rng = np.random.default_rng(4)
    diffs = rng.normal(size=(300, 3))
    first = stats.bootstrap_means(diffs, resamples=1000, seed=1)
    again = stats.bootstrap_means(diffs, resamples=1000, seed=1)
    np.testing.assert_array_equal(first, again)
    # each column's resampled means are means of the same resampled cases: a duplicated column is identical
    doubled = stats.bootstrap_means(np.column_stack([diffs[:, 0], diffs[:, 0]]), resamples=500, seed=2)
    np.testing.assert_allclose(doubled[:, 0], doubled[:, 1])
    assert not np.array_equal(first, stats.bootstrap_means(diffs, resamples=1000, seed=2))


def test_identical_runs_give_p_one():
    boot = stats.bootstrap_means(np.zeros(50), resamples=200, seed=0)[:, 0]
    result = stats.from_bootstrap(0.0, boot, higher_is_better=True, confidence=0.95, method="bootstrap", n=50)
    assert result.p_value == 1.0
    assert (result.ci_low, result.ci_high) == (0.0, 0.0)


def test_cluster_bootstrap_widens_the_interval_for_correlated_cases():
    rng = np.random.default_rng(8)
    groups = 40
    cluster_effect = rng.normal(0, 0.3, size=groups)
    diffs = np.repeat(cluster_effect, 10) + rng.normal(0, 0.01, size=groups * 10)
    clusters = np.repeat(np.arange(groups), 10)
    iid = stats.bootstrap_means(diffs, resamples=4000, seed=1)[:, 0].std()
    clustered = stats.bootstrap_means(diffs, resamples=4000, seed=1, clusters=clusters)[:, 0].std()
    # the clustered standard error is that of the 40 cluster means
    cluster_means = diffs.reshape(groups, 10).mean(axis=1)
    assert clustered == pytest.approx(cluster_means.std(ddof=0) / np.sqrt(groups), rel=0.1)
    assert clustered > 2.5 * iid


def test_cluster_codes_treat_missing_clusters_as_singletons():
    codes = stats.cluster_codes(["a", "b", "c", "d"], ["x", None, "x", None])
    assert codes[0] == codes[2]
    assert len(set(codes.tolist())) == 3
    assert stats.has_clusters(["x", None, "x"])
    assert not stats.has_clusters(["x", None, "y", None])


def test_corpus_bootstrap_recomputes_the_statistic_on_index_resamples():
    values = np.arange(10, dtype=float)
    boot = stats.corpus_bootstrap(lambda idx: np.median(values[idx], axis=1), 10, resamples=300, seed=3)
    assert boot.shape == (300,)
    assert set(np.unique(boot)) <= {v / 2 for v in range(0, 19)}
    clustered = stats.corpus_bootstrap(
        lambda chunk: np.array([values[row].max() for row in chunk]),
        10,
        resamples=50,
        seed=3,
        clusters=np.repeat(np.arange(5), 2),
    )
    assert clustered.shape == (50,)


@pytest.mark.parametrize(
    ("n", "design", "tolerance"), [(100, 0.08, 0.01), (500, 0.035, 0.005), (1000, 0.025, 0.004)]
)
def test_mde_matches_the_design_figures(n, design, tolerance):
    """DESIGN: about 8 points at 100 cases, 3.5 at 500, 2.5 at 1,000 (10% discordant pairs, alpha 5%, 80%)."""
    mde = stats.mde_mcnemar(n, 0.10, alpha=0.05, power=0.8)
    assert mde == pytest.approx(design, abs=tolerance)


def test_mde_power_is_confirmed_by_simulation_with_scipy():
    n, discordance, alpha, margin = 400, 0.10, 0.05, 0.01
    mde = stats.mde_mcnemar(n, discordance, alpha=alpha, power=0.8, margin=margin)
    rng = np.random.default_rng(7)
    worse_p = max((discordance + mde) / 2, mde)
    better_p = worse_p - mde
    caught = 0
    trials = 3000
    for _ in range(trials):
        draw = rng.multinomial(n, [worse_p, better_p, 1 - worse_p - better_p])
        worse, better = int(draw[0]), int(draw[1])
        caught += _beyond_margin(worse, better, n, margin) < alpha and (worse - better) / n > margin
    assert caught / trials == pytest.approx(0.8, abs=0.03)


def _beyond_margin(worse: int, better: int, n: int, margin: float) -> float:
    """scipy reference for the margin test: a binomial test at q = (r + margin) / (2 r), r the discordance."""
    total = worse + better
    if total == 0 or total / n <= margin:
        return 1.0
    q = (total / n + margin) / (2 * total / n)
    return sps.binomtest(worse, total, q, alternative="greater").pvalue


@pytest.mark.parametrize(
    ("worse", "better", "n", "margin"), [(15, 5, 100, 0.0), (15, 5, 100, 0.05), (40, 10, 500, 0.02)]
)
def test_the_margin_test_agrees_with_scipy_and_reduces_to_mcnemar(worse, better, n, margin):
    expected = _beyond_margin(worse, better, n, margin)
    assert stats.mcnemar_margin(worse, better, n=n, margin=margin) == pytest.approx(expected, abs=1e-12)
    assert stats.mcnemar_margin(worse, better, n=n, margin=0.0) == stats.mcnemar_one_sided(worse, better)
    assert stats.mcnemar_margin(3, 1, n=100, margin=0.05) == 1.0  # 4% discordance cannot drop 5 points


def test_the_margin_test_keeps_its_size_at_the_boundary():
    """A true drop equal to the margin is rejected at most about alpha of the time."""
    rng = np.random.default_rng(12)
    n, discordance, margin = 500, 0.10, 0.02
    worse_p, better_p = (discordance + margin) / 2, (discordance - margin) / 2
    draws = rng.multinomial(n, [worse_p, better_p, 1 - discordance], size=4000)
    rejected = np.mean([stats.mcnemar_margin(int(w), int(b), n=n, margin=margin) < 0.05 for w, b, _ in draws])
    assert rejected <= 0.06


def test_the_bootstrap_margin_test_grows_with_the_margin():
    rng = np.random.default_rng(6)
    diffs = rng.normal(-0.04, 0.2, 500)
    boot = stats.bootstrap_means(diffs, resamples=5000, seed=1)[:, 0]
    result = stats.from_bootstrap(
        float(diffs.mean()), boot, higher_is_better=True, confidence=0.95, method="bootstrap", n=500
    )
    assert result.p_beyond(0.0) == result.p_value
    assert result.p_value < result.p_beyond(0.02) < result.p_beyond(0.04) < result.p_beyond(0.08)
    se = diffs.std(ddof=1) / np.sqrt(500)
    z = (-diffs.mean() - 0.02) / se
    assert result.p_beyond(0.02) == pytest.approx(1 - sps.norm.cdf(z), abs=0.015)


def test_the_exact_test_keeps_its_size():
    assert stats.mcnemar_power(300, 0.1, 0.0, alpha=0.05) <= 0.05


def test_mde_is_none_when_no_drop_can_be_significant():
    assert stats.mde_mcnemar(4, 0.1, alpha=0.05, power=0.8) is None


def test_mde_normal_adds_the_margin():
    gate, test = stats.mde_normal(0.01, alpha=0.05, power=0.8, margin=0.05)
    z_a, z_b = sps.norm.ppf(0.95), sps.norm.ppf(0.8)
    assert test == pytest.approx((z_a + z_b) * 0.01)
    assert gate == pytest.approx(0.05 + (z_a + z_b) * 0.01)
    assert stats.mde_normal(0.0, alpha=0.05, power=0.8) == (None, None)


def test_input_seed_depends_on_every_part():
    assert stats.input_seed("a", b"b") == stats.input_seed("a", b"b")
    assert stats.input_seed("a", b"b") != stats.input_seed("ab", b"")


def test_critical_counts_are_the_smallest_significant_ones():
    critical = stats._critical_worse(60, 0.05)
    for total in range(61):
        significant = (
            [b for b in range(total + 1) if sps.binomtest(b, total, 0.5, alternative="greater").pvalue < 0.05]
            if total
            else []
        )
        assert critical[total] == (min(significant) if significant else critical[total])
        if not significant:
            assert critical[total] > total


def _average_catch_rate(n: int, discordance: float, margin: float, rate_of) -> float:
    """The gate's power at the MDE a suite reports, averaged over the discordance it observes."""
    totals = np.arange(n + 1)
    weights = sps.binom.pmf(totals, n, discordance)
    kept = totals[weights > 1e-5]
    caught = [
        stats.mcnemar_power(
            n,
            discordance,
            stats.mde_mcnemar(n, rate_of(int(t), n), alpha=0.05, power=0.8, margin=margin),
            alpha=0.05,
            margin=margin,
        )
        for t in kept
    ]
    return float(np.average(caught, weights=weights[kept]))


@pytest.mark.slow
@pytest.mark.parametrize(("n", "discordance", "margin"), [(500, 0.1, 0.02), (300, 0.05, 0.0)])
def test_the_reported_mde_is_caught_at_least_80_percent_of_the_time_on_average(n, discordance, margin):
    """The MDE is computed from the observed discordance, an estimate: at the observed rate itself the drop it
    reports is caught less than 80% of the time on average (Jensen); at the planning rate, at least 80%."""
    at_observed = _average_catch_rate(n, discordance, margin, lambda t, size: t / size)
    at_planning = _average_catch_rate(n, discordance, margin, stats.planning_discordance)
    assert at_observed < 0.8 <= at_planning < 0.83
