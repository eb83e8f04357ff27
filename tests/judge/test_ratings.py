"""Bradley–Terry ratings against the published reference and a direct maximum-likelihood fit with scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.stats import binomtest

from evalgate.judge.ratings import (
    Game,
    bootstrap_ratings,
    fit_bradley_terry,
    wilson_interval,
    win_probability,
)
from tests.conftest import reference_vectors

REFERENCE = reference_vectors()["pairwise"]


def gap(fit, a="A", b="B"):
    return fit.ratings[a] - fit.ratings[b]


def test_three_wins_one_loss_matches_the_reference_gap():
    fit = fit_bradley_terry([Game("A", "B", 1.0)] * 3 + [Game("A", "B", 0.0)])
    assert gap(fit) == pytest.approx(REFERENCE["three_wins_one_loss_rating_gap"], abs=1e-9)
    assert fit.regularized is False
    assert win_probability(fit.ratings["A"], fit.ratings["B"]) == pytest.approx(0.75, abs=1e-12)
    assert sum(fit.ratings.values()) / 2 == pytest.approx(1000.0)


def test_ties_count_half():
    two_wins_two_ties = fit_bradley_terry([Game("A", "B", 1.0)] * 2 + [Game("B", "A", 0.5)] * 2)
    assert gap(two_wins_two_ties) == pytest.approx(REFERENCE["three_wins_one_loss_rating_gap"], abs=1e-9)
    even = fit_bradley_terry([Game("A", "B", 1.0), Game("A", "B", 0.0), Game("A", "B", 0.5)])
    assert gap(even) == pytest.approx(0.0, abs=1e-9)


def _scipy_fit(games, players):
    """Direct maximum likelihood: minimize the negative log-likelihood over natural-scale strengths."""
    index = {p: i for i, p in enumerate(players)}
    rows = np.array([[index[g.a], index[g.b], g.score] for g in games])
    i, j, s = rows[:, 0].astype(int), rows[:, 1].astype(int), rows[:, 2]

    def nll(free):
        theta = np.append(free, 0.0)
        d = theta[i] - theta[j]
        return float(np.sum(s * np.logaddexp(0, -d) + (1 - s) * np.logaddexp(0, d)))

    def grad(free):
        theta = np.append(free, 0.0)
        p = 1 / (1 + np.exp(-(theta[i] - theta[j])))
        g = np.zeros(len(players))
        np.add.at(g, i, -(s - p))
        np.add.at(g, j, s - p)
        return g[:-1]

    result = minimize(nll, np.zeros(len(players) - 1), jac=grad, method="BFGS", options={"gtol": 1e-11})
    theta = np.append(result.x, 0.0) * 400 / math.log(10)
    return dict(zip(players, theta - theta.mean() + 1000, strict=True))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_matches_a_direct_scipy_maximum_likelihood_fit(seed):
    rng = np.random.default_rng(seed)
    players = ["p0", "p1", "p2", "p3", "p4"]
    true = rng.normal(0, 1, len(players))
    games = []
    for _ in range(300):
        a, b = rng.choice(len(players), 2, replace=False)
        p = 1 / (1 + math.exp(-(true[a] - true[b])))
        u = rng.random()
        score = 0.5 if rng.random() < 0.15 else float(u < p)
        games.append(Game(players[a], players[b], score))
    fit = fit_bradley_terry(games, players)
    reference = _scipy_fit(games, players)
    for name in players:
        assert fit.ratings[name] == pytest.approx(reference[name], abs=1e-4)
    # the fit solves the likelihood equations: each player's expected score equals its observed score
    observed = {p: 0.0 for p in players}
    expected = {p: 0.0 for p in players}
    for g in games:
        prob = win_probability(fit.ratings[g.a], fit.ratings[g.b])
        observed[g.a] += g.score
        observed[g.b] += 1 - g.score
        expected[g.a] += prob
        expected[g.b] += 1 - prob
    for name in players:
        assert expected[name] == pytest.approx(observed[name], abs=1e-9)


def test_a_cycle_of_wins_is_a_connected_league_with_equal_ratings():
    fit = fit_bradley_terry([Game("A", "B", 1.0), Game("B", "C", 1.0), Game("C", "A", 1.0)])
    assert fit.regularized is False
    assert fit.ratings == pytest.approx({"A": 1000.0, "B": 1000.0, "C": 1000.0}, abs=1e-9)
    chain = fit_bradley_terry([Game("A", "B", 1.0), Game("B", "C", 1.0)])  # nobody ever beat A
    assert chain.regularized is True


def test_a_clean_sweep_is_regularized_and_finite():
    fit = fit_bradley_terry([Game("A", "B", 1.0)] * 3)
    assert fit.regularized is True
    # one virtual tie: 3.5 points to 0.5
    assert gap(fit) == pytest.approx(400 * math.log10(7), abs=1e-9)
    disconnected = fit_bradley_terry([Game("A", "B", 1.0), Game("A", "B", 0.0), Game("C", "D", 0.5)])
    assert disconnected.regularized is True


def test_bootstrap_is_seeded_and_covers_the_estimate():
    groups = [[Game("A", "B", 1.0)]] * 14 + [[Game("A", "B", 0.0)]] * 6 + [[Game("A", "B", 0.5)]] * 4
    first = bootstrap_ratings(groups, ["A", "B"], resamples=300, seed=5)
    again = bootstrap_ratings(groups, ["A", "B"], resamples=300, seed=5)
    other = bootstrap_ratings(groups, ["A", "B"], resamples=300, seed=6)
    assert first == again
    assert first != other
    point = fit_bradley_terry([g for group in groups for g in group]).ratings
    for name in ("A", "B"):
        low, high = first[name]
        assert low < point[name] < high


@pytest.mark.parametrize(("k", "n"), [(0, 10), (3, 10), (8, 10), (10, 10), (57, 123)])
def test_wilson_interval_matches_scipy(k, n):
    reference = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    low, high = wilson_interval(k, n, 0.95)
    assert low == pytest.approx(reference.low, abs=1e-9)
    assert high == pytest.approx(reference.high, abs=1e-9)
