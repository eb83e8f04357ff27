"""The results file: build it from a run, write it atomically, read and check it (bad files are exit 2)."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from evalgate import __version__
from evalgate.contracts.cases import CallTiming, CaseResult
from evalgate.errors import InputError
from evalgate.files.fileio import write_json_atomic
from evalgate.files.jsonio import load_json
from evalgate.metrics.base import RUN_FIELDS, mean_score
from evalgate.outbound import redact_data

SCHEMA_VERSION = 1


def case_record(result: CaseResult) -> dict[str, Any]:
    """One case run once, as a results-file case entry (scores filled later by the metrics)."""
    case, output = result.case, result.output
    return {
        "id": case.id,
        "category": case.category,
        "input": case.input,
        "expected": case.expected,
        "output": output.value if output else None,
        "scores": {},
        "latency_ms": None if result.latency_ms is None else round(result.latency_ms, 3),
        "tokens_in": output.tokens_in if output else None,
        "tokens_out": output.tokens_out if output else None,
        "cost": output.cost if output else None,
        "error": result.error,
        "cluster": case.cluster,
        "metadata": case.metadata or None,
        "cached": bool(output and output.cached),
        **({"extra": output.extra} if output and output.extra else {}),
        **(timing_fields(result.timing) if result.timing else {}),
    }


def timing_fields(timing: CallTiming) -> dict[str, Any]:
    """A provider-timed call's case fields: the requests made, the time waited before the answering one (queueing,
    failed attempts, back-off) and, when streamed, the time to the first token (all milliseconds)."""
    fields: dict[str, Any] = {"attempts": timing.attempts, "wait_ms": round(timing.wait_ms, 3)}
    if timing.ttft_ms is not None:
        fields["ttft_ms"] = round(timing.ttft_ms, 3)
    return fields


def call_summary(results: list[CaseResult]) -> dict[str, Any] | None:
    """The run's count of requests, for `run.calls`: every request a provider-timed call made (retries
    included), the retries, the cases that needed one, and the seconds waited (None when no call was timed)."""
    timings = [result.timing for result in results if result.timing is not None]
    if not timings:
        return None
    requests = sum(timing.attempts for timing in timings)
    return {
        "requests": requests,
        "retries": requests - len(timings),
        "retried_cases": sum(timing.attempts > 1 for timing in timings),
        "wait_s": round(sum(timing.wait_ms for timing in timings) / 1000.0, 3),
    }


def merge_repeats(records: list[dict[str, Any]]) -> dict[str, Any]:
    """K runs of one case -> one entry: every run under `repeats` (what the metrics read, docs/gate.md "Repeats"),
    the per-case mean scores, the first run's output, the case's usage summed over its runs, the mean of its
    measured latencies, `cached` when every run was, and an error only when every run errored."""
    if len(records) == 1:
        return records[0]
    merged = dict(records[0])
    keys = {key for record in records for key in record["scores"]}
    merged["scores"] = {key: mean_score(records, key) for key in sorted(keys)}
    errors = [record["error"] for record in records if record["error"]]
    merged["error"] = errors[0] if len(errors) == len(records) else None
    for field in ("tokens_in", "tokens_out", "cost"):
        reported = [record[field] for record in records if record.get(field) is not None]
        merged[field] = (math.fsum(reported) if field == "cost" else sum(reported)) if reported else None
    latencies = [r["latency_ms"] for r in records if r.get("latency_ms") is not None and not r["error"]]
    merged["latency_ms"] = round(math.fsum(latencies) / len(latencies), 3) if latencies else None
    merged["cached"] = all(record.get("cached") for record in records)
    merged["repeats"] = [
        {field: record[field] for field in RUN_FIELDS if field in record} for record in records
    ]
    return merged


def build_results(
    *,
    suite: str,
    label: str | None,
    signature: dict[str, Any],
    git: dict[str, Any],
    run: dict[str, Any],
    metric_keys: dict[str, Any],
    metrics: dict[str, Any],
    categories: dict[str, Any],
    cases: list[dict[str, Any]],
) -> dict[str, Any]:
    """The results document, every known secret redacted (a server may echo a key back into an error or an
    answer): the reports, the verdict and the history all start from it."""
    return redact_data(
        {
            "schema_version": SCHEMA_VERSION,
            "suite": suite,
            "label": label,
            "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "signature": {**signature, "evalgate": __version__},
            "git": git,
            "run": run,
            "metric_keys": metric_keys,
            "metrics": metrics,
            "categories": categories,
            "cases": cases,
        }
    )


def incomplete_reason(results: dict[str, Any]) -> str | None:
    """Why the run of a results file did not complete (a spent budget, an interruption), or None when it did.

    `run.complete` says it (`run.aborted` in files written before it existed); the gate never passes such a run.
    """
    run = results.get("run") or {}
    if run.get("complete", True) is not False and not run.get("aborted"):
        return None
    why = run.get("aborted") or "stopped early"
    not_run = run.get("not_run")
    return f"{why} ({not_run} case runs never finished)" if isinstance(not_run, int) else why


def write_results(path: str | Path, results: dict[str, Any]) -> Path:
    return write_json_atomic(path, results)


@cache
def _schema() -> dict[str, Any]:
    return json.loads(resources.files("evalgate").joinpath("results.schema.json").read_text(encoding="utf-8"))


def check_results(data: Any, *, file: str) -> dict[str, Any]:
    """Check a parsed results file against the schema; an InputError names the first bad field."""
    import jsonschema  # only commands that read results files pay for it (not `evalgate run`)

    validator = jsonschema.Draft202012Validator(_schema())
    error = next(iter(sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))), None)
    if error is not None:
        where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in error.absolute_path)
        where = where.lstrip(".") or "the top level"
        if error.validator == "const" and list(error.absolute_path) == ["schema_version"]:
            raise InputError(
                f"schema_version {data.get('schema_version')!r} is not supported; this evalgate reads version "
                f"{SCHEMA_VERSION} (upgrade evalgate, or re-run the suite)",
                file=file,
            )
        raise InputError(f"not a valid evalgate results file: {where}: {error.message}", file=file)
    ids = set()
    for index, case in enumerate(data["cases"]):
        if case["id"] in ids:
            raise InputError(
                f"not a valid evalgate results file: cases[{index}]: duplicate id {case['id']!r}", file=file
            )
        ids.add(case["id"])
    return data


@cache
def _case_validator() -> Any:
    import jsonschema

    return jsonschema.Draft202012Validator(_schema()["properties"]["cases"]["items"])


def case_problem(entry: Any) -> str | None:
    """What is wrong with one case entry (a journal line) by the results file's schema, or None."""
    errors = _case_validator().iter_errors(entry)
    error = next(iter(sorted(errors, key=lambda e: list(e.absolute_path))), None)
    if error is None:
        return None
    where = ".".join(str(part) for part in error.absolute_path)
    return f"{where}: {error.message}" if where else error.message


def load_results(path: str | Path) -> dict[str, Any]:
    """Read and check a results file (a baseline or the current run)."""
    data = load_json(path, what="results file", expected="expected an evalgate results file")
    return check_results(data, file=str(path))
