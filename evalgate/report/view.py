"""The report's content as plain data (a view), built once from the Verdict JSON and the results files.

Numbers are formatted here (trusted text); untrusted values (case ids, categories, inputs, outputs, messages)
stay raw and are escaped by the template filters of the output format (see evalgate/report/text.py).
`shorten(view, tier)` drops detail for the size tiers of a comment.

What is shown: the metric rows of keys the results mark `shown` (gated rows always; results without the mark
show every key), except rows with no value in either run; the per-category table keeps the gated keys and the
shown binary/continuous ones, at most MAX_CATEGORY_COLUMNS. The Verdict JSON keeps every key. Each note is
said once: the minimum detectable effects in one "Sensitivity" sentence (the gate's matching warnings are
dropped), other row notes one line per distinct note.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from evalgate import __version__
from evalgate.contracts.results import CaseRecord, CaseRun, MetricKeyInfo, Results, Run
from evalgate.contracts.signature import describe
from evalgate.contracts.trend import Trend
from evalgate.contracts.verdict import (
    BaselineInfo,
    CaseChanges,
    CaseEntry,
    FlakyCase,
    MetricRow,
    Reason,
    VerdictDocument,
)
from evalgate.report import formatting as fmt
from evalgate.report.judge_view import judge_view
from evalgate.report.text import clip, to_text

ICONS = {"pass": "✅", "warn": "⚠️", "fail": "❌"}
WORDS = {"pass": "passed", "warn": "passed with warnings", "fail": "failed"}
SEVERITY: dict[str | None, int] = {"fail": 0, "warn": 1, "pass": 2}
MAX_IDS = 100  # case ids listed per added/removed list
MAX_FLAKY = 20
MAX_CATEGORY_COLUMNS = 6  # metric columns of the per-category table
SHORT_CHARS = 80  # expected/output values up to this long (one line) share a one-row table
# a case id or category name longer than this is cut (they land in lists, tables and summaries)
LABEL_CHARS = 120
ANSWER_FIELDS = (
    ("expected", "Expected"),
    ("output", "Output"),
    ("raw_output", "Raw output (before the transform)"),
    ("baseline_output", "Baseline output"),
)
EXAMPLE_KEYS = ("input", *(key for key, _ in ANSWER_FIELDS), "error")


@dataclasses.dataclass(frozen=True)
class Tier:
    """How much detail a rendering keeps."""

    examples: int
    categories: bool = True
    case_lists: bool = True
    all_metrics: bool = True
    extras: bool = True  # flaky cases, usage, trend


def _label(value: Any) -> str:
    """A case id or category name, cut to a length a list or table can show."""
    return clip(value, LABEL_CHARS).text


def status_icon(status: Any) -> str:
    return ICONS.get(status, "·" if status in (None, "info", "skip") else "❔")


def build_view(
    verdict: VerdictDocument,
    current: Results,
    baseline: Results | None,
    *,
    max_examples: int,
    max_chars: int,
    trend: Trend | None,
    marker: str | None,
    run_url: str | None,
) -> dict[str, Any]:
    """Everything a template shows, at full detail."""
    outcome = verdict.verdict
    shown = _key_info(current, baseline)
    units = {row.metric: row.unit for row in verdict.metrics}
    rows = [row for row in verdict.metrics if _visible(row, shown)]
    categories = verdict.categories
    sensitivity, repeated = _sensitivity(
        [*rows, *categories], verdict.mode, (verdict.stats or {}).get("power")
    )
    notes = _notes(rows)
    repeated |= {f"{name}: {note['text']}" for note in notes for name in note["metrics"]}
    metric_rows = [_metric_row(row) for row in rows]
    return {
        "marker": marker,
        "suite": verdict.suite or current.suite,
        "verdict": outcome,
        "icon": ICONS[outcome],
        "word": WORDS[outcome],
        "headline": verdict.headline,
        "mode": verdict.mode,
        "baseline": _baseline(verdict, baseline),
        "reasons": [_reason(reason, units) for reason in verdict.reasons],
        "warnings": [w for w in verdict.warnings if not _repeated(w, repeated, verdict)],
        "metrics": metric_rows,
        "metrics_hidden": 0,
        "notes": notes,
        "sensitivity": sensitivity,
        "legend": _legend(verdict, adjusted=any("adj." in row["p_value"] for row in metric_rows)),
        "categories": _categories(categories, _category_columns(verdict, categories, shown)),
        "cases": _cases(verdict.cases),
        "examples": _examples(verdict.cases, max_examples, max_chars),
        "flaky": _flaky(verdict.cases.flaky),
        "usage": _usage(current, baseline, {row.metric for row in rows}),
        "trend": _trend(trend),
        "judge": judge_view(verdict.judge_calibration),
        "version": __version__,
        "run_url": _safe_url(run_url),
        "omitted": [],
    }


def shorten(view: dict[str, Any], tier: Tier) -> dict[str, Any]:
    """A copy of a full view with detail dropped as the tier says, and a note of what was left out."""
    short = dict(view)
    omitted = []
    examples = view["examples"]
    if examples and tier.examples < len(examples["items"]):
        short["examples"] = dict(examples, items=examples["items"][: tier.examples])
        if tier.examples == 0:
            short["examples"] = None
        omitted.append(f"details of {fmt.count(examples['total'] - tier.examples)} of the {examples['noun']}")
    if not tier.categories and view["categories"]:
        short["categories"] = None
        omitted.append("the per-category table")
    if not tier.case_lists and view["cases"] and (view["cases"]["added"] or view["cases"]["removed"]):
        short["cases"] = dict(view["cases"], added=[], removed=[], added_more=0, removed_more=0)
        omitted.append("the ids of added and removed cases")
    if not tier.extras:
        for key, what in (
            ("flaky", "the flaky cases"),
            ("usage", "usage and cost"),
            ("trend", "the trend chart"),
        ):
            if view[key]:
                short[key] = None
                omitted.append(what)
    if not tier.all_metrics:
        gated = [row for row in view["metrics"] if row["gated"]]
        if len(gated) < len(view["metrics"]):
            short["metrics"] = gated
            short["metrics_hidden"] = len(view["metrics"]) - len(gated)
            omitted.append(f"{short['metrics_hidden']} metrics without thresholds")
    short["omitted"] = omitted
    return short


def _baseline(verdict: VerdictDocument, baseline_results: Results | None) -> dict[str, Any]:
    info: BaselineInfo = verdict.baseline
    created = info.created_at or (baseline_results.created_at if baseline_results else None)
    return {
        "available": info.available,
        "label": info.label or (baseline_results.label if baseline_results else None),
        "created_at": _moment(created),
        "signature_match": info.signature_match,
        "signature_diff": [describe(item.model_dump()) for item in info.signature_diff],
        "note": info.note,
        "paired": fmt.count(verdict.cases.paired),
    }


def _moment(text: Any) -> Any:
    """An ISO timestamp as `YYYY-MM-DD HH:MM UTC`; anything else as it is."""
    if not isinstance(text, str):
        return text
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return text
    if moment.tzinfo is None:
        return moment.strftime("%Y-%m-%d %H:%M")
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _reason(reason: Reason, units: dict[str, fmt.Unit]) -> dict[str, Any]:
    unit = units.get(reason.metric, "plain")
    message = reason.message
    if not message:
        value = fmt.value(reason.value, unit)
        message = f"{reason.rule}: {value} (threshold {reason.threshold})"
    metric = reason.metric
    return {
        "icon": ICONS[reason.severity],
        "metric": metric,
        "category": reason.category,
        "message": message,
        # the gate's messages name their metric first; only the others get a `metric:` prefix
        "prefix": bool(metric) and not message.startswith(metric),
    }


def _metric_row(row: MetricRow) -> dict[str, Any]:
    unit = row.unit
    has_change = fmt.is_number(row.delta)
    return {
        "name": row.metric,
        "category": row.category,
        "baseline": fmt.value(row.baseline, unit),
        "current": fmt.value(row.current, unit),
        "delta": fmt.delta(row.delta, unit, row.baseline),
        "interval": fmt.interval(row.ci_low, row.ci_high, unit, of_change=has_change),
        "p_value": fmt.p_value(row.p_value, row.p_adjusted),
        "threshold": fmt.threshold(row.rules, unit, row.higher_is_better),
        "n": fmt.count(row.n),
        "status": row.status,
        "icon": status_icon(row.status),
        "gated": bool(row.rules),
        "note": row.note,
        "higher_is_better": row.higher_is_better,
    }


def _key_info(current: Results, baseline: Results | None) -> dict[str, MetricKeyInfo]:
    """The results files' `metric_keys` (the current run's entries win)."""
    return {**(baseline.metric_keys if baseline else {}), **current.metric_keys}


def _is_shown(name: str, keys: dict[str, MetricKeyInfo]) -> bool:
    """Whether the results mark a key for reports (older results have no mark: shown)."""
    return name not in keys or keys[name].shown


def _has_value(row: MetricRow) -> bool:
    return fmt.is_number(row.current) or fmt.is_number(row.baseline)


def _visible(row: MetricRow, keys: dict[str, MetricKeyInfo]) -> bool:
    """A metric row the report shows: a gated one, or one marked shown with a value in either run."""
    if row.rules:
        return True
    return _is_shown(row.metric, keys) and _has_value(row)


def _repeated(warning: str, said: set[str], verdict: VerdictDocument) -> bool:
    """A warning the report says elsewhere: a row's note, or "no baseline" (the line under the reasons)."""
    no_baseline = not verdict.baseline.available
    return warning in said or (no_baseline and warning.lower().startswith("no baseline"))


