"""Paired statistics for the gate: exact McNemar, chunked paired (cluster) bootstrap, Holm, MDE.

Every test is one-sided towards "worse": a small p-value is evidence the candidate is worse than the baseline.
Differences are always `current - baseline`; `higher_is_better` says which sign is worse.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats as sps

# Elements (resamples x units) drawn per chunk: small enough for the counts to stay in cache.
CHUNK_ELEMENTS = 1 << 18


def _one_blas_thread() -> contextlib.AbstractContextManager[Any]:
    """Limit BLAS to one thread when threadpoolctl is installed.

    The bootstrap's matrix products are thin (a few rows by k columns): BLAS threads only add overhead, and on
    a busy machine their spin-waits cost seconds (measured: 0.5 s instead of 2.3 s at 10k x 10k x 8)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - optional speed-up
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


@dataclass(frozen=True)
class PairedStat:
    """The paired comparison of one metric: the difference, its interval, a one-sided p-value for "worse"."""

    delta: float  # current - baseline over the paired cases
    ci_low: float | None
    ci_high: float | None
    p_value: float | None  # one-sided: small when the candidate is worse
    se: float | None  # standard error of delta (bootstrap SD, or the paired/clustered SE)
    method: str  # mcnemar_exact | bootstrap | cluster_bootstrap | index_bootstrap | cluster_index_bootstrap
    n: int
    discordant: tuple[int, int] | None = None  # (worse, better) pairs, for McNemar
    higher_is_better: bool = True
    boot: np.ndarray | None = field(default=None, repr=False)  # bootstrap distribution of delta

    def p_beyond(self, margin: float) -> float | None:
        """One-sided p-value that the candidate is worse by more than `margin` (H0: drop <= margin)."""
        if self.discordant is not None:
            return mcnemar_margin(*self.discordant, n=self.n, margin=margin)
        if self.boot is None or len(self.boot) == 0:
            return None
        return _percentile_p(self.boot, self.higher_is_better, margin)


def input_seed(*parts: bytes | str) -> int:
    """A 64-bit seed derived from the inputs, so the same inputs always draw the same resamples."""
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return int.from_bytes(digest.digest()[:8], "little")


def mcnemar_one_sided(worse: int, better: int) -> float:
    """Exact one-sided McNemar: P(X >= worse), X ~ Binomial(worse + better, 1/2); 1.0 without discordance."""
    total = worse + better
    if total == 0:
        return 1.0
    return float(sps.binom.sf(worse - 1, total, 0.5))


def mcnemar_margin(worse: int, better: int, *, n: int, margin: float) -> float:
    """One-sided test that the paired drop (worse - better) / n exceeds `margin` (H0: drop <= margin).

    Conditional on the discordant pairs, with the discordance taken at its observed rate r, the boundary of
    H0 gives a pair the probability q = (r + margin) / (2 r) of being a "worse" one: p = P(X >= worse),
    X ~ Binomial(worse + better, q). margin 0 is exact McNemar; when r <= margin no drop can exceed it.
    """
    total = worse + better
    if margin <= 0 or total == 0:
        return mcnemar_one_sided(worse, better)
    rate = total / n
    if rate <= margin:
        return 1.0
    return float(sps.binom.sf(worse - 1, total, (rate + margin) / (2 * rate)))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the order given."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def _z(probability: float) -> float:
    return float(sps.norm.ppf(probability))


def _worse_sign(higher_is_better: bool) -> float:
    """Multiply a difference by this to get "gain" (positive = better)."""
    return 1.0 if higher_is_better else -1.0


def is_zero_one(values: np.ndarray) -> bool:
    return bool(np.all((values == 0.0) | (values == 1.0)))


def mcnemar_paired(
    baseline: np.ndarray, current: np.ndarray, *, higher_is_better: bool, confidence: float
) -> PairedStat:
    """Pass/fail scores paired by case: exact one-sided McNemar, a Wald interval for the paired difference."""
    n = len(current)
    gain = (current - baseline) * _worse_sign(higher_is_better)
    worse = int(np.count_nonzero(gain < 0))
    better = int(np.count_nonzero(gain > 0))
    delta = float(np.mean(current - baseline)) if n else 0.0
    # variance of the mean of per-case differences d in {-1, 0, 1}: ((b + c)/n - delta^2) / n
    se = math.sqrt(max((worse + better) / n - delta * delta, 0.0) / n) if n else 0.0
    half = _z(0.5 + confidence / 2) * se
    return PairedStat(
        delta=delta,
        ci_low=delta - half,
        ci_high=delta + half,
        p_value=mcnemar_one_sided(worse, better),
        se=se,
        method="mcnemar_exact",
        n=n,
        discordant=(worse, better),
        higher_is_better=higher_is_better,
    )


