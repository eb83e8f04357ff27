"""Throughput of the anthropic provider against a local fake Anthropic server (no network, no vendor).

    python3 bench/llm_throughput.py [--n 2000] [--latency 0.05] [--concurrency 32]

The server (tests/llm/fake_servers.py, in a child process so it does not share our GIL) answers after a fixed
latency L and answers 429 with retry-after above a concurrency cap. Phases, each on the real provider (SDK,
templates, limiter, retries, cache):

1. uncached: N cases at concurrency C; wall time against the ideal N·L/C (goal <= 1.10) and against plain
   httpx posting the same requests in the same process (the floor of the HTTP stack);
2. cached: a fresh process runs the same N cases from the cache; calls made (goal 0) and the wall time of the
   whole process (goal <= 1.5 s at N=2000);
3. rate limited: the server's cap is below C; the adaptive limiter must finish every case without an error.

Each phase is a suite written into a temporary folder (evalgate.yaml and a JSONL dataset) and run as the CLI
does: evalgate.config.load_config, evalgate.datasets.load_cases, evalgate.runner.run_suite (phase 3 uses
evalgate.runner.run_cases on the same provider, to read its limiter afterwards).
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

from evalgate import runner  # noqa: E402
from evalgate.config import SuiteConfig, load_config  # noqa: E402
from evalgate.datasets import load_cases  # noqa: E402
from evalgate.providers import create_provider  # noqa: E402
from evalgate.runner import RunOutcome  # noqa: E402

MODEL = "claude-haiku-4-5"


class FakeServer:
    """tests/llm/fake_servers.py in a child process."""

    def __init__(self, latency: float, max_concurrent: int, retry_after: str = "1") -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "tests/llm/fake_servers.py"),
                "--latency",
                str(latency),
                "--max-concurrent",
                str(max_concurrent),
                "--retry-after",
                retry_after,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()

    def stats(self) -> dict[str, int]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write("stats\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=10)


def write_suite(folder: Path, url: str, n: int, concurrency: int, *, cache: bool) -> SuiteConfig:
    """An anthropic suite of n cases in `folder`, loaded as the CLI loads it."""
    lines = (
        json.dumps(
            {"id": f"c{i}", "input": f"question number {i} about the refund policy", "category": f"k{i % 4}"}
        )
        for i in range(n)
    )
    (folder / "cases.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = {
        "suite": "throughput",
        "datasets": ["cases.jsonl"],
        "provider": {
            "type": "anthropic",
            "model": MODEL,
            "base_url": url,
            "max_tokens": 64,
            "system": "Answer in one line. Category: {{ category }}.",
        },
        "concurrency": concurrency,
        "cache": {"enabled": cache},
    }
    (folder / "evalgate.yaml").write_text(json.dumps(config), encoding="utf-8")  # JSON is YAML
    return load_config(folder / "evalgate.yaml")


def run_suite(config: SuiteConfig) -> tuple[RunOutcome, float]:
    """The suite through evalgate.runner.run_suite; returns the outcome and the CPU seconds it took."""
    cases = load_cases(config.datasets)
    cpu = time.process_time()
    outcome = asyncio.run(runner.run_suite(config, cases, progress=None))
    return outcome, time.process_time() - cpu


def errors_of(outcome: RunOutcome) -> int:
    return sum(result.error is not None for result in outcome.results)


def warm_up() -> None:
    """Import the SDK before timing: its one-time import (about a second) is not throughput."""
    import anthropic  # noqa: F401


async def drive_plain_http(url: str, n: int, concurrency: int) -> tuple[float, float]:
    """The floor: the HTTP client the SDK itself uses (httpx2, else httpx), posting the same bodies."""
    try:
        import httpx2 as http
    except ImportError:  # an SDK version built on httpx
        import httpx as http

    pending = list(range(n))
    async with http.AsyncClient(limits=http.Limits(max_connections=concurrency)) as client:

        async def worker() -> None:
            while pending:
                i = pending.pop()
                body = {
                    "model": MODEL,
                    "max_tokens": 64,
                    "messages": [{"role": "user", "content": f"question number {i} about the refund policy"}],
                }
                response = await client.post(url + "/v1/messages", json=body)
                response.raise_for_status()

        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started, time.process_time() - cpu


async def run_keeping_provider(config: SuiteConfig) -> tuple[RunOutcome, object]:
    """What run_suite does, keeping the provider to read its limiter afterwards."""
    cases = load_cases(config.datasets)
    provider = create_provider(config.provider, config.base_dir)
    provider.configure_run(config)
    await provider.start(config.concurrency)
    try:
        outcome = await runner.run_cases(
            cases, provider, concurrency=config.concurrency, timeout=config.timeout
        )
    finally:
        await provider.close()
    return outcome, provider


def cached_run(folder: Path) -> None:
    """The child process of phase 2: the same suite, every case from the cache."""
    outcome, _ = run_suite(load_config(folder / "evalgate.yaml"))
    print(json.dumps({"errors": errors_of(outcome), **(outcome.cache_stats or {})}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--cached-child", metavar="FOLDER", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cached_child:
        cached_run(Path(args.cached_child))
        return
    n, latency, c = args.n, args.latency, args.concurrency
    os.environ.setdefault("ANTHROPIC_API_KEY", "sk-ant-bench-not-a-real-key")
    ideal = n * latency / c
    print(f"N={n} L={latency * 1000:.0f} ms C={c}: ideal N*L/C = {ideal:.3f} s")
    warm_up()

    server = FakeServer(latency, max_concurrent=c + 8)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            config = write_suite(folder, server.url, n, c, cache=True)
            floor, floor_cpu = asyncio.run(drive_plain_http(server.url, n, c))
            before = server.stats()
            outcome, cpu = run_suite(config)
            after = server.stats()
            wall = outcome.wall_s
            calls = after["calls"] - before["calls"]
            server_cpu = after["cpu_s"] - before["cpu_s"]
            print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (ratios need idle CPUs)")
            print(
                f"plain HTTP:   {floor:.3f} s  ratio to ideal {floor / ideal:.3f}; "
                f"CPU per call {floor_cpu / n * 1000:.2f} ms"
            )
            print(
                f"uncached run: {wall:.3f} s  ratio to ideal {wall / ideal:.3f} (goal <= 1.10), "
                f"to plain HTTP {wall / floor:.3f}; calls {calls}, errors {errors_of(outcome)}"
            )
            print(
                f"              CPU per call: client {cpu / n * 1000:.2f} ms, "
                f"server {server_cpu / n * 1000:.2f} ms; "
                f"the client's event loop is busy {cpu / wall * 100:.0f}% of the wall time"
            )

            calls_before = server.stats()["calls"]
            started = time.perf_counter()
            child = subprocess.run(
                [sys.executable, __file__, "--cached-child", str(folder)],
                capture_output=True,
                text=True,
                check=True,
                env={**os.environ},
            )
            process_wall = time.perf_counter() - started
            result = json.loads(child.stdout.strip().splitlines()[-1])
            calls = server.stats()["calls"] - calls_before
            print(
                f"cached run:   whole process {process_wall:.3f} s (goal <= 1.5 s); calls {calls} (goal 0), "
                f"hits {result['hits']}, misses {result['misses']}, errors {result['errors']}"
            )
    finally:
        server.stop()

    cap = max(1, c // 2)
    server = FakeServer(latency, max_concurrent=cap, retry_after="1")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            config = write_suite(Path(tmp), server.url, n, c, cache=False)
            outcome, provider = asyncio.run(run_keeping_provider(config))
            stats = server.stats()
            limiter = provider.limiter  # type: ignore[attr-defined]
            print(
                f"rate limited (server cap {cap} < C): {outcome.wall_s:.3f} s, "
                f"ratio to N*L/cap {outcome.wall_s / (n * latency / cap):.3f}; "
                f"429s {stats['rate_limited']}, errors {errors_of(outcome)}, "
                f"limiter halvings {limiter.decreases}, final limit {limiter.limit:.1f}"
            )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
