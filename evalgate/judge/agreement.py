"""Agreement between a judge and people: weighted kappa, Krippendorff's alpha, Spearman, exact and within-one
agreement, confusion matrices, and percentile bootstrap intervals over labelled items.

The unit of evidence is a labelled item. An item holds one or more human ratings of one criterion; the judge's
rating is compared with each of them (so an item with three raters contributes three pairs), and the bootstrap
resamples whole items, all of an item's pairs together.

- Quadratic-weighted Cohen's kappa over the scale's categories: 1 − Σ w·O / Σ w·E with w = (i − j)², O the
  observed and E the chance confusion matrix; equal to scikit-learn's
  `cohen_kappa_score(human, judge, weights="quadratic", labels=scale)`. With two categories it is the plain kappa.
- Krippendorff's alpha (interval distance for scores, nominal for categories) from the coincidence matrix;
  equal to the `krippendorff` package's `alpha(reliability_data, level_of_measurement=...)`.
- Spearman's rank correlation (scipy.stats.spearmanr) of the pairs.
A statistic that is undefined on the data (every label the same: no variance to agree on) is None, never a
number that would pass a threshold.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

DEFAULT_RESAMPLES = 1000


@dataclass(frozen=True)
class LabelledItem:
    """One item's ratings of one criterion: the human ratings and the judge's, as category indexes."""

    id: str
    human: tuple[int, ...]
    judge: int


def _confusions(items: Sequence[LabelledItem], k: int) -> np.ndarray:
    """Per item, the k×k counts of (human, judge) pairs, flattened: shape (items, k²)."""
    counts = np.zeros((len(items), k * k))
    for row, item in enumerate(items):
        for human in item.human:
            counts[row, human * k + item.judge] += 1
    return counts


def _coincidences(items: Sequence[LabelledItem], k: int, *, with_judge: bool) -> np.ndarray:
    """Per item, its k×k coincidence contributions (Krippendorff): each ordered pair of values from different
    raters, weighted 1/(m − 1) for an item with m values; items with a single value contribute nothing."""
    rows = np.zeros((len(items), k * k))
    for row, item in enumerate(items):
        values = list(item.human) + ([item.judge] if with_judge else [])
        m = len(values)
        if m < 2:
            continue
        tally = np.bincount(values, minlength=k).astype(float)
        pairs = np.outer(tally, tally) - np.diag(tally)
        rows[row] = (pairs / (m - 1)).ravel()
    return rows


def _kappa_of(confusion: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted kappa of confusion matrices (..., k, k); NaN where it is undefined."""
    total = confusion.sum(axis=(-2, -1), keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = confusion.sum(axis=-1, keepdims=True) * confusion.sum(axis=-2, keepdims=True) / total
        observed = (weights * confusion).sum(axis=(-2, -1))
        chance = (weights * expected).sum(axis=(-2, -1))
        return np.where(chance > 0, 1.0 - observed / chance, np.nan)


def _alpha_of(coincidence: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """Krippendorff's alpha of coincidence matrices (..., k, k); NaN where it is undefined."""
    n_c = coincidence.sum(axis=-1)
    n = n_c.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        observed = (coincidence * delta).sum(axis=(-2, -1))
        expected = (n_c[..., :, None] * n_c[..., None, :] * delta).sum(axis=(-2, -1))
        return np.where((expected > 0) & (n > 1), 1.0 - (n - 1) * observed / expected, np.nan)


def quadratic_weights(k: int) -> np.ndarray:
    index = np.arange(k)
    return (index[:, None] - index[None, :]).astype(float) ** 2


def nominal_weights(k: int) -> np.ndarray:
    return 1.0 - np.eye(k)


def weighted_kappa(items: Sequence[LabelledItem], k: int) -> float | None:
    """Quadratic-weighted kappa over k ordered categories (None when undefined)."""
    confusion = _confusions(items, k).sum(axis=0).reshape(k, k)
    return _finite(_kappa_of(confusion, quadratic_weights(k)))


def krippendorff_alpha(
    items: Sequence[LabelledItem], k: int, *, with_judge: bool, level: str = "interval"
) -> float | None:
    """Krippendorff's alpha of the human ratings (and the judge's, as one more rater, with `with_judge`)."""
    coincidence = _coincidences(items, k, with_judge=with_judge).sum(axis=0).reshape(k, k)
    return _finite(_alpha_of(coincidence, _delta(k, level)))


def _delta(k: int, level: str) -> np.ndarray:
    return quadratic_weights(k) if level == "interval" else nominal_weights(k)


def spearman(human: Sequence[float], judge: Sequence[float]) -> float | None:
    """Spearman's rank correlation (scipy), None when either side is constant or there are under 2 pairs."""
    if len(human) < 2 or len(set(human)) < 2 or len(set(judge)) < 2:
        return None
    from scipy.stats import spearmanr

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _finite(spearmanr(human, judge).statistic)


def _finite(value: Any) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def interval(samples: np.ndarray, confidence: float) -> tuple[float | None, float | None]:
    """The percentile interval of bootstrap samples; None when a tenth or more of them were undefined."""
    defined = samples[np.isfinite(samples)]
    if len(samples) == 0 or len(defined) < 0.9 * len(samples):
        return None, None
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(defined, [tail, 100.0 - tail])
    return float(low), float(high)


def estimate(value: float | None, samples: np.ndarray | None, confidence: float) -> dict[str, Any]:
    """{"value", "ci_low", "ci_high"} for a statistic and its bootstrap samples."""
    if value is None or samples is None:
        return {"value": value, "ci_low": None, "ci_high": None}
    low, high = interval(samples, confidence)
    return {"value": value, "ci_low": low, "ci_high": high}


def resample_weights(n: int, resamples: int, seed: int) -> np.ndarray:
    """How often each of n items is drawn in each bootstrap resample: shape (resamples, n), rows sum to n."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(n, np.full(n, 1.0 / n), size=resamples).astype(float)


def agreement(
    items: Sequence[LabelledItem],
    labels: Sequence[Any],
    *,
    level: str = "interval",
    resamples: int = DEFAULT_RESAMPLES,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """Every agreement statistic of the judge with people on one criterion, with bootstrap intervals.

    `labels` are the categories in order (a scale's scores, or names); item ratings are indexes into them.
    `level` is "interval" for scores (quadratic kappa, interval alpha, within-one agreement) or "nominal" for
    unordered categories (kappa and alpha count any disagreement as one).
    """
    k = len(labels)
    n = len(items)
    pairs = sum(len(item.human) for item in items)
    weights = quadratic_weights(k) if level == "interval" else nominal_weights(k)
    delta = _delta(k, level)
    rows = _item_rows(items, k)
    confusion = rows.confusion.sum(axis=0).reshape(k, k)
    # ranks and means on the category indexes (labels are in order; a numeric scale's means are shifted back)
    human_values = [h for item in items for h in item.human]
    judge_values = [item.judge for item in items for _ in item.human]
    numeric = all(isinstance(label, int | float) and not isinstance(label, bool) for label in labels)
    kappa = _finite(_kappa_of(confusion, weights)) if n else None
    exact = float(rows.gaps[:, 0].sum() / pairs) if pairs else None
    within = float(rows.gaps.sum() / pairs) if pairs and level == "interval" else None
    rho = spearman(human_values, judge_values) if level == "interval" else None
    alpha_humans = alpha_judge = None
    if rows.humans is not None and rows.with_judge is not None:
        alpha_humans = _finite(_alpha_of(rows.humans.sum(axis=0).reshape(k, k), delta))
        alpha_judge = _finite(_alpha_of(rows.with_judge.sum(axis=0).reshape(k, k), delta))
    samples: dict[str, np.ndarray | None] = dict.fromkeys(
        ("kappa", "exact", "within_one", "spearman", "alpha_humans", "alpha_with_judge")
    )
    if n and resamples:
        samples.update(
            _resampled(items, rows, weights, delta, resamples, seed, with_spearman=rho is not None)
        )
    mean_human = mean_judge = None
    if numeric and level == "interval" and pairs:
        mean_human = float(np.mean([labels[h] for h in human_values]))
        mean_judge = float(np.mean([labels[j] for j in judge_values]))
    return {
        "items": n,
        "pairs": pairs,
        "raters": max((len(item.human) for item in items), default=0),
        "kappa": estimate(kappa, samples["kappa"], confidence),
        "alpha_humans": estimate(alpha_humans, samples["alpha_humans"], confidence),
        "alpha_with_judge": estimate(alpha_judge, samples["alpha_with_judge"], confidence),
        "spearman": estimate(rho, samples["spearman"], confidence),
        "exact": estimate(exact, samples["exact"], confidence),
        "within_one": estimate(within, samples["within_one"], confidence),
        "mean_human": mean_human,
        "mean_judge": mean_judge,
        "bias": None if mean_human is None or mean_judge is None else mean_judge - mean_human,
        "confusion": {"labels": list(labels), "matrix": confusion.astype(int).tolist()},
    }


@dataclass
class _ItemRows:
    """Per item, the counts each statistic sums: a bootstrap draw weights these rows (resample_weights)."""

    confusion: np.ndarray  # (n, k*k): the item's (human, judge) pairs
    gaps: np.ndarray  # (n, 2): its pairs that agree exactly, and within one
    humans: np.ndarray | None  # (n, k*k): coincidences among people (several raters), else None
    with_judge: np.ndarray | None  # (n, k*k): coincidences with the judge as one more rater


def _item_rows(items: Sequence[LabelledItem], k: int) -> _ItemRows:
    several = any(len(item.human) > 1 for item in items)
    return _ItemRows(
        confusion=_confusions(items, k),
        gaps=np.array(
            [[sum(abs(h - item.judge) == d for h in item.human) for d in (0, 1)] for item in items],
            dtype=float,
        ).reshape(len(items), 2),
        humans=_coincidences(items, k, with_judge=False) if several else None,
        with_judge=_coincidences(items, k, with_judge=True) if several else None,
    )


def _resampled(
    items: Sequence[LabelledItem],
    rows: _ItemRows,
    weights: np.ndarray,
    delta: np.ndarray,
    resamples: int,
    seed: int,
    *,
    with_spearman: bool,
) -> dict[str, np.ndarray]:
    """Each statistic of `agreement` over `resamples` bootstrap draws of the items."""
    k = weights.shape[0]
    draws = resample_weights(len(items), resamples, seed)
    drawn_pairs = draws @ np.array([len(item.human) for item in items], dtype=float)
    samples = {
        "kappa": _kappa_of((draws @ rows.confusion).reshape(-1, k, k), weights),
        "exact": (draws @ rows.gaps[:, 0]) / drawn_pairs,
        "within_one": (draws @ rows.gaps.sum(axis=1)) / drawn_pairs,
    }
    if rows.humans is not None and rows.with_judge is not None:
        samples["alpha_humans"] = _alpha_of((draws @ rows.humans).reshape(-1, k, k), delta)
        samples["alpha_with_judge"] = _alpha_of((draws @ rows.with_judge).reshape(-1, k, k), delta)
    if with_spearman:
        samples["spearman"] = _spearman_samples(
            [np.array(item.human, dtype=float) for item in items],
            [np.full(len(item.human), float(item.judge)) for item in items],
            draws,
        )
    return samples


def _spearman_samples(
    human: Sequence[np.ndarray], judge: Sequence[np.ndarray], draws: np.ndarray
) -> np.ndarray:
    """Spearman's rho on each resample of items, all resamples at once; `human[i]` and `judge[i]` are item i's
    paired values. A resample repeats an item's pairs as often as it was drawn; ranks are the average ranks of
    the repeated values (as scipy's rankdata gives), so rho is the Pearson correlation of the weighted ranks."""
    sizes = [len(values) for values in human]
    weights = draws[:, np.repeat(np.arange(len(human)), sizes)]  # (resamples, pairs): copies of each pair
    total = weights.sum(axis=1, keepdims=True)

    def centred_ranks(values: np.ndarray) -> np.ndarray:
        distinct, index = np.unique(values, return_inverse=True)
        counts = weights @ (index[:, None] == np.arange(len(distinct))[None, :])  # copies of each value
        ranks = (np.cumsum(counts, axis=1) - counts + (counts + 1.0) / 2.0)[:, index]
        return ranks - (weights * ranks).sum(axis=1, keepdims=True) / total

    rx, ry = centred_ranks(np.concatenate(human)), centred_ranks(np.concatenate(judge))
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = (weights * rx * ry).sum(axis=1) / np.sqrt(
            (weights * rx * rx).sum(axis=1) * (weights * ry * ry).sum(axis=1)
        )
    return np.where(np.isfinite(rho), rho, np.nan)


def rank_correlation(
    human: Sequence[float],
    judge: Sequence[float],
    *,
    resamples: int = DEFAULT_RESAMPLES,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """Spearman's rho of one value pair per item, with a bootstrap interval over items."""
    rho = spearman(human, judge)
    samples = None
    if rho is not None and resamples:
        draws = resample_weights(len(human), resamples, seed)
        samples = _spearman_samples(
            [np.array([h], dtype=float) for h in human], [np.array([j], dtype=float) for j in judge], draws
        )
    return estimate(rho, samples, confidence)