def _row_label(row: MetricRow) -> str:
    """How the gate names a row in its warnings: `metric` or `metric [category]`."""
    return row.metric if row.category is None else f"{row.metric} [{row.category}]"


def _undersized(row: MetricRow) -> bool:
    """A gated row whose suite cannot reliably detect a drop as small as its margin (MDE > margin)."""
    margin = _margin(row)
    return (
        row.mde is not None
        and margin is not None
        and fmt.is_number(row.mde)
        and fmt.is_number(margin)
        and row.mde > margin
    )


def _margin(row: MetricRow) -> float | None:
    """The drop a gated row tolerates: the gate's `margin`, else its rule's `max_drop`."""
    return row.rules.get("max_drop") if row.margin is None else row.margin


def _sensitivity(rows: Iterable[MetricRow], mode: str, power: Any) -> tuple[dict[str, Any] | None, set[str]]:
    """The one sentence on drops the gate can miss: the gated rows whose margin is below the drop the suite
    reliably catches (with the gate's power). A failed row is left out: its drop was caught. Also the gate's
    warnings this sentence replaces (one per undersized row, failed or not)."""
    items, replaced = [], set()
    for row in rows:
        if not _undersized(row):
            continue
        replaced.add(f"{_row_label(row)}: {row.note}")
        if row.status == "fail":
            continue
        unit = row.unit
        gate = row.mde_gate
        catch = gate if mode == "significance" and fmt.is_number(gate) else row.mde
        items.append(
            {
                "metric": row.metric,
                "category": None if row.category is None else _label(row.category),
                "n": fmt.count(row.n),
                "catch": fmt.amount(catch, unit, strip=True),
                "margin": fmt.amount(_margin(row), unit, strip=True),
            }
        )
    if not items:
        return None, replaced
    sizes = {item["n"] for item in items}
    return {
        "n": sizes.pop() if len(sizes) == 1 else None,
        "power": f"{power:.0%}" if fmt.is_number(power) else "80%",
        "items": items,
    }, replaced


