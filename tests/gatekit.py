"""Builders for the gate's tests: synthetic results dicts and a SuiteConfig with chosen rules and stats."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from evalgate import pairing
from evalgate.config import STATS_OPTIONS, MetricConfig, Rule, SuiteConfig
from evalgate.contracts.cases import Case, CaseResult, Output
from evalgate.contracts.comparison import Comparison
from evalgate.contracts.results import Results, parse_results
from evalgate.metrics import build_metrics, metric_keys, score_results
from evalgate.metrics.scoring import summarize_slices
from evalgate.results import build_results, case_record
from evalgate.slices import SliceSpec

SIGNATURE = {
    "config": "sha256:a",
    "datasets": "sha256:d",
    "provider": "python:m",
    "metrics": "sha256:m",
    "evalgate": "0.1.0",
    "sample": None,
    "repeats": 1,
}


def make_config(
    rules: list[Rule] | None = None,
    quarantine: list[str] | None = None,
    *,
    metrics: list[str | tuple[str, dict[str, Any]]] | None = None,
    base_dir: Path = Path("."),
    slices: list[str] | None = None,
    **stats: Any,
) -> SuiteConfig:
    """A SuiteConfig with the documented stats defaults, overridden by `stats`; `metrics` are config names
    (or (name, options) pairs) as under `metrics:` in evalgate.yaml; `slices` entries as under `slices:`
    (`tags`, `metadata.KEY`)."""
    defaults = {name: option.default for name, option in STATS_OPTIONS.items()}
    entries = [(m, {}) if isinstance(m, str) else m for m in metrics or []]
    return SuiteConfig(
        path=Path("evalgate.yaml"),
        base_dir=base_dir,
        suite="demo",
        description="",
        datasets=[],
        providers=[],
        concurrency=1,
        timeout=1.0,
        repeats=1,
        seed=0,
        metrics=[MetricConfig(name, dict(options), "evalgate.yaml", 2) for name, options in entries],
        rules=rules or [],
        stats={**defaults, **stats},
        judge=None,
        cache={},
        budget={},
        prices={},
        report={},
        history={},
        quarantine=quarantine or [],
        slices=tuple(
            SliceSpec(None if entry == "tags" else entry.removeprefix("metadata."), "evalgate.yaml", 4)
            for entry in slices or []
        ),
    )


def rule(metric: str, category: str | None = None, *, slice: str | None = None, **bounds: float) -> Rule:
    return Rule(metric=metric, category=category, file="evalgate.yaml", line=3, slice=slice, **bounds)


def make_results(
    scores: dict[str, list[float]],
    *,
    kinds: dict[str, tuple[str, bool]] | None = None,
    ids: list[str] | None = None,
    categories: list[str] | None = None,
    errors: list[str | None] | None = None,
    clusters: list[str | None] | None = None,
    signature: dict[str, Any] | None = None,
    extra_metrics: dict[str, float] | None = None,
) -> dict[str, Any]:
    """A results dict (results.json shape) with per-case scores; aggregates are the means of the scores.

    `kinds` maps a key to (kind, higher_is_better); keys not named are binary and higher-is-better. An
    error_rate key is always added from `errors` (binary, lower is better).
    """
    n = len(next(iter(scores.values())))
    ids = ids or [f"c-{i:05d}" for i in range(n)]
    categories = categories or ["default"] * n
    errors = errors or [None] * n
    kinds = {key: (kinds or {}).get(key, ("binary", True)) for key in scores}
    kinds["error_rate"] = ("binary", False)
    per_case = {**scores, "error_rate": [1.0 if e else 0.0 for e in errors]}
    cases = []
    for i in range(n):
        cases.append(
            {
                "id": ids[i],
                "category": categories[i],
                "input": f"q-{ids[i]}",
                "expected": "a",
                "output": "a",
                "scores": {key: float(values[i]) for key, values in per_case.items()},
                "latency_ms": 10.0,
                "error": errors[i],
                "cluster": clusters[i] if clusters else None,
                "repeats": None,
            }
        )
    metrics = {key: {"value": math.fsum(v) / n, "n": n} for key, v in per_case.items()}
    for key, value in (extra_metrics or {}).items():
        metrics[key] = {"value": value, "n": n}
    by_category: dict[str, dict[str, Any]] = {}
    for category in sorted(set(categories)):
        members = [i for i in range(n) if categories[i] == category]
        by_category[category] = {
            key: {"value": math.fsum(v[i] for i in members) / len(members), "n": len(members)}
            for key, v in per_case.items()
        }
    return {
        "schema_version": 1,
        "suite": "demo",
        "created_at": "2026-11-26T08:00:00Z",
        "signature": dict(signature or SIGNATURE),
        "git": {"sha": "abc1234def", "ref": "main"},
        "metric_keys": {key: {"kind": kind, "higher_is_better": hib} for key, (kind, hib) in kinds.items()},
        "metrics": metrics,
        "categories": by_category,
        "cases": cases,
    }


def scored_results(
    config: SuiteConfig, rows: list[dict[str, Any]], metrics: list | None = None
) -> dict[str, Any]:
    """A results dict as `evalgate run` builds it: each row (`id`, `category`, `expected`, `output`,
    `latency_ms`, optional `error`, `metadata`, `tags`) becomes a CaseResult, a case record, scored by the config's
    real metrics, with the config's slices. `metrics` are the built metric objects (built from the config when
    None)."""
    built = metrics if metrics is not None else build_metrics(config)
    records = [
        case_record(
            CaseResult(
                Case(
                    id=row["id"],
                    input=f"q-{row['id']}",
                    expected=row["expected"],
                    category=row["category"],
                    metadata=row.get("metadata") or {},
                    tags=tuple(row.get("tags") or ()),
                ),
                None if row.get("error") else Output(row["output"]),
                row.get("error"),
                row.get("latency_ms", 10.0),
            )
        )
        for row in rows
    ]
    overall, categories = score_results(built, records, confidence=config.stats["confidence"])
    return build_results(
        suite=config.suite,
        label=None,
        signature=dict(SIGNATURE),
        git={"sha": "abc1234def", "ref": "main"},
        run={},
        metric_keys={name: {**info, "shown": True} for name, info in metric_keys(built).items()},
        metrics=overall,
        categories=categories,
        cases=records,
        slices=summarize_slices(built, records, config.slices, config.stats["confidence"]),
    )


def as_results(data: dict[str, Any] | Results | None) -> Results | None:
    """A results dict as evalgate reads a results file (migrated and checked once), a Results as it is."""
    if data is None or isinstance(data, Results):
        return data
    return parse_results(data, file="the test's results")


def compare(
    current: dict[str, Any] | Results,
    baseline: dict[str, Any] | Results | None,
    config: SuiteConfig,
    **options: Any,
) -> Comparison:
    """evalgate.pairing.compare of results dicts read as results files are (`as_results`)."""
    current_results = as_results(current)
    assert current_results is not None
    return pairing.compare(current_results, as_results(baseline), config, **options)
