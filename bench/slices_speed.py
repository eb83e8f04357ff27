"""What slices cost the gate: compare() + decide() of a run against its baseline with `--slices` metadata values
(each case in one `metadata.group` slice and, every fourth, in a `tags` slice), against the same runs without
`slices:` timed in the same process (the ratio is the figure; seconds are noisy on a shared machine).

Both runs are scored by the real metrics (accuracy: McNemar, rougeL: paired bootstrap, the latency percentiles:
case-index resampling when gated, display-only otherwise), one slice rule per metric on the first slice.

    python3 bench/slices_speed.py [--cases 2000] [--slices 20] [--resamples 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from evalgate.config import STATS_OPTIONS, MetricConfig, Rule, SuiteConfig
from evalgate.contracts.cases import Case, CaseResult, Output
from evalgate.contracts.results import parse_results
from evalgate.gate import decide
from evalgate.metrics import build_metrics, metric_keys, score_results, summarize_slices
from evalgate.pairing import compare
from evalgate.results import build_results, case_record
from evalgate.slices import SliceSpec

SIGNATURE = {"datasets": "sha256:d", "metrics": "sha256:m", "evalgate": "bench", "sample": None, "repeats": 1}


def config(slices: bool, resamples: int) -> SuiteConfig:
    stats = {name: option.default for name, option in STATS_OPTIONS.items()} | {"resamples": resamples}
    rules = [Rule("accuracy", max_drop=0.02), Rule("rougeL", max_drop=0.02)]
    if slices:
        rules += [
            Rule("accuracy", slice="group=g0", max_drop=0.05),
            Rule("rougeL", slice="tag=t0", max_drop=0.05),
        ]
    specs = (SliceSpec("group"), SliceSpec(None)) if slices else ()
    return SuiteConfig(
        path=Path("evalgate.yaml"), base_dir=Path("."), suite="bench", description="", datasets=[], providers=[],
        concurrency=1, timeout=1.0, repeats=1, seed=0,
        metrics=[MetricConfig(name, {}, "evalgate.yaml") for name in ("accuracy", "rougeL", "latency")],
        rules=rules, stats=stats, judge=None, cache={}, budget={}, prices={}, report={}, history={}, slices=specs,
    )  # fmt: skip


def results(suite: SuiteConfig, cases: int, groups: int, worse: bool):
    built = build_metrics(suite)
    records = []
    for i in range(cases):
        wrong = (i % 7 == 0) or (worse and i % 11 == 0)
        case = Case(
            id=f"c{i:06d}",
            input=f"q{i}",
            expected=f"alpha beta gamma {i}",
            category="edge" if i % 5 == 0 else "typical",
            metadata={"group": f"g{i % groups}"},
            tags=(f"t{i % 3}",) if i % 4 == 0 else (),
        )
        output = Output("alpha delta" if wrong else f"alpha beta gamma {i}")
        records.append(case_record(CaseResult(case, output, None, 10.0 + (i * 37) % 50)))
    overall, categories = score_results(built, records)
    document = build_results(
        suite="bench", label=None, signature=SIGNATURE, git={}, run={},
        metric_keys=metric_keys(built), metrics=overall, categories=categories, cases=records,
        slices=summarize_slices(built, records, suite.slices),
    )  # fmt: skip
    return parse_results(document, file="bench"), built


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--slices", type=int, default=20, help="distinct values of metadata.group")
    parser.add_argument("--resamples", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    timings = {}
    for sliced in (False, True):
        suite = config(sliced, args.resamples)
        (base, built), (current, _) = (
            results(suite, args.cases, args.slices, worse) for worse in (False, True)
        )
        best = float("inf")
        for _ in range(args.repeat):
            start = time.perf_counter()
            verdict = decide(compare(current, base, suite, metrics=built), suite)
            best = min(best, time.perf_counter() - start)
        timings[sliced] = best
        print(
            f"{'with' if sliced else 'without'} slices: {best:.3f} s best of {args.repeat} "
            f"({len(verdict.comparison.slices)} slice rows, verdict {verdict.verdict})"
        )
    print(
        f"compare + decide of {args.cases:,} cases, {args.slices} group slices + 3 tag slices, "
        f"{args.resamples:,} resamples: ratio {timings[True] / timings[False]:.2f} (with slices / without)"
    )


if __name__ == "__main__":
    main()
