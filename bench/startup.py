"""Start-up of the `evalgate` command: what the supervising parent process (evalgate/process/supervisor.py) costs.

Whole processes, as users feel them: `python -m evalgate ARGS` (the supervisor forks the command) against the
same command run in one process (`evalgate.cli.main`, no supervisor), alternated, median of each. Two commands:
`--version` (start-up only) and `run` of a small suite (an instant python target).

    PYTHONPATH=. python3 bench/startup.py [--repeat 15] [--cases 50]

Goal: a ratio of at most 1.05 for `run` (the fork itself is about a millisecond).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
UNSUPERVISED = "import sys; from evalgate.cli import main; sys.exit(main(sys.argv[1:]))"


def small_suite(folder: Path, cases: int) -> None:
    (folder / "model.py").write_text("def predict(x):\n    return x.upper()\n")
    lines = [json.dumps({"id": f"c{i}", "input": f"c{i}", "expected": f"C{i}"}) for i in range(cases)]
    (folder / "cases.jsonl").write_text("\n".join(lines) + "\n")
    (folder / "evalgate.yaml").write_text(
        "suite: bench\ndatasets: [cases.jsonl]\nprovider: {type: python, target: model.py:predict}\n"
    )


def seconds(argv: list[str], cwd: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    began = time.perf_counter()
    subprocess.run(argv, cwd=cwd, env=env, check=True, capture_output=True)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--cases", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        small_suite(folder, args.cases)
        commands = {
            "--version": ["--version"],
            "run": ["run", "--quiet", "--no-cache", "--output", "results.json"],
        }
        for name, command in commands.items():
            timings: dict[str, list[float]] = {"supervised": [], "one process": []}
            for _ in range(args.repeat):  # alternated, so a busy moment of the machine hits both
                timings["supervised"].append(seconds([sys.executable, "-m", "evalgate", *command], folder))
                timings["one process"].append(seconds([sys.executable, "-c", UNSUPERVISED, *command], folder))
            medians = {kind: statistics.median(values) for kind, values in timings.items()}
            ratio = medians["supervised"] / medians["one process"]
            print(
                f"{name:10s} supervised {1000 * medians['supervised']:7.1f} ms   one process "
                f"{1000 * medians['one process']:7.1f} ms   ratio {ratio:.3f}"
            )


if __name__ == "__main__":
    main()
