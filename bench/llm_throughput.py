"""The fast LLM path, side by side: evalgate's wall time per provider against the ideal, and against promptfoo.

    python3 bench/llm_throughput.py [--n 2000] [--latency 0.05] [--concurrency 32] [--repeat 3]
                                    [--providers python,http,openai,anthropic] [--promptfoo PATH | --no-promptfoo]

Every evalgate figure is a whole process, as a user runs it (`python -m evalgate run`: interpreter start, imports,
the SDK's import, the run, scoring, the results file), against a local fake API in a child process
(tests/providers/llm/fake_servers.py) that answers after L seconds on keep-alive connections. With --repeat K each figure
is measured K times and printed as a range. The phases:

1. start-up: `evalgate run` of N instant cases (a python target returning its input), beyond `python -c pass`
   (goal: under 0.5 s);
2. the floor: the same N requests sent by a bare client in a process of its own (bench/bare_client.py: h11 over
   asyncio as evalgate sends, and aiohttp, which it sent with before), whole process / ideal: what the server and
   machine allow a client with nothing else to do (the fake server's own CPU included);
   per provider, N cases at concurrency C: wall / ideal N*L/C (goal <= 1.15); the python provider's target sleeps
   L; http, openai and anthropic call the server, whose clock says where a run's fixed cost lies: the time from
   the process's start to its first request, and from its last answer to the process's end. For openai and
   anthropic the first run of the suite, which imports the SDK to take its headers, is shown on its own: the
   first on this machine (the benchmark gives its processes a user cache folder of their own, empty at its
   start; the headers are kept there and in the suite's .evalgate/sdk for later runs), and the first run of
   another suite, which reads them from the user's cache folder. Also, in this process
   with the SDK already imported, the client CPU per call of the run (goal <= 0.3 ms); and a second run of the
   anthropic suite with the cache on, all from the cache (calls: goal 0);
3. capped: anthropic (or --limited-provider) against a server that admits C/2 requests at once and answers 429
   with retry-after beyond: wall / N*L/(C/2) (goal <= 1.25), and the concurrency the limiter settled on;
4. token rate: the same provider against a tokens-per-minute bucket that admits about C/4 requests in flight: wall / the
   bound (the run's tokens, less the second's worth the bucket starts with, / the rate) (goal <= 1.25); both
   limited phases read the SDK headers phase 2 kept in the benchmark's user cache folder, so they time the
   limiter, not a first run's import of the SDK;
5. promptfoo, when installed (see --promptfoo): the same server and cases for http, openai and anthropic at the
   same concurrency, and evalgate's wall / promptfoo's (goal <= 0.35). Install it outside the repository with
   `mkdir -p ../promptfoo-bench && cd ../promptfoo-bench && npm install promptfoo@0.121.20` (the last release that
   runs on Node 20); the benchmark looks in $PROMPTFOO_BIN, on PATH, then in ../promptfoo-bench beside this
   checkout. Tests and CI never need it.
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from evalgate import runner  # noqa: E402
from evalgate.config import load_config  # noqa: E402
from evalgate.datasets import load_cases  # noqa: E402
from evalgate.providers.llm.wire import SHIPPED_PROFILES_ENV  # noqa: E402

MODELS = {"anthropic": "claude-haiku-4-5", "openai": "gpt-4o-mini"}
KEYS = {"ANTHROPIC_API_KEY": "sk-ant-bench-not-a-real-key", "OPENAI_API_KEY": "sk-bench-not-a-real-key"}
CUSTOM_PATH = "/custom/answer"  # tests/providers/llm/fake_servers.py
PROVIDERS = ("python", "http", "openai", "anthropic")
# their first run of a suite takes the SDK's headers (importing it); later runs reuse them (providers/llm/wire.py)
SDK_PROVIDERS = ("openai", "anthropic")
BARE_CLIENTS = ("h11", "aiohttp")  # bench/bare_client.py
PROMPTFOO_PROVIDERS = ("http", "openai", "anthropic")
SLEEPER = (
    "import asyncio\n\n\nasync def predict(text):\n    await asyncio.sleep({latency})\n    return text\n"
)


class FakeServer:
    """tests/providers/llm/fake_servers.py in a child process (it does not share our GIL)."""

    def __init__(self, latency: float, **limits: Any) -> None:
        options = [
            f"--{name.replace('_', '-')}={value}" for name, value in limits.items() if value is not None
        ]
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "tests/providers/llm/fake_servers.py"),
                f"--latency={latency}",
                *options,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()

    def stats(self) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write("stats\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def mark(self) -> None:
        """Forget the first request and last answer seen so far (the stats' first_request_at, last_answer_at)."""
        assert self.process.stdin is not None
        self.process.stdin.write("mark\n")
        self.process.stdin.flush()

    def __enter__(self) -> FakeServer:
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=30)