def _notes(rows: Iterable[MetricRow]) -> list[dict[str, Any]]:
    """The notes of the shown metric rows, one line per distinct note (the sensitivity sentence has its own),
    and for timing rows how their values were timed (fresh calls, cached answers' recorded timings)."""
    grouped: dict[str, list[str]] = {}
    for row in rows:
        for note in (row.note if not _undersized(row) else None, _timing_note(row)):
            if note:
                grouped.setdefault(note, []).append(row.metric)
    return [{"text": text, "metrics": names} for text, names in grouped.items()]


def _timing_note(row: MetricRow) -> str | None:
    """ "This run was timed from 24 fresh calls." (and the baseline's, when it was timed otherwise)."""
    timing = row.timing or {}
    now, before = timing.get("current") or {}, timing.get("baseline") or {}
    if not now.get("n"):
        return None
    text = f"This run was {now['note']}"
    if before.get("n") and before.get("note") != now["note"]:
        text += f"; the baseline was {before['note']}"
    return text + "."


def _legend(verdict: VerdictDocument, *, adjusted: bool) -> str | None:
    """What the interval and p-value columns mean (only with a baseline, where they are of the change)."""
    if not verdict.baseline.available:
        return None
    confidence = (verdict.stats or {}).get("confidence")
    level = f"{confidence:.0%}" if fmt.is_number(confidence) else "95%"
    adj = " (adj.: Holm-adjusted over the gated metrics)" if adjusted else ""
    return (
        f"Interval: the {level} confidence interval of the change. p-value: one-sided, that the metric got "
        f"worse{adj}."
    )


