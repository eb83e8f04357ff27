"""A change to the LLM path, measured: whole `evalgate run`s of two checkouts, alternating, on llm_throughput's suite.

    python3 bench/llm_ab.py BASELINE_CHECKOUT [--provider http] [--runs 10] [--n 2000] [--latency 0.05]
                                              [--concurrency 32]

This machine's figures move by a few hundredths of N·L/C from one run of llm_throughput.py to the next, more than
most changes are worth; runs of the change and of a baseline taken in turn, in the same minutes, on the same fake
server, compare them. BASELINE_CHECKOUT is another worktree of this repository (`git worktree add ../base REV`);
this checkout is the change. Both get their bytecode compiled first (where PYTHONDONTWRITEBYTECODE is set, a tree
without it compiles its modules in every measured process). Printed for each: the medians of the wall time ÷
N·L/C, of the time from the process's start to its first request and from its last answer to the process's end
(the fake server's clock), of the calls between them ÷ N·L/C, and of the process's CPU time; and the best ratio.
"""

from __future__ import annotations

import argparse
import compileall
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from llm_throughput import ROOT, FakeServer, child_env, evalgate_process, provider_section, write_suite


def one_run(checkout: Path, config: Path, server: FakeServer, ideal: float) -> tuple[float, ...]:
    """(wall ÷ ideal, ms before the first request, ms after the last answer, calls ÷ ideal, CPU ms)."""
    server.mark()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "evalgate", "run", "-q", "--config", str(config), "--output",
         str(config.parent / "results.json")],
        cwd=config.parent, env={**child_env(), "PYTHONPATH": str(checkout)}, capture_output=True, check=True,
    )  # fmt: skip
    ended = time.monotonic()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    seen = server.stats()
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return (
        (ended - started) / ideal,
        (seen["first_request_at"] - started) * 1000,
        (ended - seen["last_answer_at"]) * 1000,
        (seen["last_answer_at"] - seen["first_request_at"]) / ideal,
        cpu * 1000,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "baseline", type=Path, help="another checkout of this repository: the code before the change"
    )
    parser.add_argument("--provider", default="http", choices=["http", "openai", "anthropic"])
    parser.add_argument("--runs", type=int, default=10, help="runs of each checkout")
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    checkouts = {"baseline": args.baseline.resolve(), "this checkout": ROOT}
    for checkout in checkouts.values():
        compileall.compile_dir(str(checkout / "evalgate"), quiet=1)
    ideal = args.n * args.latency / args.concurrency
    measured: dict[str, list[tuple[float, ...]]] = {name: [] for name in checkouts}
    with tempfile.TemporaryDirectory() as tmp, FakeServer(args.latency) as server:
        folder = Path(tmp) / args.provider
        section = provider_section(args.provider, server.url, folder, args.latency)
        config = write_suite(folder, section, args.n, args.concurrency)
        evalgate_process(config)  # the SDK's headers kept: both checkouts read them
        for index in range(args.runs):
            order = list(checkouts) if index % 2 == 0 else list(checkouts)[::-1]
            for name in order:
                measured[name].append(one_run(checkouts[name], config, server, ideal))
    print(
        f"{args.provider}, N={args.n} L={args.latency * 1000:.0f} ms C={args.concurrency}, {args.runs} runs each:"
    )
    for name, runs in measured.items():
        median = [statistics.median(run[i] for run in runs) for i in range(5)]
        print(
            f"{name:13} ratio {median[0]:.3f} (best {min(run[0] for run in runs):.3f}) | before the first request "
            f"{median[1]:.0f} ms | after the last answer {median[2]:.0f} ms | calls {median[3]:.3f} | "
            f"CPU {median[4]:.0f} ms"
        )


if __name__ == "__main__":
    main()