def question(i: int) -> str:
    return f"question number {i} about the refund policy"


def write_suite(
    folder: Path, provider: dict[str, Any], n: int, concurrency: int, *, cache: bool = False
) -> Path:
    """A suite of n cases in `folder` (evalgate.yaml, cases.jsonl), the cache off unless asked; returns the config
    path."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = (json.dumps({"id": f"c{i}", "input": question(i), "category": f"k{i % 4}"}) for i in range(n))
    (folder / "cases.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = {
        "suite": "throughput",
        "datasets": ["cases.jsonl"],
        "provider": provider,
        "concurrency": concurrency,
        "metrics": ["exact_match"],
        "cache": {"enabled": cache},
        "timeout": 120,
    }
    (folder / "evalgate.yaml").write_text(json.dumps(config), encoding="utf-8")  # JSON is YAML
    return folder / "evalgate.yaml"


def provider_section(kind: str, url: str, folder: Path, latency: float) -> dict[str, Any]:
    if kind == "python":
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "model.py").write_text(SLEEPER.format(latency=latency), encoding="utf-8")
        return {"type": "python", "target": "model.py:predict"}
    if kind == "http":
        return {
            "type": "http",
            "url": url + CUSTOM_PATH,
            "body": {"question": "{{ input }}"},
            "output_path": "result.answer",
            "tokens_in_path": "usage.in",
            "tokens_out_path": "usage.out",
        }
    base_url = url + ("/v1" if kind == "openai" else "")
    return {"type": kind, "model": MODELS[kind], "base_url": base_url, "max_tokens": 64}


def child_env() -> dict[str, str]:
    return {**os.environ, **KEYS, "PYTHONPATH": str(ROOT)}


def timed_process(command: list[str], check: bool = True, **options: Any) -> tuple[float, float]:
    """Run a child process: its wall time and its CPU time (user + system), in seconds. On a busy machine the
    CPU time says what the wall time would be on an idle one, where the child waits for nothing but I/O."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, check=check, **options)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def evalgate_process(config: Path) -> tuple[float, float, dict[str, Any]]:
    """`python -m evalgate run` as a user runs it: the whole process's wall and CPU time, and the results."""
    output = config.parent / "results.json"
    wall, cpu = timed_process(
        [sys.executable, "-m", "evalgate", "run", "-q", "--config", str(config), "--output", str(output)],
        cwd=config.parent, env=child_env(), capture_output=True, text=True,
    )  # fmt: skip
    return wall, cpu, json.loads(output.read_text(encoding="utf-8"))


