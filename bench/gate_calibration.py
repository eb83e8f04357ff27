"""Calibration of the gate: how often it fails a pull request that changed nothing, and how often it catches a
real drop of the size it reports as detectable (its MDE), next to a plain threshold gate.

Each simulated PR pairs a baseline and a candidate run of n pass/fail cases. With no true change, 10% of
the cases flip between the two runs, half from pass to fail and half from fail to pass (the accuracy does not
move on average: 85%). With a true drop d, pass->fail pairs have probability (0.10 + d)/2 and fail->pass
(0.10 - d)/2 (d above 0.10: pass->fail d, fail->pass none). The real compare() and decide() run on synthetic results dicts.

Gates compared (accuracy, max_drop 0.02):
  default        mode significance: fail when the drop is significantly beyond 2 points (exact, alpha 0.05)
  threshold      mode threshold: fail when the observed drop exceeds 2 points
  threshold+min  the same, plus min 0.80 (5 points under the true accuracy)
Each no-change PR reports `mde_gate` (the drop the gate fails on 80% of the time, margin included) and, as
"test alone", `mde` (the drop the test against no change detects 80% of the time, without the margin). The
"caught" row then simulates, for each of those PRs, one PR with a true drop of the very `mde_gate` it
reported: so it checks the MDE a PR reports (computed from its own observed discordance) catches >= 80% of
drops on average, not only the MDE of the median PR. The table shows the median reported MDEs.

    python3 bench/gate_calibration.py [--prs 1000] [--sizes 100 500 2000] [--quick]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from evalgate.config import STATS_OPTIONS, Rule, SuiteConfig
from evalgate.contracts.results import parse_results
from evalgate.contracts.versions import RESULTS_SCHEMA_VERSION
from evalgate.gate import decide
from evalgate.pairing import compare as compare_results
from evalgate.stats import mcnemar_power


def compare(current, baseline, config):
    """evalgate.pairing.compare of results dicts, each read as `evalgate gate` reads a results file."""
    read = [None if doc is None else parse_results(doc, file="bench results") for doc in (current, baseline)]
    return compare_results(read[0], read[1], config)


DISCORDANCE = 0.10
BOTH_PASS = 0.80
MARGIN = 0.02


def make_config(rules: list[Rule], mode: str) -> SuiteConfig:
    defaults = {name: option.default for name, option in STATS_OPTIONS.items()}
    return SuiteConfig(
        path=Path("evalgate.yaml"), base_dir=Path("."), suite="calibration", description="", datasets=[],
        providers=[], concurrency=1, timeout=1.0, repeats=1, seed=0, metrics=[], rules=rules,
        stats={**defaults, "mode": mode}, judge=None, cache={}, budget={}, prices={}, report={}, history={},
    )  # fmt: skip


GATES = {
    "default": make_config([Rule("accuracy", None, max_drop=MARGIN)], "significance"),
    "threshold": make_config([Rule("accuracy", None, max_drop=MARGIN)], "threshold"),
    "threshold+min": make_config([Rule("accuracy", None, min=0.80, max_drop=MARGIN)], "threshold"),
}


def results(ids: list[str], passed: np.ndarray) -> dict:
    accuracy = float(passed.mean())
    return {
        "schema_version": RESULTS_SCHEMA_VERSION,
        "suite": "calibration",
        "created_at": "2026-01-01T00:00:00Z",
        "signature": {"datasets": "d", "metrics": "m", "evalgate": "bench"},
        "metric_keys": {
            "accuracy": {"kind": "binary", "higher_is_better": True},
            "error_rate": {"kind": "binary", "higher_is_better": False},
        },
        "metrics": {"accuracy": {"value": accuracy}, "error_rate": {"value": 0.0}},
        "categories": {"all": {"accuracy": {"value": accuracy}, "error_rate": {"value": 0.0}}},
        "cases": [
            {
                "id": case_id,
                "category": "all",
                "error": None,
                "scores": {"accuracy": float(p), "error_rate": 0.0},
            }
            for case_id, p in zip(ids, passed, strict=True)
        ],
    }


def simulate_pr(rng: np.random.Generator, n: int, drop: float) -> tuple[dict, dict]:
    worse = max((DISCORDANCE + drop) / 2, drop)  # as stats.mcnemar_power: a drop above 10% is all pass->fail
    better = worse - drop
    kind = rng.choice(4, size=n, p=[BOTH_PASS, 1 - BOTH_PASS - worse - better, worse, better])
    base = (kind == 0) | (kind == 2)
    cur = (kind == 0) | (kind == 3)
    ids = [f"c-{i:05d}" for i in range(n)]
    return results(ids, cur), results(ids, base)


def run(n: int, drops: list[float], seed: int) -> tuple[dict[str, float], list[float], list[float]]:
    """Share of PRs (one per true drop) each gate fails, and the MDEs (gate, test alone) the default gate
    reported on each PR."""
    rng = np.random.default_rng(seed)
    fails = dict.fromkeys(GATES, 0)
    mdes, test_mdes = [], []
    for drop in drops:
        current, baseline = simulate_pr(rng, n, drop)
        comparison = compare(current, baseline, GATES["default"])
        accuracy = comparison.metric("accuracy")
        mdes.append(accuracy.mde_gate)
        test_mdes.append(accuracy.mde)
        # the rules a verdict applies are those compare() attached: thr+min needs its own comparison
        with_min = compare(current, baseline, GATES["threshold+min"])
        for name, config in GATES.items():
            compared = with_min if name == "threshold+min" else comparison
            judged = dataclasses.replace(compared, stats={**compared.stats, "mode": config.stats["mode"]})
            fails[name] += decide(judged, config).verdict == "fail"
    return {name: count / len(drops) for name, count in fails.items()}, mdes, test_mdes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prs", type=int, default=1000, help="simulated pull requests per size and scenario")
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 500, 2000])
    parser.add_argument("--quick", action="store_true", help="200 PRs per size and scenario")
    args = parser.parse_args()
    prs = 200 if args.quick else args.prs
    start = time.perf_counter()
    noise = 1.96 * (0.8 * 0.2 / prs) ** 0.5
    print(f"{prs} simulated PRs per row; 10% discordant pairs; margin (max_drop) {MARGIN:.2f}; alpha 0.05")
    print(f"(simulation noise: a true 80% rate reads 80% +- {noise:.1%} at 95%)")
    print(f"{'n':>5}  {'scenario':<22} {'default':>8} {'threshold':>10} {'thr+min':>8}   reported MDE")
    for n in args.sizes:
        null, mdes, test_mdes = run(n, [0.0] * prs, seed=n)
        reported = [m for m in mdes if m is not None]
        mde = statistics.median(reported)
        test_mde = statistics.median(m for m in test_mdes if m is not None)
        hit, _, _ = run(n, reported, seed=n + 1)
        exact = np.mean([mcnemar_power(n, DISCORDANCE, m, alpha=0.05, margin=MARGIN) for m in reported])
        for label, figures in (("no change: fail rate", null), (f"drop ~{mde * 100:.1f} pts: caught", hit)):
            print(
                f"{n:>5}  {label:<22} {figures['default']:>8.1%} {figures['threshold']:>10.1%} "
                f"{figures['threshold+min']:>8.1%}   {mde * 100:.1f} pts (test alone {test_mde * 100:.1f})"
            )
        print(f"{'':>5}  {'caught: exact expected':<22} {exact:>8.1%}")
    print("default gate targets: fail rate <= 1% with no change, catch >= 80% at the MDE each PR reported")
    print(f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