def _category_columns(
    verdict: VerdictDocument, rows: list[MetricRow], keys: dict[str, MetricKeyInfo]
) -> tuple[list[str], int]:
    """The per-category table's metrics: the gated ones, then shown binary/continuous ones with a value,
    at most MAX_CATEGORY_COLUMNS; and how many were left out for lack of room."""
    gated = {r.metric for r in [*verdict.metrics, *rows] if r.rules}
    order: list[str] = []
    kinds: dict[str, str] = {}
    valued: set[str] = set()
    for row in rows:
        name = row.metric
        if name not in kinds:
            order.append(name)
            kinds[name] = row.kind
        if _has_value(row) or row.rules:
            valued.add(name)
    wanted = [
        name
        for name in order
        if name in valued
        and (name in gated or (_is_shown(name, keys) and kinds[name] in ("binary", "continuous")))
    ]
    keep = set(sorted(wanted, key=lambda name: name not in gated)[:MAX_CATEGORY_COLUMNS])
    return [name for name in wanted if name in keep], len(wanted) - len(keep)


def regression_size(row: MetricRow) -> float:
    """How much worse a metric row got, comparable across metrics: percentage points (as a fraction) for
    rates, a fraction of the baseline for the others (the change itself when the baseline is 0); negative
    when it got better, 0 without a change to measure."""
    delta, base = row.delta, row.baseline
    if delta is None or not fmt.is_number(delta):
        return 0.0
    worse = -delta if row.higher_is_better else delta
    if row.unit == "rate" or base is None or not fmt.is_number(base) or base == 0:
        return float(worse)
    return float(worse / abs(base))


def _categories(rows: list[MetricRow], columns: tuple[list[str], int]) -> dict[str, Any] | None:
    """One row per category, one column per chosen metric: `current (delta)`. Worst first: failed, then warned,
    then the others; within each, the largest regression on a shown metric first (`regression_size`: a
    category down 26 points comes before an unchanged one), then the verdict's order."""
    names, left_out = columns
    if not rows or not names:
        return None
    by_category: dict[str, dict[str, MetricRow]] = {}
    for row in rows:
        by_category.setdefault(str(row.category), {})[row.metric] = row
    table: list[dict[str, Any]] = []
    for order, (category, metrics) in enumerate(by_category.items()):
        statuses = [row.status for row in metrics.values()]
        worst = min(statuses, key=lambda s: SEVERITY.get(s, 3))
        size = max((regression_size(metrics[name]) for name in names if name in metrics), default=0.0)
        cells = []
        for metric in names:
            cell = metrics.get(metric)
            if cell is None:
                cells.append(fmt.DASH)
                continue
            text = fmt.value(cell.current, cell.unit)
            if fmt.is_number(cell.delta):
                text += f" ({fmt.delta(cell.delta, cell.unit)})"
            if cell.status in ("warn", "fail"):
                text += " " + ICONS[cell.status]
            cells.append(text)
        n = max((r.n for r in metrics.values()), default=None)
        table.append(
            {
                "name": _label(category),
                "n": fmt.count(n),
                "cells": cells,
                "icon": status_icon(worst),
                "_key": (min(SEVERITY.get(worst, 2), 2), -size, order),
            }
        )
    table.sort(key=lambda item: item.pop("_key"))
    return {"columns": names, "rows": table, "left_out": left_out}


