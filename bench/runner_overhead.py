"""Runner overhead: N cases of a model taking L ms each, at concurrency C, through the real python provider.

The ideal wall time is N*L/C; the ratio wall/ideal shows what the runner, the provider and the progress
reporting add. Measured for an async target (asyncio.sleep) and a sync one (time.sleep in the thread pool),
with and without the CI progress line; and the cost per case of an instant model, without and with the journal
of finished cases (evalgate/journal.py: one write per case, an fsync a second), alternated 3 times.

    PYTHONPATH=. python3 bench/runner_overhead.py [--cases 2000] [--latency-ms 50] [--concurrency 32]
                                                  [--command]  (also the command provider's workers)

Goal: a ratio of at most 1.10 at the defaults.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import sys
import tempfile
import time
from pathlib import Path

from evalgate.config import ProviderConfig
from evalgate.contracts.cases import Case
from evalgate.journal import Journal
from evalgate.options import check_options
from evalgate.progress import LineProgress
from evalgate.providers import create_provider, provider_class
from evalgate.runner import run_cases


async def async_model(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return "ok"


def sync_model(seconds: float) -> str:
    time.sleep(seconds)
    return "ok"


# a command-provider worker that sleeps `input` seconds per request
SLEEP_WORKER = """
import json, sys, time
for line in sys.stdin:
    request = json.loads(line)
    time.sleep(request["input"])
    print(json.dumps({"id": request["id"], "output": "ok"}), flush=True)
"""


def provider_config(type_name: str, **options: object) -> ProviderConfig:
    """A provider section as the config loader checks it (defaults filled in from the provider's OPTIONS)."""
    checked = check_options(options, provider_class(type_name).OPTIONS, file=__file__, context=type_name)
    return ProviderConfig(type=type_name, name="bench", options=checked, file=__file__)


def python_target(function: str) -> ProviderConfig:
    return provider_config("python", target=f"{Path(__file__).name}:{function}")


def command_workers() -> ProviderConfig:
    return provider_config("command", command=[sys.executable, "-c", SLEEP_WORKER])


async def measure(
    config: ProviderConfig,
    cases: list[Case],
    concurrency: int,
    progress: bool,
    journal: Journal | None = None,
) -> float:
    provider = create_provider(config, Path(__file__).parent)
    await provider.start(concurrency)
    try:
        outcome = await run_cases(
            cases,
            provider,
            concurrency=concurrency,
            timeout=60.0,
            progress=LineProgress(io.StringIO()) if progress else None,
            on_finished=journal.record if journal is not None else None,
        )
    finally:
        await provider.close()
        if journal is not None:
            journal.close()
    failed = [r.error for r in outcome.results if not r.ok]
    if failed:
        raise SystemExit(f"{len(failed)} cases failed, first: {failed[0]}")
    return outcome.wall_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--command", action="store_true", help="also measure the command provider's workers")
    args = parser.parse_args()
    latency = args.latency_ms / 1000
    cases = [Case(id=f"c-{i}", input=latency) for i in range(args.cases)]
    ideal = args.cases * latency / args.concurrency
    print(f"N={args.cases} L={args.latency_ms:g}ms C={args.concurrency}: ideal N*L/C = {ideal:.3f}s")
    variants = [
        ("python async (asyncio.sleep)", python_target("async_model")),
        ("python sync (time.sleep)", python_target("sync_model")),
    ]
    if args.command:
        variants.append(("command (JSONL workers)", command_workers()))
    for label, config in variants:
        for progress in (False, True):
            wall = asyncio.run(measure(config, cases, args.concurrency, progress))
            with_progress = "with progress line" if progress else "no progress       "
            print(f"  {label:29} {with_progress}  wall {wall:.3f}s  ratio {wall / ideal:.3f}")
    instant = [Case(id=f"c-{i}", input=0.0) for i in range(args.cases * 5)]
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(3):
            plain = asyncio.run(measure(python_target("async_model"), instant, args.concurrency, True))
            journal = Journal.open(Path(folder, "results.json.journal.jsonl"), truncate_to=0, header={})
            journaled = asyncio.run(
                measure(python_target("async_model"), instant, args.concurrency, True, journal)
            )
            print(
                f"  cost with an instant async model: {plain / len(instant) * 1e6:.1f} us per case; "
                f"journaled {journaled / len(instant) * 1e6:.1f} us (ratio {journaled / plain:.2f})"
            )


if __name__ == "__main__":
    main()
