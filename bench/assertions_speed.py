"""What per-case assertions and an output transform cost a run, whole process, as users feel it.

`evalgate run` of an N-case suite (a python model that answers `Intent: <input>`) three ways, each repeated and
the best time kept: the baseline (`metrics: [contains]`, the expected text in the output), the same with five
deterministic assertions a case (`icontains`, `not-contains`, `regex`, `starts-with`, `contains-any`) and `metrics: [contains, assertions]`, and that again with a Jinja2 `transform:`. Prints the seconds and the
ratios against the baseline (start-up, reading and checking the dataset, scoring included).

    python3 bench/assertions_speed.py [--cases 5000] [--repeat 3]
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
ASSERTIONS = [
    {"type": "icontains", "value": "INTENT"},
    {"type": "not-contains", "value": "sorry"},
    {"type": "regex", "value": r"^Intent: \w+ \d+$"},
    {"type": "starts-with", "value": "Intent"},
    {"type": "contains-any", "value": ["billing", "refund"]},
]


def write(folder: Path, cases: int, *, asserted: bool, transform: bool) -> Path:
    rows = []
    for i in range(cases):
        row = {"id": f"c{i}", "input": f"billing {i}", "expected": f"billing {i}"}
        if asserted:
            row["assert"] = ASSERTIONS
        rows.append(json.dumps(row))
    (folder / "cases.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (folder / "model.py").write_text("def predict(x):\n    return 'Intent: ' + x\n", encoding="utf-8")
    metrics = "[contains, assertions]" if asserted else "[contains]"
    shape = "  transform: 'output | trim'\n" if transform else ""
    config = folder / "evalgate.yaml"
    config.write_text(
        f"suite: bench\ndatasets: [cases.jsonl]\nprovider:\n  type: python\n  target: model.py:predict\n{shape}"
        f"metrics: {metrics}\nconcurrency: 8\n",
        encoding="utf-8",
    )
    return config


def run_once(config: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "evalgate", "run", "--config", str(config), "--output", str(config.parent / "r.json"), "-q"],
        env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(done.stdout + done.stderr)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    variants = {
        "baseline (contains)": {"asserted": False, "transform": False},
        "5 assertions a case": {"asserted": True, "transform": False},
        "5 assertions + transform": {"asserted": True, "transform": True},
    }
    with tempfile.TemporaryDirectory() as tmp:
        configs = {}
        for name, how in variants.items():
            folder = Path(tmp) / name.split()[0].replace("(", "")
            folder.mkdir(exist_ok=True)
            configs[name] = write(folder, args.cases, **how)
        best = {name: float("inf") for name in variants}
        for _ in range(args.repeat):  # interleaved, so a busy moment of the machine hits every variant alike
            for name, config in configs.items():
                best[name] = min(best[name], run_once(config))
    base = best["baseline (contains)"]
    print(f"evalgate run of {args.cases:,} cases, best of {args.repeat} (whole process):")
    for name, seconds in best.items():
        extra = (seconds - base) / args.cases * 1e6
        print(f"  {name:26s} {seconds:7.2f} s   ratio {seconds / base:5.2f}   +{extra:7.1f} µs a case")


if __name__ == "__main__":
    main()