def in_process_cpu_per_call(config: Path) -> float:
    """Client CPU per call of a run in this process, with the client library already imported: milliseconds."""
    suite = load_config(config)
    cases = load_cases(suite.datasets)
    asyncio.run(runner.run_suite(suite, cases[: max(1, len(cases) // 20)], progress=None))  # warm: imports
    cpu = time.process_time()
    outcome = asyncio.run(runner.run_suite(suite, cases, progress=None))
    errors = sum(result.error is not None for result in outcome.results)
    if errors:
        raise SystemExit(f"{errors} cases failed in the CPU measurement of {config}")
    return (time.process_time() - cpu) / len(cases) * 1000.0


def errors_of(results: dict[str, Any]) -> int:
    return sum(case.get("error") is not None for case in results["cases"])


def spread(values: list[float], fmt: str = "{:.3f}") -> str:
    low, high = min(values), max(values)
    return fmt.format(low) if len(values) == 1 else f"{fmt.format(low)}-{fmt.format(high)}"


# ------------------------------------------------------------------------------------------------ promptfoo


def find_promptfoo(explicit: str | None) -> str | None:
    if explicit:
        return explicit
    candidates = [
        os.environ.get("PROMPTFOO_BIN"),
        shutil.which("promptfoo"),
        str(ROOT.parent / "promptfoo-bench" / "node_modules" / ".bin" / "promptfoo"),
    ]
    if shutil.which("node") is None:
        return None
    return next((path for path in candidates if path and Path(path).is_file()), None)


def promptfoo_provider(kind: str, url: str) -> dict[str, Any]:
    if kind == "http":
        return {
            "id": url + CUSTOM_PATH,
            "config": {
                "method": "POST",
                "headers": {"content-type": "application/json"},
                "body": {"question": "{{prompt}}"},
                "transformResponse": "json.result.answer",
            },
        }
    if kind == "openai":
        return {
            "id": f"openai:chat:{MODELS['openai']}",
            "config": {"apiBaseUrl": url + "/v1", "apiKey": KEYS["OPENAI_API_KEY"], "max_tokens": 64},
        }
    return {
        "id": f"anthropic:messages:{MODELS['anthropic']}",
        "config": {"apiBaseUrl": url, "apiKey": KEYS["ANTHROPIC_API_KEY"], "max_tokens": 64},
    }


def promptfoo_process(binary: str, folder: Path, kind: str, url: str, n: int, concurrency: int) -> float:
    """`promptfoo eval` of the same cases against the same server (no cache, no sharing, no telemetry)."""
    folder.mkdir(parents=True, exist_ok=True)
    tests = (json.dumps({"vars": {"question": question(i)}}) for i in range(n))
    (folder / "tests.jsonl").write_text("\n".join(tests) + "\n", encoding="utf-8")
    config = {
        "prompts": ["{{question}}"],
        "providers": [promptfoo_provider(kind, url)],
        "tests": "file://tests.jsonl",
    }
    (folder / "promptfooconfig.yaml").write_text(json.dumps(config), encoding="utf-8")
    env = {
        **child_env(),
        "PROMPTFOO_CONFIG_DIR": str(folder / ".promptfoo"),
        "PROMPTFOO_DISABLE_TELEMETRY": "1",
        "PROMPTFOO_DISABLE_UPDATE": "1",
        "PROMPTFOO_DISABLE_SHARING": "1",
        "ANTHROPIC_BASE_URL": url,
        "OPENAI_BASE_URL": url + "/v1",
    }
    command = [binary, "eval", "-c", "promptfooconfig.yaml", "--no-cache", "--no-progress-bar", "--no-table",
               "--no-write", "-j", str(concurrency), "-o", "out.json"]  # fmt: skip
    # its exit status is not the result: 0.121.20 sometimes dies after writing out.json (a logger's "write
    # after end" at exit); the output file says whether every case was answered
    (folder / "out.json").unlink(missing_ok=True)
    wall, _ = timed_process(command, check=False, cwd=folder, env=env, capture_output=True, text=True)
    out = folder / "out.json"
    stats = json.loads(out.read_text(encoding="utf-8"))["results"]["stats"] if out.is_file() else {}
    if stats.get("successes") != n:
        raise SystemExit(f"promptfoo ({kind}) did not answer every case: {stats or 'no out.json'}")
    return wall


# ------------------------------------------------------------------------------------------------ phases


def bare_client_wall(client: str, url: str, n: int, concurrency: int) -> float:
    """The wall time of a whole process sending n requests of the http suite with a bare client (bench/bare_client.py:
    `h11` or `aiohttp`), `concurrency` at a time: the floor of a run against this server, start-up included."""
    command = [sys.executable, str(ROOT / "bench" / "bare_client.py"), client, url, str(n), str(concurrency)]
    return timed_process(command, env=child_env())[0]


def measure(repeat: int, once: Callable[[], float]) -> list[float]:
    return [once() for _ in range(repeat)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--providers", default=",".join(PROVIDERS))
    parser.add_argument(
        "--limited-provider", default="anthropic", choices=PROMPTFOO_PROVIDERS,
        help="the provider of the capped and token-rate phases (http has the cheapest client: the limiter alone)",
    )  # fmt: skip
    parser.add_argument("--promptfoo", help="the promptfoo executable (default: found as the docstring says)")
    parser.add_argument("--no-promptfoo", action="store_true", help="skip the promptfoo phase")
    args = parser.parse_args()
    n, latency, c, repeat = args.n, args.latency, args.concurrency, args.repeat
    kinds = [kind for kind in args.providers.split(",") if kind]
    # evalgate's bytecode current, as scripts/bootstrap.py leaves it: where PYTHONDONTWRITEBYTECODE is set, a module
    # changed since would be compiled from source in every process measured
    compileall.compile_dir(str(ROOT / "evalgate"), quiet=1)
    for name, value in KEYS.items():  # the in-process CPU measurement reads them too
        os.environ.setdefault(name, value)
    ideal = n * latency / c
    print(f"N={n} L={latency * 1000:.0f} ms C={c}: ideal N*L/C = {ideal:.3f} s; each figure {repeat} runs")
    print(
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs at the start (ratios need idle CPUs)"
    )
    walls: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        os.environ["XDG_CACHE_HOME"] = str(work / "user-cache")  # a first run is the machine's first
        os.environ.pop(SHIPPED_PROFILES_ENV, None)  # and not one the prebuilt image's headers serve

        # 1. start-up
        config = write_suite(work / "instant", {"type": "python", "target": "model.py:predict"}, n, c)
        (work / "instant" / "model.py").write_text("def predict(text):\n    return text\n", encoding="utf-8")
        walls_beyond, cpus_beyond = [], []
        for _ in range(repeat):
            bare_wall, bare_cpu = timed_process([sys.executable, "-c", "pass"])
            wall, cpu, _ = evalgate_process(config)
            walls_beyond.append(wall - bare_wall)
            cpus_beyond.append(cpu - bare_cpu)
        print(f"start-up: evalgate run of {n} instant cases, beyond the interpreter's start: wall "
              f"{spread(walls_beyond)} s, CPU {spread(cpus_beyond)} s (goal < 0.5 s)")  # fmt: skip

        # 2. each provider, whole process; CPU per call in process
        with FakeServer(latency) as server:
            for client in BARE_CLIENTS:
                endpoint = server.url + CUSTOM_PATH
                floor = [bare_client_wall(client, endpoint, n, c) / ideal for _ in range(repeat)]
                print(f"floor: {client:7} a bare client's whole process (bench/bare_client.py: no evalgate) on "
                      f"the same server and requests, ratio to ideal {spread(floor)}")  # fmt: skip
            for kind in kinds:
                folder = work / kind
                config = write_suite(folder, provider_section(kind, server.url, folder, latency), n, c)
                first = ""
                if kind in SDK_PROVIDERS:  # the machine's first run, then a new suite's (the user's cache)
                    other = folder.parent / f"{kind}-new-suite"
                    other_config = write_suite(
                        other, provider_section(kind, server.url, other, latency), n, c
                    )
                    first = (
                        f"; first run {evalgate_process(config)[0] / ideal:.3f}, a new suite's first run "
                        f"{evalgate_process(other_config)[0] / ideal:.3f}"
                    )
                runs, cpus, before_first, after_last = [], [], [], []
                for _ in range(repeat):
                    server.mark()
                    started = time.monotonic()
                    wall, cpu, results = evalgate_process(config)
                    ended, seen = started + wall, server.stats()  # the process's end, not our reading of it
                    if errors_of(results):
                        raise SystemExit(f"{kind}: {errors_of(results)} cases failed")
                    runs.append(wall)
                    cpus.append(cpu)
                    if kind != "python":  # the server's clock (time.monotonic, shared by every process)
                        before_first.append((seen["first_request_at"] - started) * 1000)
                        after_last.append((ended - seen["last_answer_at"]) * 1000)
                walls[kind] = runs
                per_call = ""
                if kind != "python":
                    per_call = (
                        f"; client CPU per call {in_process_cpu_per_call(config):.3f} ms; before the first "
                        f"request {spread(before_first, '{:.0f}')} ms, after the last answer "
                        f"{spread(after_last, '{:.0f}')} ms"
                    )
                print(f"{kind:9} whole process {spread(runs)} s (CPU {spread(cpus)} s), ratio to ideal "
                      f"{spread([w / ideal for w in runs])} (goal <= 1.15){first}{per_call}")  # fmt: skip

            # a second run of a cached suite: every answer from the cache, no call, no SDK import
            if "anthropic" in kinds:
                folder = work / "cached"
                section = provider_section("anthropic", server.url, folder, latency)
                config = write_suite(folder, section, n, c, cache=True)
                evalgate_process(config)
                before = server.stats()["calls"]
                runs = [evalgate_process(config)[0] for _ in range(repeat)]
                print(f"cached    anthropic rerun, whole process {spread(runs)} s, calls "
                      f"{server.stats()['calls'] - before} (goal 0)")  # fmt: skip

        # 3. capped concurrency
        cap = max(1, c // 2)
        with FakeServer(latency, max_concurrent=cap, retry_after="1") as server:
            folder = work / "capped"
            config = write_suite(
                folder, provider_section(args.limited_provider, server.url, folder, latency), n, c
            )
            runs, settled, refusals = [], [], []
            for _ in range(repeat):
                before = server.stats()["rate_limited"]
                wall, _, results = evalgate_process(config)
                runs.append(wall / (n * latency / cap))
                settled.append(results["run"]["limiter"]["settled"])
                refusals.append(server.stats()["rate_limited"] - before)
            print(f"capped, {args.limited_provider} (server admits {cap} < C): ratio to N*L/{cap} {spread(runs)} (goal <= 1.25); "
                  f"limiter settled on {spread(settled, '{:.0f}')}, 429s {spread(refusals, '{:.0f}')}")  # fmt: skip

        # 4. a token rate: about C/4 requests in flight at L
        tokens_per_request = (
            17  # the fake server's words: "question number i about the refund policy" + its echo
        )
        rate = c / 4 / latency * tokens_per_request  # tokens per second
        with FakeServer(latency, tokens_per_minute=rate * 60) as server:
            folder = work / "tokens"
            config = write_suite(
                folder, provider_section(args.limited_provider, server.url, folder, latency), n, c
            )
            runs, settled = [], []
            for _ in range(repeat):
                wall, _, results = evalgate_process(config)
                tokens = sum(
                    (case["tokens_in"] or 0) + (case["tokens_out"] or 0) for case in results["cases"]
                )
                # the bound: the bucket starts full (one second's worth), the rest comes at the rate
                runs.append(wall / max((tokens - rate) / rate, tokens / rate / 2))
                settled.append(results["run"]["limiter"]["settled"])
            print(f"token rate, {args.limited_provider} ({rate * 60:,.0f} tokens/min, about {c // 4} in flight): "
                  f"ratio to the bound {spread(runs)} (goal <= 1.25); limiter settled on "
                  f"{spread(settled, '{:.0f}')}")  # fmt: skip

        # 5. promptfoo
        binary = None if args.no_promptfoo else find_promptfoo(args.promptfoo)
        if binary is None:
            print("promptfoo: skipped" + ("" if args.no_promptfoo else " (not installed: see the docstring)"))
            return
        with FakeServer(latency) as server:
            for kind in (kind for kind in PROMPTFOO_PROVIDERS if kind in walls):
                runs = measure(
                    repeat,
                    lambda kind=kind: promptfoo_process(binary, work / f"pf-{kind}", kind, server.url, n, c),
                )
                ratios = [
                    ours / theirs for ours, theirs in zip(sorted(walls[kind]), sorted(runs), strict=True)
                ]
                print(f"promptfoo {kind:9} whole process {spread(runs)} s, ratio to ideal "
                      f"{spread([w / ideal for w in runs])}; evalgate / promptfoo {spread(ratios)} "
                      "(goal <= 0.35)")  # fmt: skip


if __name__ == "__main__":
    main()
