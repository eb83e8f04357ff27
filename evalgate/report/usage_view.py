"""The report view's usage section: tokens and cost per request and in total, what the model and the judge spent
and the cache saved (evalgate.report.spend_view), the cache, the requests made and the concurrency the run
settled on."""

from __future__ import annotations

from typing import Any

from evalgate.contracts.results import CaseRecord, CaseRun, Results, Run
from evalgate.report import formatting as fmt
from evalgate.report.spend_view import spend


def _usage_totals(results: Results) -> dict[str, float | None]:
    """Tokens and cost per request and in total, over every call (each repeat of a case is one)."""
    runs: list[CaseRecord | CaseRun] = []
    for case in results.cases:
        runs.extend(case.repeats or [case])
    totals: dict[str, float | None] = {}
    for key in ("tokens_in", "tokens_out", "cost"):
        values = [getattr(run, key) for run in runs if getattr(run, key) is not None]
        totals[key] = sum(values) / len(values) if values else None
        totals[key + "_total"] = sum(values) if values else None
    if totals["cost"] is not None:
        totals["cost"] *= 1000  # per 1K requests
    return totals


USAGE_ROWS: tuple[
    tuple[str, str, fmt.Unit, str], ...
] = (  # key, label, unit, the metric key with the same number (when shown, the row is left out)
    ("tokens_in", "Input tokens per request", "plain", "tokens_in_per_case"),
    ("tokens_out", "Output tokens per request", "plain", "tokens_out_per_case"),
    ("cost", "Cost per 1K requests", "usd", "cost_per_1k_requests"),
    ("cost_total", "Total cost of the run", "usd", "cost_total"),
)


def usage(current: Results, baseline: Results | None, in_table: set[Any]) -> dict[str, Any] | None:
    """Tokens and cost per request from the cases, and the cache; numbers the metric table shows are left out."""
    now = _usage_totals(current)
    before = _usage_totals(baseline) if baseline else {}
    rows = []
    for key, label, unit, metric in USAGE_ROWS:
        if metric in in_table or (now.get(key) is None and before.get(key) is None):
            continue
        value, then = now.get(key), before.get(key)
        change = None
        if value is not None and then is not None and fmt.is_number(value) and fmt.is_number(then):
            change = value - then
        rows.append(
            {
                "label": label,
                "baseline": fmt.value(before.get(key), unit, strip=True),
                "current": fmt.value(now.get(key), unit, strip=True),
                "delta": fmt.delta(change, unit, before.get(key)),
            }
        )
    cache: dict[str, Any] = current.run.cache or {}
    hits: Any = cache.get("hits")  # a number when the run used a cache (is_number checks it below)
    misses: Any = cache.get("misses")
    cache_line: str | None = None
    if fmt.is_number(hits) and fmt.is_number(misses) and hits + misses > 0:
        cache_line = (
            f"{fmt.count(hits)} hits, {fmt.count(misses)} misses ({hits / (hits + misses) * 100:.0f}% hits)"
        )
        if fmt.is_number(cache.get("dropped")):
            cache_line += f"; {fmt.count(cache['dropped'])} damaged entries dropped and asked again"

    trouble = [str(w) for w in cache.get("warnings") or []]  # the cache's own failures (never the model's)
    calls_line = _calls_line(current.run)
    spent = spend(current)
    if not rows and cache_line is None and not trouble and calls_line is None and spent is None:
        return None
    return {"rows": rows, "spend": spent, "cache": cache_line, "cache_warnings": trouble, "calls": calls_line}


def _calls_line(run: Run) -> str | None:
    """The requests the run made (retries apart) and the concurrency its limiter settled on, in one line."""
    calls, limiter = run.calls or {}, run.limiter or {}
    parts = []
    if fmt.is_number(calls.get("requests")):
        retried = calls.get("retries") or 0
        parts.append(
            f"{fmt.count(calls['requests'])} requests"
            + (
                f" ({fmt.count(retried)} retries on {fmt.count(calls.get('retried_cases') or 0)} cases, "
                f"{calls.get('wait_s') or 0:g} s waited before answers)"
                if retried
                else ""
            )
        )
    if fmt.is_number(limiter.get("settled")) and fmt.is_number(limiter.get("slots")):
        cuts = limiter.get("cuts") or 0
        parts.append(
            f"concurrency settled on {limiter['settled']} of {limiter['slots']}"
            + (f" ({cuts} cuts after {limiter.get('overloads') or 0} refusals)" if cuts else "")
        )
    return "; ".join(parts) if parts else None
