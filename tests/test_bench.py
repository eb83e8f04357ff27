"""The benchmarks still run against the code as it is now (tiny sizes: this checks they work, not how fast)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from extrakit import requires_embeddings

from tests.conftest import ROOT

# each benchmark runs whole processes: the full suite only
pytestmark = pytest.mark.slow

SMALL = {
    "assertions_speed.py": ["--cases", "50", "--repeat", "1"],
    "calibration_stats.py": ["--items", "30", "--raters", "2", "--resamples", "50", "--repeat", "1"],
    "runner_overhead.py": ["--cases", "40", "--latency-ms", "5", "--concurrency", "4", "--command"],
    "stats_speed.py": ["--cases", "300", "--resamples", "200", "--metrics", "2", "--repeat", "1"],
    "gate_calibration.py": ["--prs", "20", "--sizes", "100"],
    "llm_throughput.py": [
        "--n",
        "40",
        "--latency",
        "0.01",
        "--concurrency",
        "4",
        "--repeat",
        "1",
        "--no-promptfoo",
    ],
    "startup.py": ["--repeat", "1", "--cases", "5"],
    "read_speed.py": ["--cases", "200", "--repeat", "1"],
    "shard_merge.py": ["--cases", "200", "--shards", "3", "--repeat", "1"],
    "slices_speed.py": ["--cases", "100", "--slices", "3", "--resamples", "200", "--repeat", "1"],
    "bertscore_speed.py": ["--pairs", "20", "--repeat", "1"],
}
NEEDS_EMBEDDINGS = {"bertscore_speed.py"}


@pytest.mark.parametrize(
    "script",
    [
        pytest.param(name, marks=requires_embeddings if name in NEEDS_EMBEDDINGS else ())
        for name in sorted(SMALL)
    ],
)
def test_the_benchmark_runs_and_prints_its_figures(script: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ANTHROPIC_API_KEY": "bench-key"}
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *SMALL[script]],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ratio" in result.stdout or "%" in result.stdout, result.stdout
