#!/usr/bin/env python3
"""Play a repository's history through evalgate, offline: main's baseline, a harmless PR, a regressing PR.

    python3 examples/digits-classifier/demo.py [--out out/demo]

Each step copies this example into the output folder, changes the training recipe as a pull request would,
and runs the real `evalgate` command line. The reports land in the output folder.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent

STEPS = [
    ("main", "the model on main: its results are the baseline", {}),
    ("pr-1-reseed", "pull request 1: retrain with another random seed", {"seed": 12}),
    (
        "pr-2-no-occlusion",
        "pull request 2: drop occlusion augmentation to halve training time",
        {"augment": ["noise"]},
    ),
]
EXPECTED = {"pr-1-reseed": {0}, "pr-2-no-occlusion": {1}}  # pass (or warn), then fail


def checkout(step_dir: Path, changes: dict) -> Path:
    """A copy of the example with the step's training recipe, like a branch checked out."""
    if step_dir.exists():
        shutil.rmtree(step_dir)
    shutil.copytree(HERE, step_dir, ignore=shutil.ignore_patterns("__pycache__", "demo.py", ".evalgate"))
    recipe = step_dir / "models" / "training.yaml"
    text = recipe.read_text()
    for key, value in changes.items():
        lines = [f"{key}: {value}" if line.startswith(f"{key}:") else line for line in text.splitlines()]
        text = "\n".join(lines) + "\n"
    recipe.write_text(text)
    return step_dir


def evalgate(*args: str) -> int:
    command = [sys.executable, "-m", "evalgate", *args]
    print("$ evalgate " + " ".join(args), flush=True)
    return subprocess.run(command, cwd=REPO).returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "out" / "demo"), help="where the results and reports go")
    out = Path(parser.parse_args().out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    baseline = out / "main" / "results.json"
    unexpected = []
    for name, story, changes in STEPS:
        print(f"\n== {name}: {story}", flush=True)
        step = checkout(out / name / "repo", changes)
        config = str(step / "evalgate.yaml")
        if name == "main":
            code = evalgate(
                "run", "--config", config, "--output", str(baseline), "--label", "main", "--quiet"
            )
            if code != 0:
                unexpected.append(f"{name}: evalgate run exited {code}")
            continue
        code = evalgate(
            "check",
            "--config",
            config,
            "--baseline",
            str(baseline),
            "--label",
            name,
            "--quiet",
            "--output",
            str(out / name / "results.json"),
            "--report",
            str(out / name / "report.md"),
            "--json",
            str(out / name / "verdict.json"),
            "--html",
            str(out / name / "report.html"),
        )
        print(f"   exit code {code}; report: {out / name / 'report.md'}")
        if code not in EXPECTED[name]:
            unexpected.append(f"{name}: the gate exited {code}, expected {sorted(EXPECTED[name])}")
    print()
    if unexpected:
        print("demo: unexpected outcome: " + "; ".join(unexpected), file=sys.stderr)
        return 1
    print(
        f"demo: as expected, the harmless retrain passed and the regression failed. Reports in {out}/*/report.md"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