def _cases(cases: CaseChanges) -> dict[str, Any] | None:
    added = [_label(i) for i in cases.added]
    removed = [_label(i) for i in cases.removed]
    if not added and not removed:
        return None  # the paired count is in the sentence under the verdict
    return {
        "paired": fmt.count(cases.paired),
        "added_count": fmt.count(len(added)),
        "removed_count": fmt.count(len(removed)),
        "added": added[:MAX_IDS],
        "removed": removed[:MAX_IDS],
        "added_more": max(0, len(added) - MAX_IDS),
        "removed_more": max(0, len(removed) - MAX_IDS),
    }


def _examples(cases: CaseChanges, max_examples: int, max_chars: int) -> dict[str, Any] | None:
    """The most regressed (or, without a baseline, failing) cases, one item per case, in the gate's order."""
    entries = cases.regressed
    title, noun = "Most regressed cases", "regressed cases"
    if not entries:
        entries = cases.failing
        title, noun = "Failing cases", "failing cases"
    if not entries:
        return None
    grouped: dict[str, list[CaseEntry]] = {}
    for entry in entries:
        grouped.setdefault(entry.id, []).append(entry)
    items = [_example(case_id, group, max_chars) for case_id, group in list(grouped.items())[:max_examples]]
    return {"title": title, "noun": noun, "total": len(grouped), "items": items}


def _example(case_id: str, group: list[CaseEntry], max_chars: int) -> dict[str, Any]:
    """One case: its input as code blocks, then expected/output/baseline output in a one-row table when all
    are short single lines (else as code blocks too), then its error."""
    first = group[0]
    values = {
        key: next((getattr(e, key) for e in group if getattr(e, key) is not None), None)
        for key in EXAMPLE_KEYS
    }
    if values["baseline_output"] == values["output"]:
        values["baseline_output"] = None
    answers = [(label, values[key]) for key, label in ANSWER_FIELDS if values[key] is not None]
    brief = all(_is_short(value) for _, value in answers)
    return {
        "id": _label(case_id),
        "category": _label(first.category),
        "scores": ", ".join(_score_change(e) for e in group if e.metric),
        "errored": first.error is not None,
        "input": _input_fields(values["input"], max_chars),
        "brief": [{"label": label, "value": to_text(value)} for label, value in answers] if brief else [],
        "fields": [
            {"label": label, "name": None, "value": clip(value, max_chars, pretty=True)}
            for label, value in [*([] if brief else answers), ("Error", values["error"]), *_explained(first)]
            if value is not None
        ],
    }


def _explained(entry: CaseEntry) -> list[tuple[str, str]]:
    """Why the case scored as it did (evalgate.explain): its failed assertions, the judge's scores and reasoning,
    the claims found unsupported; each as a labelled text."""
    found = []
    failed = entry.failed_assertions or []
    if failed:
        found.append(("Failed assertions", "\n".join(_assertion_line(outcome) for outcome in failed)))
    judge = entry.judge
    if judge:
        scores = ", ".join(
            f"{name} {fmt.sig(value, strip=True)}" for name, value in (judge.get("scores") or {}).items()
        )
        found.append(
            (
                "Judge",
                "\n".join(part for part in (scores, judge.get("reasoning"), judge.get("error")) if part),
            )
        )
    factual = entry.factual
    if factual:
        claims = [f"- {claim}" for claim in factual.get("unsupported") or []]
        parts = ["Unsupported claims:", *claims] if claims else []
        found.append(
            (
                "Factual consistency",
                "\n".join([*parts, *(p for p in (factual.get("reasoning"), factual.get("error")) if p)]),
            )
        )
    return [(label, text) for label, text in found if text]


