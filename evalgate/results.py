"""The results file: build it from a run, write it atomically, read and check it (bad files are exit 2)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalgate import __version__
from evalgate.assertions import ASSERT_KEY
from evalgate.contracts.cases import CallTiming, CaseResult
from evalgate.contracts.versions import RESULTS_SCHEMA_VERSION
from evalgate.errors import InputError
from evalgate.files.fileio import write_json_atomic
from evalgate.files.jsonio import load_json
from evalgate.metrics.base import RUN_FIELDS, mean_score
from evalgate.outbound import redact_data

if TYPE_CHECKING:
    from evalgate.contracts.results import Results


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
        **({"tags": list(case.tags)} if case.tags else {}),
        "cached": bool(output and output.cached),
        **({ASSERT_KEY: list(case.assertions)} if case.assertions else {}),
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
    shard: dict[str, Any] | None = None,
    slices: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The results document, every known secret redacted (a server may echo a key back into an error or an
    answer): the reports, the verdict and the history all start from it. `shard` (evalgate.shards.select) marks
    the results of one shard of a run, which only `evalgate merge` reads; `slices` (evalgate.slices) is written when
    the suite has any."""
    return redact_data(
        {
            "schema_version": RESULTS_SCHEMA_VERSION,
            "suite": suite,
            "label": label,
            "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "signature": {**signature, "evalgate": __version__},
            "git": git,
            "run": run,
            "metric_keys": metric_keys,
            "metrics": metrics,
            "categories": categories,
            **({"slices": slices} if slices else {}),
            "cases": cases,
            **({"shard": shard} if shard is not None else {}),
        }
    )


def shard_of(results: dict[str, Any] | Results) -> str | None:
    """`I/N` when the results (a freshly built document or a loaded file) are one shard of a run, judged only
    once merged; else None."""
    shard = results.get("shard") if isinstance(results, dict) else results.shard
    if shard is None:
        return None
    index, count = (shard["index"], shard["count"]) if isinstance(shard, dict) else (shard.index, shard.count)
    return f"{index}/{count}"


def incomplete_reason(results: dict[str, Any]) -> str | None:
    """Why the run of a freshly built results document did not complete, or None when it did (a loaded file
    answers the same through `Results.incomplete_reason`)."""
    run = results.get("run") or {}
    return incomplete_reason_of(run.get("complete"), run.get("aborted"), run.get("not_run"))


def incomplete_reason_of(complete: bool | None, aborted: str | None, not_run: int | None) -> str | None:
    """The one rule: `run.complete` false (or `run.aborted`, in files written before `complete` existed) means
    the run stopped early (a spent budget, an interruption); the gate never passes such a run."""
    if complete is not False and not aborted:
        return None
    why = aborted or "stopped early"
    return f"{why} ({not_run} case runs never finished)" if isinstance(not_run, int) else why


def write_results(path: str | Path, results: dict[str, Any]) -> Path:
    return write_json_atomic(path, results)


def load_results(path: str | Path, *, tasks: bool = False) -> Results:
    """Read a results file (a baseline or the current run), migrate an older schema_version and check it: the
    typed Results every later stage reads; a bad file is one InputError (exit 2) naming the file and field.

    The results of a suite of tasks are read only where `tasks` says the caller handles them (gate, history); any
    other reader would see a suite with no cases, so it is an InputError naming the tasks."""
    from evalgate.contracts.results import parse_results  # pydantic: only the commands that read results

    data = load_json(path, what="results file", expected="expected an evalgate results file")
    results = parse_results(data, file=str(path))
    if results.tasks is not None and not tasks:
        raise InputError(
            f"these are the results of a suite of tasks ({', '.join(results.tasks)}); this command reads the "
            "results of one suite",
            file=str(path),
        )
    return results
