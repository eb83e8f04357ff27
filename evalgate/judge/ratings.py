"""Pairwise preferences: Bradley–Terry ratings on the Elo scale, bootstrap intervals, Wilson intervals.

Bradley–Terry: P(i beats j) = 1 / (1 + 10^((R_j − R_i) / 400)). A tie counts as half a win for each side.
Ratings are the maximum-likelihood fit (Newton's method on the concave log-likelihood), centred so that their
mean is 1000. When the maximum does not exist (a player won or lost every game, or the players do not form one
connected league), every pair of players gets one virtual tie, keeping the ratings finite; the fit says so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

ELO_SCALE = 400.0 / math.log(10.0)  # rating points per unit of natural log-odds
RATING_MEAN = 1000.0


@dataclass(frozen=True)
class Game:
    """One comparison: `score` is 1 when `a` won, 0 when `b` won, 0.5 for a tie."""

    a: str
    b: str
    score: float


@dataclass
class RatingFit:
    ratings: dict[str, float]
    regularized: bool  # virtual ties were added because the maximum-likelihood ratings are infinite


def _tables(games: Sequence[Game], index: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """wins[i, j] = points i scored against j; played[i, j] = games between i and j."""
    n = len(index)
    wins = np.zeros((n, n))
    played = np.zeros((n, n))
    for game in games:
        i, j = index[game.a], index[game.b]
        wins[i, j] += game.score
        wins[j, i] += 1.0 - game.score
        played[i, j] += 1.0
        played[j, i] += 1.0
    return wins, played


def _strongly_connected(wins: np.ndarray) -> bool:
    """Whether every player beat (or tied), directly or through others, every other: the MLE then exists."""
    reach = (wins > 0) | np.eye(len(wins), dtype=bool)
    for _ in range(max(1, math.ceil(math.log2(max(len(wins), 2))))):
        reach = reach | ((reach.astype(np.int64) @ reach.astype(np.int64)) > 0)
    return bool(reach.all())


def _log_likelihood(theta: np.ndarray, wins: np.ndarray) -> float:
    diff = theta[:, None] - theta[None, :]
    return float(-(wins * np.logaddexp(0.0, -diff)).sum())


def _newton(wins: np.ndarray, played: np.ndarray) -> np.ndarray:
    """Maximum-likelihood strengths (natural log scale, last player fixed at 0) for a connected table."""
    n = len(wins)
    theta = np.zeros(n)
    if n == 1:
        return theta
    current = _log_likelihood(theta, wins)
    for _ in range(200):
        p = 1.0 / (1.0 + np.exp(-(theta[:, None] - theta[None, :])))
        gradient = wins.sum(axis=1) - (played * p).sum(axis=1)
        weight = played * p * (1.0 - p)
        information = np.diag(weight.sum(axis=1)) - weight
        step = np.zeros(n)
        step[:-1] = np.linalg.solve(information[:-1, :-1], gradient[:-1])
        size = 1.0
        while (
            True
        ):  # backtracking: the log-likelihood is concave, a short enough Newton step always improves it
            candidate = theta + size * step
            value = _log_likelihood(candidate, wins)
            if value >= current or size < 1e-10:
                break
            size /= 2.0
        theta, current = candidate, value
        if np.abs(size * step).max() < 1e-14:
            break
    return theta


def _fit_tables(wins: np.ndarray, played: np.ndarray) -> tuple[np.ndarray, bool]:
    regularized = not _strongly_connected(wins)
    if regularized:
        virtual = 1.0 - np.eye(len(wins))
        wins, played = wins + 0.5 * virtual, played + virtual
    theta = _newton(wins, played) * ELO_SCALE
    return theta - theta.mean() + RATING_MEAN, regularized


def fit_bradley_terry(games: Sequence[Game], players: Sequence[str] | None = None) -> RatingFit:
    """Bradley–Terry ratings on the Elo scale (mean 1000) from pairwise games; ties count half."""
    names = list(players) if players is not None else sorted({p for g in games for p in (g.a, g.b)})
    index = {name: i for i, name in enumerate(names)}
    wins, played = _tables(games, index)
    ratings, regularized = _fit_tables(wins, played)
    return RatingFit(dict(zip(names, ratings.tolist(), strict=True)), regularized)


def bootstrap_ratings(
    groups: Sequence[Sequence[Game]],
    players: Sequence[str],
    *,
    resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict[str, tuple[float, float]]:
    """Percentile intervals of the ratings, resampling the groups (one group = the games of one case)."""
    index = {name: i for i, name in enumerate(players)}
    per_group = [_tables(group, index) for group in groups]
    wins_stack = np.stack([w for w, _ in per_group])
    played_stack = np.stack([p for _, p in per_group])
    rng = np.random.default_rng(seed)
    count = len(groups)
    samples = np.empty((resamples, len(players)))
    for r in range(resamples):
        weights = np.bincount(rng.integers(0, count, count), minlength=count).astype(float)
        wins = np.tensordot(weights, wins_stack, axes=1)
        played = np.tensordot(weights, played_stack, axes=1)
        samples[r], _ = _fit_tables(wins, played)
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(samples, [tail, 100.0 - tail], axis=0)
    return {name: (float(low[i]), float(high[i])) for name, i in index.items()}


def win_probability(rating_i: float, rating_j: float) -> float:
    """P(i beats j) under the fitted ratings."""
    return 1.0 / (1.0 + 10.0 ** ((rating_j - rating_i) / 400.0))


def wilson_interval(successes: float, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion (0, 1 when n is 0)."""
    if n == 0:
        return 0.0, 1.0
    z = NormalDist().inv_cdf(1.0 - (1.0 - confidence) / 2.0)
    share = successes / n
    centre = (share + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(share * (1 - share) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)
