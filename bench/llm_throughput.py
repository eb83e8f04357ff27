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

The cases are driven by a simple asyncio worker pool (one task per slot, like the runner's contract);
switch to evalgate.runner.run_cases once it lands.
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

from evalgate.config import ProviderConfig  # noqa: E402
from evalgate.model import Case  # noqa: E402
from evalgate.options import Option, check_options  # noqa: E402
from evalgate.providers import provider_class  # noqa: E402
from evalgate.providers.llm_common import LLMProvider, RunSettings  # noqa: E402

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


def make_provider(url: str, folder: Path, cache: bool) -> LLMProvider:
    cls = provider_class("anthropic")
    options = {
        "type": "anthropic",
        "model": MODEL,
        "base_url": url,
        "max_tokens": 64,
        "system": "Answer in one line. Category: {{ category }}.",
    }
    spec = {"type": Option((str,), required=True), **cls.OPTIONS}
    checked = check_options(options, spec, file=str(folder / "evalgate.yaml"), context="provider")
    checked.pop("type")
    provider = cls(ProviderConfig("anthropic", "default", checked, str(folder / "evalgate.yaml")), folder)
    assert isinstance(provider, LLMProvider)
    provider.configure_run(settings=RunSettings(cache_dir=folder / ".evalgate/cache" if cache else None))
    return provider


def make_cases(n: int) -> list[Case]:
    return [
        Case(id=f"c{i}", input=f"question number {i} about the refund policy", category=f"k{i % 4}")
        for i in range(n)
    ]


async def drive(
    provider: LLMProvider, cases: list[Case], concurrency: int, *, warm_up: bool = False
) -> tuple[float, int, float]:
    """Run every case through `provider.complete` from `concurrency` tasks; return (wall seconds, errors).

    `warm_up` makes one call first (not timed): the SDK's one-time import (about a second) is not throughput.
    """
    await provider.start(concurrency)
    if warm_up:
        await provider.complete(Case(id="warm-up", input="warm up"))
    pending = list(reversed(cases))
    errors = 0

    async def worker() -> None:
        nonlocal errors
        while pending:
            case = pending.pop()
            try:
                await provider.complete(case)
            except Exception:
                errors += 1

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    await provider.close()
    return wall, errors, cpu


async def drive_plain_http(url: str, cases: list[Case], concurrency: int) -> float:
    """The floor: the HTTP client the SDK itself uses (httpx2, else httpx), posting the same bodies."""
    try:
        import httpx2 as http
    except ImportError:  # an SDK version built on httpx
        import httpx as http

    pending = list(reversed(cases))
    async with http.AsyncClient(limits=http.Limits(max_connections=concurrency)) as client:

        async def worker() -> None:
            while pending:
                case = pending.pop()
                body = {
                    "model": MODEL,
                    "max_tokens": 64,
                    "messages": [{"role": "user", "content": case.input}],
                }
                response = await client.post(url + "/v1/messages", json=body)
                response.raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started


def cached_run(url: str, folder: Path, n: int, concurrency: int) -> None:
    """The child process of phase 2: every case from the cache."""
    provider = make_provider(url, folder, cache=True)
    _, errors, _ = asyncio.run(drive(provider, make_cases(n), concurrency))
    print(json.dumps({"errors": errors, **provider.cache_stats}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--cached-child", nargs=2, metavar=("URL", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    n, latency, c = args.n, args.latency, args.concurrency
    if args.cached_child:
        cached_run(args.cached_child[0], Path(args.cached_child[1]), n, c)
        return
    os.environ.setdefault("ANTHROPIC_API_KEY", "sk-ant-bench-not-a-real-key")
    ideal = n * latency / c
    print(f"N={n} L={latency * 1000:.0f} ms C={c}: ideal N*L/C = {ideal:.3f} s")

    server = FakeServer(latency, max_concurrent=c + 8)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            cases = make_cases(n)
            floor = asyncio.run(drive_plain_http(server.url, cases, c))
            before = server.stats()
            provider = make_provider(server.url, folder, cache=True)
            wall, errors, cpu = asyncio.run(drive(provider, cases, c, warm_up=True))
            after = server.stats()
            calls = after["calls"] - before["calls"] - 1
            server_cpu = after["cpu_s"] - before["cpu_s"]
            print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (ratios need idle CPUs)")
            print(f"plain HTTP:   {floor:.3f} s  ratio to ideal {floor / ideal:.3f}")
            print(
                f"uncached run: {wall:.3f} s  ratio to ideal {wall / ideal:.3f} (goal <= 1.10), "
                f"to plain HTTP {wall / floor:.3f}; calls {calls} (+1 warm-up), errors {errors}"
            )
            print(
                f"              CPU per call: client {cpu / n * 1000:.2f} ms, "
                f"server {server_cpu / n * 1000:.2f} ms; "
                f"the client's event loop is busy {cpu / wall * 100:.0f}% of the wall time"
            )

            calls_before = server.stats()["calls"]
            started = time.perf_counter()
            child = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--n",
                    str(n),
                    "--concurrency",
                    str(c),
                    "--cached-child",
                    server.url,
                    str(folder),
                ],
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
            provider = make_provider(server.url, Path(tmp), cache=False)
            wall, errors, _ = asyncio.run(drive(provider, make_cases(n), c, warm_up=True))
            stats = server.stats()
            limiter = provider.limiter
            assert limiter is not None
            print(
                f"rate limited (server cap {cap} < C): {wall:.3f} s, "
                f"ratio to N*L/cap {wall / (n * latency / cap):.3f}; "
                f"429s {stats['rate_limited']}, errors {errors}, limiter halvings {limiter.decreases}, "
                f"final limit {limiter.limit:.1f}"
            )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
