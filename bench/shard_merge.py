"""Scale of a sharded run: N cases (default 20,000) run whole and as S shards (default 4), the shards merged.

Whole processes, as users run them: `evalgate run` (whole), `evalgate run --shard I/S` (each shard), `evalgate
merge`, then `evalgate gate` of the whole and of the merged file against the same baseline. Prints whether the
verdicts are identical (verdict, reasons, every metric row but the measured latencies), the merge's wall time and peak memory (its own
process, start-up included; goal < 2 s and < 300 MB), the same merge in process, the results file's size per
1,000 cases, and ratios against the baselines measured here: `evalgate --version` (start-up alone) and the whole
run.

    python3 bench/shard_merge.py [--cases 20000] [--shards 4] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CONFIG = """\
suite: scale
datasets: [eval]
provider: {type: python, target: model.py:predict}
concurrency: 8
metrics: [accuracy, f1, latency]
gate:
  accuracy: {max_drop: 0.005}
  f1_macro: {max_drop: 0.005}
"""
# deterministic answers: the case's own label, except a share of cases the model gets wrong
MODEL = """\
def predict(x):
    return x["label"] if x["n"] % {wrong} else "other"
"""


def write_suite(folder: Path, cases: int, wrong: int) -> None:
    (folder / "eval").mkdir(parents=True, exist_ok=True)
    (folder / "evalgate.yaml").write_text(CONFIG)
    (folder / "model.py").write_text(MODEL.replace("{wrong}", str(wrong)))
    labels = ["cat", "dog", "bird", "fish"]
    with open(folder / "eval" / "cases.jsonl", "w") as out:
        for n in range(cases):
            label = labels[n * 7 % 4]
            case = {"id": f"case-{n:06d}", "category": f"c{n % 5}", "input": {"n": n, "label": label}}
            out.write(json.dumps({**case, "expected": label}) + "\n")


def evalgate(folder: Path, *argv: str) -> tuple[float, float, int]:
    """Run `python -m evalgate ARGV` in `folder`: (wall seconds, peak resident MB of that process, exit code)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-P", "-m", "evalgate", *argv], cwd=folder, env=env)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_maxrss / 1024, process.returncode


def comparable(verdict: dict, timing: set[str]) -> dict:
    """What must be identical: the verdict, its reasons and every metric row but the timing ones (latencies are
    measured afresh by each run, sharded or not)."""
    rows = [row for row in verdict["metrics"] if row["metric"] not in timing]
    return {**{key: verdict[key] for key in ("verdict", "exit_code", "headline", "reasons")}, "metrics": rows}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=20000)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3, help="merges timed (the best is reported)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="evalgate-shard-bench-") as scratch:
        folder = Path(scratch)
        write_suite(folder, args.cases, wrong=50)
        baseline_run = evalgate(folder, "run", "-q", "--no-cache", "-o", "baseline.json")
        write_suite(folder, args.cases, wrong=20)  # the change under test: more cases wrong
        whole_wall, whole_mb, _ = evalgate(folder, "run", "-q", "--no-cache", "-o", "whole.json")
        shard_walls = []
        names = []
        for index in range(1, args.shards + 1):
            names.append(f"shard-{index}.json")
            wall, _, code = evalgate(
                folder, "run", "-q", "--no-cache", "--shard", f"{index}/{args.shards}", "-o", names[-1]
            )
            assert code == 0, f"shard {index} exited {code}"
            shard_walls.append(wall)
        merges = [evalgate(folder, "merge", *names, "-o", "merged.json") for _ in range(args.repeat)]
        assert all(code == 0 for _, _, code in merges), merges
        startup = min(evalgate(folder, "--version")[0] for _ in range(args.repeat))
        for name in ("whole", "merged"):
            evalgate(
                folder,
                "gate",
                "--current",
                f"{name}.json",
                "--baseline",
                "baseline.json",
                "--json",
                f"v-{name}.json",
            )
        verdicts = [json.loads((folder / f"v-{name}.json").read_text()) for name in ("whole", "merged")]
        keys = json.loads((folder / "whole.json").read_text())["metric_keys"]
        timing = {key for key, info in keys.items() if info.get("timing")}
        identical = comparable(verdicts[0], timing) == comparable(verdicts[1], timing)

        os.chdir(folder)  # the merge in process, without start-up and imports
        from evalgate.config import load_config
        from evalgate.merge import merge_shards

        config = load_config(folder / "evalgate.yaml")
        merge_shards(names, config)  # imports and warm-up
        in_process = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            merge_shards(names, config)
            in_process.append(time.perf_counter() - start)

        merge_wall = min(wall for wall, _, _ in merges)
        merge_mb = max(mb for _, mb, _ in merges)
        whole_kb = (folder / "whole.json").stat().st_size / 1024
        shards_kb = sum((folder / name).stat().st_size for name in names) / 1024
        print(f"cases {args.cases}, shards {args.shards}; baseline run {baseline_run[0]:.2f} s")
        print(f"verdict identical (verdict, headline, reasons, every metric row but latency): {identical}")
        print(f"  whole: {verdicts[0]['verdict']}: {verdicts[0]['headline']}")
        print(f"  merged: {verdicts[1]['verdict']}: {verdicts[1]['headline']}")
        print(
            f"whole run {whole_wall:.2f} s ({whole_mb:.0f} MB); shards {', '.join(f'{w:.2f}' for w in shard_walls)} s"
        )
        print(
            f"merge (whole process, best of {args.repeat}): {merge_wall:.2f} s "
            f"(runs {', '.join(f'{w:.2f}' for w, _, _ in merges)}), peak {merge_mb:.0f} MB"
        )
        print(
            f"  ratio to `evalgate --version` ({startup:.2f} s): {merge_wall / startup:.1f}x; "
            f"ratio to the whole run: {merge_wall / whole_wall:.2f}x"
        )
        print(f"merge in process: {min(in_process):.2f} s (runs {', '.join(f'{t:.2f}' for t in in_process)})")
        print(
            f"results file: {whole_kb / args.cases * 1000:.0f} KB per 1,000 cases "
            f"(whole {whole_kb / 1024:.1f} MB; the {args.shards} shards {shards_kb / 1024:.1f} MB together)"
        )
        return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