def _assertion_line(outcome: dict[str, Any]) -> str:
    value = outcome.get("value")
    shown = "" if value is None else " " + clip(value if isinstance(value, str) else to_text(value), 80).text
    return f"{outcome.get('type')}{shown}: {outcome.get('reason') or 'failed'}"


def _is_short(value: Any) -> bool:
    text = to_text(value)
    return "\n" not in text and "\r" not in text and len(text) <= SHORT_CHARS


def _input_fields(value: Any, max_chars: int) -> list[dict[str, Any]]:
    """A case's input as code blocks: a list of strings one per line (an ASCII image, a conversation),
    a mapping whose values are all such lists one block per key, anything else as text or pretty JSON."""
    if value is None:
        return []
    if _is_lines(value):
        return [{"label": "Input", "name": None, "value": clip("\n".join(value), max_chars)}]
    if isinstance(value, dict) and value and all(_is_lines(v) for v in value.values()):
        return [
            {"label": "Input", "name": _label(key), "value": clip("\n".join(lines), max_chars)}
            for key, lines in value.items()
        ]
    return [{"label": "Input", "name": None, "value": clip(value, max_chars, pretty=True)}]


def _is_lines(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(line, str) for line in value)


def _score_change(entry: CaseEntry) -> str:
    before, after = entry.baseline, entry.current
    now = fmt.sig(after, strip=True) if after is not None and fmt.is_number(after) else fmt.DASH
    if before is not None and fmt.is_number(before):
        return f"{entry.metric} {fmt.sig(before, strip=True)} → {now}"
    return f"{entry.metric} {now}"


def _flaky(flaky: list[FlakyCase]) -> dict[str, Any] | None:
    if not flaky:
        return None
    items = [{"id": _label(item.id), "pass_rate": fmt.value(item.pass_rate, "rate")} for item in flaky]
    return {"items": items[:MAX_FLAKY], "more": max(0, len(items) - MAX_FLAKY)}


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


def _usage(current: Results, baseline: Results | None, in_table: set[Any]) -> dict[str, Any] | None:
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
    if not rows and cache_line is None and not trouble and calls_line is None:
        return None
    return {"rows": rows, "cache": cache_line, "cache_warnings": trouble, "calls": calls_line}


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


SVG_WIDTH, SVG_HEIGHT, SVG_PAD = 640, 200, 24


def _trend(trend: Trend | None) -> dict[str, Any] | None:
    """The trend chart's points (for mermaid and for the HTML page's inline SVG) and its alarms."""
    if not trend or not trend.values:
        return None
    values, labels = trend.values, trend.labels
    low, high = min(values), max(values)
    pad = (high - low) * 0.1 or abs(high) * 0.05 or 1.0
    low, high = low - pad, high + pad
    step = (SVG_WIDTH - 2 * SVG_PAD) / max(1, len(values) - 1)
    points = [
        (SVG_PAD + i * step, SVG_HEIGHT - SVG_PAD - (v - low) / (high - low) * (SVG_HEIGHT - 2 * SVG_PAD))
        for i, v in enumerate(values)
    ]
    return {
        "metric": trend.metric,
        "labels": labels,
        "values": [float(f"{v:.6g}") for v in values],
        "y_min": float(f"{low:.4g}"),
        "y_max": float(f"{high:.4g}"),
        "alarms": [alarm.message for alarm in trend.alarms],  # each message names the run it started at
        "svg": {
            "width": SVG_WIDTH,
            "height": SVG_HEIGHT,
            "points": " ".join(f"{x:.1f},{y:.1f}" for x, y in points),
        },
    }


def _safe_url(url: str | None) -> str | None:
    """Only http(s) URLs, with characters that could end a markdown link or an HTML attribute encoded."""
    if not url or not url.startswith(("https://", "http://")):
        return None
    return "".join(f"%{ord(ch):02X}" if ch in " ()<>\"'`\\[]|" or ord(ch) < 0x21 else ch for ch in url)
