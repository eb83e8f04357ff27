"""evalgate.judge.agreement against its references: scikit-learn's cohen_kappa_score, the krippendorff package and
scipy's spearmanr, on random labels with uneven numbers of raters, and the bootstrap's own properties."""

from __future__ import annotations

import krippendorff
import numpy as np
import pytest
from scipy.stats import spearmanr
from sklearn.metrics import cohen_kappa_score

from evalgate.judge.agreement import (
    LabelledItem,
    agreement,
    krippendorff_alpha,
    rank_correlation,
    weighted_kappa,
)


def random_items(seed: int, n: int, k: int, max_raters: int) -> list[LabelledItem]:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, k, n)
    items = []
    for i in range(n):
        raters = int(rng.integers(1, max_raters + 1))
        human = tuple(int(np.clip(truth[i] + rng.integers(-1, 2), 0, k - 1)) for _ in range(raters))
        items.append(LabelledItem(str(i), human, int(np.clip(truth[i] + rng.integers(-2, 3), 0, k - 1))))
    return items


def reliability(items: list[LabelledItem], with_judge: bool) -> np.ndarray:
    raters = max(len(item.human) for item in items)
    data = np.full((raters + with_judge, len(items)), np.nan)
    for column, item in enumerate(items):
        data[: len(item.human), column] = item.human
        if with_judge:
            data[-1, column] = item.judge
    return data


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize(("k", "max_raters"), [(5, 1), (5, 3), (2, 2), (7, 4), (3, 2)])
def test_kappa_alpha_and_spearman_equal_the_references(seed, k, max_raters):
    items = random_items(seed, n=int(20 + 37 * seed), k=k, max_raters=max_raters)
    human = [h for item in items for h in item.human]
    judge = [item.judge for item in items for _ in item.human]
    labels = list(range(k))
    assert weighted_kappa(items, k) == pytest.approx(
        cohen_kappa_score(human, judge, weights="quadratic", labels=labels), abs=1e-12
    )
    nominal = agreement(items, labels, level="nominal", resamples=0)
    assert nominal["kappa"]["value"] == pytest.approx(
        cohen_kappa_score(human, judge, labels=labels), abs=1e-12
    )
    interval = agreement(items, labels, resamples=0)
    assert interval["spearman"]["value"] == pytest.approx(spearmanr(human, judge).statistic, abs=1e-12)
    if max_raters > 1:
        for level, result in (("interval", interval), ("nominal", nominal)):
            for with_judge, key in ((False, "alpha_humans"), (True, "alpha_with_judge")):
                expected = krippendorff.alpha(
                    reliability_data=reliability(items, with_judge),
                    level_of_measurement=level,
                    value_domain=labels,
                )
                assert result[key]["value"] == pytest.approx(expected, abs=1e-10)
                assert krippendorff_alpha(items, k, with_judge=with_judge, level=level) == pytest.approx(
                    expected, abs=1e-10
                )


def test_the_bootstrap_is_seeded_and_covers_the_estimate():
    items = random_items(3, n=120, k=5, max_raters=2)
    first = agreement(items, [1, 2, 3, 4, 5], seed=11, resamples=500)
    again = agreement(items, [1, 2, 3, 4, 5], seed=11, resamples=500)
    other = agreement(items, [1, 2, 3, 4, 5], seed=12, resamples=500)
    assert first == again and first["kappa"] != other["kappa"]
    for key in ("kappa", "spearman", "exact", "within_one", "alpha_humans", "alpha_with_judge"):
        entry = first[key]
        assert entry["ci_low"] <= entry["value"] <= entry["ci_high"], key


def test_rank_correlation_of_continuous_values_matches_scipy():
    rng = np.random.default_rng(4)
    x = rng.normal(size=60)
    y = x + rng.normal(size=60)
    result = rank_correlation(list(x), list(y), resamples=300, seed=1)
    assert result["value"] == pytest.approx(spearmanr(x, y).statistic, abs=1e-12)
    assert result["ci_low"] < result["value"] < result["ci_high"]
    assert rank_correlation([1.0, 1.0, 1.0], [1.0, 2.0, 3.0])["value"] is None  # constant: undefined
