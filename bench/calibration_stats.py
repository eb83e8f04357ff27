"""Speed of the judge calibration's statistics: every agreement statistic of one criterion with its bootstrap
intervals (evalgate.judge.agreement.agreement: kappa, alpha among people and with the judge, Spearman, exact and
within-one agreement), against a baseline in the same process: the plain loop that recomputes quadratic kappa
(scikit-learn) and Spearman (scipy) on each resample.

    python3 bench/calibration_stats.py [--items 200] [--raters 3] [--resamples 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from evalgate.judge.agreement import LabelledItem, agreement, resample_weights


def labelled(items: int, raters: int, seed: int = 0) -> list[LabelledItem]:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 5, items)
    return [
        LabelledItem(
            str(i),
            tuple(int(np.clip(t + rng.integers(-1, 2), 0, 4)) for _ in range(raters)),
            int(np.clip(t + rng.integers(-1, 2), 0, 4)),
        )
        for i, t in enumerate(truth)
    ]


def loop_baseline(items: list[LabelledItem], resamples: int) -> list[tuple[float, float]]:
    """Kappa and Spearman recomputed on each resample's pooled pairs, one resample at a time."""
    from scipy.stats import spearmanr
    from sklearn.metrics import cohen_kappa_score

    draws = resample_weights(len(items), resamples, 0).astype(int)
    out = []
    for counts in draws:
        chosen = np.repeat(np.arange(len(items)), counts)
        human = [h for i in chosen for h in items[i].human]
        judge = [items[i].judge for i in chosen for _ in items[i].human]
        kappa = cohen_kappa_score(human, judge, weights="quadratic", labels=[0, 1, 2, 3, 4])
        out.append((kappa, spearmanr(human, judge).statistic))
    return out


def best(repeat: int, run) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--raters", type=int, default=3)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    items = labelled(args.items, args.raters)
    ours = best(args.repeat, lambda: agreement(items, [1, 2, 3, 4, 5], resamples=args.resamples))
    loop = best(args.repeat, lambda: loop_baseline(items, args.resamples))
    print(
        f"{args.items} items x {args.raters} raters, {args.resamples} resamples: agreement() {ours:.3f} s "
        f"(kappa, 2 alphas, Spearman, exact, within-one, all with intervals); "
        f"loop of sklearn kappa + scipy Spearman {loop:.3f} s; ratio loop/ours {loop / ours:.1f}x"
    )


if __name__ == "__main__":
    main()