def _cluster_units(diffs: np.ndarray, clusters: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Sum the per-case differences by resampling unit (a cluster, or a case): (sums (G, k), sizes (G,))."""
    if clusters is None:
        return diffs, np.ones(len(diffs))
    codes, inverse = np.unique(clusters, return_inverse=True)
    sums = np.zeros((len(codes), diffs.shape[1]))
    np.add.at(sums, inverse, diffs)
    return sums, np.bincount(inverse, minlength=len(codes)).astype(np.float64)


def bootstrap_means(
    diffs: np.ndarray, *, resamples: int, seed: int, clusters: np.ndarray | None = None
) -> np.ndarray:
    """Bootstrap distribution of the mean of each column of `diffs` (n cases x k metrics): (resamples, k).

    Units (cases, or clusters when given) are drawn with replacement; the resampled mean is
    sum(count_u * sum_u) / sum(count_u * size_u). Counts come from chunks of integer draws and a bincount,
    so memory stays at a few MB whatever the size, and all k metrics share the same resamples (one matmul).
    """
    diffs = np.asarray(diffs, dtype=np.float64)
    if diffs.ndim == 1:
        diffs = diffs[:, None]
    sums, sizes = _cluster_units(diffs, clusters)
    units = len(sizes)
    rng = np.random.default_rng(seed)
    out = np.empty((resamples, diffs.shape[1]))
    rows = max(1, CHUNK_ELEMENTS // max(units, 1))
    with _one_blas_thread():
        for start in range(0, resamples, rows):
            count = min(rows, resamples - start)
            draws = rng.integers(0, units, size=(count, units))
            draws += (np.arange(count) * units)[:, None]
            counts = (
                np.bincount(draws.ravel(), minlength=count * units).reshape(count, units).astype(np.float64)
            )
            out[start : start + count] = (counts @ sums) / (counts @ sizes)[:, None]
    return out


def from_bootstrap(
    delta: float,
    boot: np.ndarray,
    *,
    higher_is_better: bool,
    confidence: float,
    method: str,
    n: int,
) -> PairedStat:
    """Percentile interval and a one-sided p-value from the same bootstrap distribution of the difference.

    The p-value inverts the percentile interval: with the resampled gains g*_b (signed differences, positive =
    better), p = (1 + #{g*_b >= 0}) / (B + 1), the share of resamples that are not worse. So p < alpha exactly
    when the one-sided (1 - alpha) percentile bound, the (1 - 2 alpha) interval's worse end, excludes 0 (up to
    the +1), whatever the skew of the distribution. `PairedStat.p_beyond(margin)` counts #{g*_b >= -margin}
    (H0: drop <= margin). A shifted (null-centred) test reflects the distribution around the estimate instead,
    and on a skewed one (tail percentiles) can call a change significant while the interval includes 0.
    """
    boot = boot[np.isfinite(boot)]
    if len(boot) == 0:
        return PairedStat(delta, None, None, None, None, method, n, higher_is_better=higher_is_better)
    low, high = np.quantile(boot, [0.5 - confidence / 2, 0.5 + confidence / 2])
    return PairedStat(
        delta=delta,
        ci_low=float(low),
        ci_high=float(high),
        p_value=_percentile_p(boot, higher_is_better, 0.0),
        se=float(np.std(boot, ddof=1)) if len(boot) > 1 else 0.0,
        method=method,
        n=n,
        higher_is_better=higher_is_better,
        boot=boot,
    )


def _percentile_p(boot: np.ndarray, higher_is_better: bool, margin: float) -> float:
    """Bootstrap test of H0: drop <= margin consistent with the percentile interval: the share of resamples
    whose drop is at most the margin (ties, such as the many exact zeros of identical runs, count for H0)."""
    drops = -_worse_sign(higher_is_better) * boot
    kept = int(np.count_nonzero(drops <= margin + 1e-12 * max(1.0, abs(margin))))
    return float(min(1.0, (1 + kept) / (len(boot) + 1)))


def index_resamples(
    n: int, *, resamples: int, seed: int, clusters: np.ndarray | None = None
) -> Iterator[np.ndarray | list[np.ndarray]]:
    """Chunks of resampled case indices: 2-D arrays (rows x n), or lists of index arrays for clusters."""
    rng = np.random.default_rng(seed)
    rows = max(1, CHUNK_ELEMENTS // max(n, 1))
    if clusters is None:
        for start in range(0, resamples, rows):
            yield rng.integers(0, n, size=(min(rows, resamples - start), n))
        return
    _, inverse = np.unique(clusters, return_inverse=True)
    members = [np.flatnonzero(inverse == unit) for unit in range(inverse.max() + 1)]
    for start in range(0, resamples, rows):
        chunk = []
        for draw in rng.integers(0, len(members), size=(min(rows, resamples - start), len(members))):
            chunk.append(np.concatenate([members[unit] for unit in draw]))
        yield chunk


def corpus_bootstrap(
    statistic: Callable[[np.ndarray | list[np.ndarray]], np.ndarray],
    n: int,
    *,
    resamples: int,
    seed: int,
    clusters: np.ndarray | None = None,
) -> np.ndarray:
    """Bootstrap distribution of a whole-set statistic: `statistic(chunk)` returns one value (or one row of
    values) per resample of the chunk."""
    parts = [
        np.asarray(statistic(chunk), dtype=np.float64)
        for chunk in index_resamples(n, resamples=resamples, seed=seed, clusters=clusters)
    ]
    return np.concatenate(parts) if parts else np.empty(0)


def has_clusters(clusters: Sequence[object | None]) -> bool:
    """True when at least two cases share a cluster key."""
    keys = [c for c in clusters if c is not None]
    return len(keys) != len(set(keys))


def cluster_codes(ids: Sequence[str], clusters: Sequence[object | None]) -> np.ndarray:
    """One integer per case: its cluster's code; a case without a cluster is its own cluster."""
    labels = [f"c:{c}" if c is not None else f"i:{case_id}" for case_id, c in zip(ids, clusters, strict=True)]
    _, codes = np.unique(np.array(labels, dtype=object).astype(str), return_inverse=True)
    return codes


def mde_normal(
    se: float | None, *, alpha: float, power: float, margin: float = 0.0
) -> tuple[float | None, float | None]:
    """(gate MDE, test MDE) under a normal approximation with standard error `se`.

    The gate fails when the drop is significantly beyond the margin (drop > margin + z_alpha * se), so the
    drop it catches with probability `power` is margin + (z_alpha + z_power) * se; the test against no
    change alone needs (z_alpha + z_power) * se.
    """
    if se is None or se <= 0:
        return None, None
    test = (_z(1 - alpha) + _z(power)) * se
    return margin + test, test


@functools.lru_cache(maxsize=64)
def _critical_worse(n: int, alpha: float, margin: float = 0.0) -> np.ndarray:
    """Smallest number of worse pairs b that `mcnemar_margin` finds significant, for totals 0..n of discordant
    pairs (total + 1 when none is)."""
    totals = np.arange(n + 1)
    feasible = totals > n * margin
    q = (
        np.where(feasible, (totals / n + margin) / (2 * np.maximum(totals, 1) / n), 0.5)
        if margin > 0
        else 0.5
    )
    b = np.asarray(sps.binom.isf(alpha, totals, q), dtype=np.int64) + 1
    for _ in range(3):  # isf works on floats: settle the exact boundary
        b = np.where(sps.binom.sf(b - 1, totals, q) >= alpha, b + 1, b)
        b = np.where((b > 0) & (sps.binom.sf(b - 2, totals, q) < alpha), b - 1, b)
    b = np.where(feasible | (margin <= 0), np.minimum(b, totals + 1), totals + 1)
    b.flags.writeable = False
    return b


def mcnemar_power(n: int, discordance: float, drop: float, *, alpha: float, margin: float = 0.0) -> float:
    """Probability that the gate fails (drop significantly beyond the margin, and observed beyond it) for a
    true drop.

    Pairs are worse with probability p_w = max((discordance + drop) / 2, drop) and better with p_w - drop.
    """
    worse_p = max((discordance + drop) / 2, drop)
    better_p = worse_p - drop
    disc = min(worse_p + better_p, 1.0)
    if disc <= 0 or n <= 0:
        return 0.0
    # numbers of discordant pairs outside mean +- 12 SD carry less than 1e-30 of the probability
    spread = 12 * math.sqrt(n * disc * (1 - disc)) + 5
    low, high = max(0, math.floor(n * disc - spread)), min(n, math.ceil(n * disc + spread))
    totals = np.arange(low, high + 1)
    weights = sps.binom.pmf(totals, n, disc)
    need = np.maximum(
        _critical_worse(n, alpha, margin)[low : high + 1],
        np.floor((totals + n * margin) / 2 + 1e-9).astype(np.int64) + 1,
    )
    caught = sps.binom.sf(need - 1, totals, min(worse_p / disc, 1.0))
    return float(np.sum(weights * caught))


# The posterior quantile of the discordance rate the pass/fail MDE is computed at (see planning_discordance).
DISCORDANCE_QUANTILE = 0.6


def planning_discordance(discordant: int, n: int) -> float:
    """The discordance rate to compute a pass/fail MDE at: the 60% quantile of its Jeffreys posterior,
    Beta(discordant + 1/2, n - discordant + 1/2), a little above the observed rate.

    The observed rate is itself an estimate, and the gate's power is concave in the MDE around 80%: an MDE
    computed at the observed rate is caught 79.4% of the time on average over the rates a 500-case suite
    observes (10% true discordance, 2-point margin). At the 60% quantile it is caught 80.9% (83.7% at 100
    cases, 80.5% at 2,000), so the MDE a PR reports is honest in expectation."""
    return float(sps.beta.ppf(DISCORDANCE_QUANTILE, discordant + 0.5, n - discordant + 0.5))


def mde_mcnemar(
    n: int, discordance: float, *, alpha: float, power: float, margin: float = 0.0
) -> float | None:
    """Smallest true drop (a proportion) the gate catches with probability `power`; None when none can be."""
    if mcnemar_power(n, discordance, 1.0, alpha=alpha, margin=margin) < power:
        return None
    low, high = 0.0, 1.0
    for _ in range(30):  # to 1e-9
        mid = (low + high) / 2
        if mcnemar_power(n, discordance, mid, alpha=alpha, margin=margin) >= power:
            high = mid
        else:
            low = mid
    return high
