"""What the guarded reading path and the redaction cost: each timed against the plain way in the same process.

results file  load_results (fileio.read_text -> jsonio.parse_json -> the typed models, evalgate/contracts/results.py)
              against Path.read_text + json.loads + a jsonschema check of the same generated schema (the way
              results files were checked before the models)
JSON only     jsonio.parse_json (nesting scan, finite numbers, surrogates) against json.loads, on the same text
dataset       datasets.load_cases against json.loads of every line
write         write_json_atomic of the results with 3 secrets registered against none registered

  python3 bench/read_speed.py [--cases 20000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from evalgate import outbound
from evalgate.contracts.results import results_json_schema
from evalgate.contracts.versions import RESULTS_SCHEMA_VERSION
from evalgate.files.fileio import write_json_atomic
from evalgate.files.jsonio import parse_json
from evalgate.results import load_results


def jsonschema_check(path: Path) -> None:
    import jsonschema

    jsonschema.Draft202012Validator(results_json_schema()).validate(json.loads(path.read_text()))


def _unique_keys(pairs: list) -> dict:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate key")
    return result


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


OLD_DATASET_DECODER = json.JSONDecoder(object_pairs_hook=_unique_keys, parse_constant=_reject_constant)


def results_document(cases: int) -> dict:
    case = {
        "category": "typical",
        "input": {"question": "What is the capital of France? " * 3, "context": ["a", "b", {"c": 1}]},
        "expected": "Paris",
        "output": "Paris, of course.",
        "scores": {"accuracy": 1.0, "rougeL": 0.6667},
        "latency_ms": 231.512,
        "tokens_in": 40,
        "tokens_out": 12,
        "cost": 0.0004,
        "error": None,
        "cluster": None,
        "metadata": {"source": "docs/faq.md", "tags": ["geo", "easy"]},
        "cached": False,
    }
    return {
        "schema_version": RESULTS_SCHEMA_VERSION,
        "suite": "bench",
        "label": None,
        "created_at": "2026-01-01T00:00:00.000000Z",
        "signature": {
            "config": "sha256:aa",
            "datasets": "sha256:bb",
            "provider": "python:x",
            "metrics": "sha256:cc",
            "evalgate": "0.1.0",
        },
        "git": {"sha": "a" * 40, "ref": "main"},
        "run": {"wall_s": 1.0, "concurrency": 8, "provider": "default", "aborted": None, "cache": None},
        "metric_keys": {"accuracy": {"kind": "binary", "higher_is_better": True, "shown": True}},
        "metrics": {"accuracy": {"value": 1.0, "n": cases}},
        "categories": {},
        "cases": [{"id": f"c-{i}", **case} for i in range(cases)],
    }


def best_of(repeat: int, run: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        run()
        times.append(time.perf_counter() - began)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        doc = results_document(args.cases)
        results = Path(folder) / "results.json"
        results.write_text(json.dumps(doc, indent=2))
        text = results.read_text()
        dataset = Path(folder) / "cases.jsonl"
        lines = [{"id": c["id"], "input": c["input"], "expected": c["expected"]} for c in doc["cases"]]
        dataset.write_text("".join(json.dumps(line) + "\n" for line in lines))
        rows = [
            (
                "results file",
                lambda: jsonschema_check(results),
                lambda: load_results(results),
            ),
            ("JSON only", lambda: json.loads(text), lambda: parse_json(text)),
            (
                "dataset lines",
                lambda: [OLD_DATASET_DECODER.decode(line) for line in dataset.read_text().splitlines()],
                lambda: [parse_json(line, unique_keys=True) for line in dataset.read_text().splitlines()],
            ),
        ]

        def write() -> None:
            write_json_atomic(Path(folder) / "out.json", doc)

        print(f"{args.cases} cases, {len(text) / 1e6:.1f} MB of results; best of {args.repeat} runs")
        print(f"{'':<14}{'plain s':>10}{'guarded s':>11}{'ratio':>8}")
        for name, plain, guarded in rows:
            a, b = best_of(args.repeat, plain), best_of(args.repeat, guarded)
            print(f"{name:<14}{a:>10.3f}{b:>11.3f}{b / a:>8.2f}")
        plain_write = best_of(args.repeat, write)
        for secret in ("sk-ant-bench-0123456789", "gw-bench-abcdefghij", "ghs_benchtoken0123456789"):
            outbound.add_secret(secret)
        redacted_write = best_of(args.repeat, write)
        print(f"{'write':<14}{plain_write:>10.3f}{redacted_write:>11.3f}{redacted_write / plain_write:>8.2f}")


if __name__ == "__main__":
    main()
