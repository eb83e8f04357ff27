"""The report's content as plain data (a view), built once from the Verdict JSON and the results files.

Numbers are formatted here (trusted text); untrusted values (case ids, categories, inputs, outputs, messages)
stay raw and are escaped by the template filters of the output format (see evalgate/report_text.py).
`shorten(view, tier)` drops detail for the size tiers of a comment.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from evalgate import __version__
from evalgate import report_format as fmt
from evalgate.report_text import clip

ICONS = {"pass": "✅", "warn": "⚠️", "fail": "❌"}
WORDS = {"pass": "passed", "warn": "passed with warnings", "fail": "failed"}
SEVERITY = {"fail": 0, "warn": 1, "pass": 2}
MAX_IDS = 100  # case ids listed per added/removed list
MAX_FLAKY = 20
# a case id or category name longer than this is cut (they land in lists, tables and summaries)
LABEL_CHARS = 120
EXAMPLE_FIELDS = (
    ("input", "Input"),
    ("expected", "Expected"),
    ("output", "Output"),
    ("baseline_output", "Baseline output"),
    ("error", "Error"),
)


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
    verdict: dict[str, Any],
    current: dict[str, Any],
    baseline: dict[str, Any] | None,
    *,
    max_examples: int,
    max_chars: int,
    trend: dict[str, Any] | None,
    marker: str | None,
    run_url: str | None,
) -> dict[str, Any]:
    """Everything a template shows, at full detail."""
    outcome = verdict.get("verdict")
    metric_rows = [_metric_row(row) for row in verdict.get("metrics") or []]
    return {
        "marker": marker,
        "suite": verdict.get("suite") or current.get("suite") or "",
        "verdict": outcome,
        "icon": ICONS.get(outcome, "❔"),
        "word": WORDS.get(outcome, f"ended with verdict {outcome!r}"),
        "headline": verdict.get("headline") or "",
        "mode": verdict.get("mode"),
        "baseline": _baseline(verdict, baseline),
        "reasons": [_reason(reason) for reason in verdict.get("reasons") or []],
        "warnings": [str(w) for w in verdict.get("warnings") or []],
        "metrics": metric_rows,
        "metrics_hidden": 0,
        "mde_notes": _mde_notes(verdict.get("metrics") or []),
        "categories": _categories(verdict.get("categories") or []),
        "cases": _cases(verdict.get("cases") or {}),
        "examples": _examples(verdict.get("cases") or {}, max_examples, max_chars),
        "flaky": _flaky((verdict.get("cases") or {}).get("flaky") or []),
        "usage": _usage(current, baseline),
        "trend": _trend(trend),
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


def _baseline(verdict: dict[str, Any], baseline_results: dict[str, Any] | None) -> dict[str, Any]:
    info = verdict.get("baseline") or {}
    available = bool(info.get("available"))
    created = info.get("created_at") or (baseline_results or {}).get("created_at")
    return {
        "available": available,
        "label": info.get("label") or (baseline_results or {}).get("label"),
        "created_at": created,
        "signature_match": info.get("signature_match", True) is not False,
        "signature_diff": [_signature_item(item) for item in info.get("signature_diff") or []],
        "note": info.get("note"),
        "paired": fmt.count((verdict.get("cases") or {}).get("paired")),
    }


def _signature_item(item: Any) -> str:
    if isinstance(item, dict):
        key = item.get("key") or item.get("field") or item.get("name") or "?"
        if "baseline" in item or "current" in item:
            return f"{key}: {item.get('baseline')} → {item.get('current')}"
        return str(key)
    return str(item)


def _reason(reason: dict[str, Any]) -> dict[str, Any]:
    unit = fmt.unit_of(str(reason.get("metric") or ""))
    message = reason.get("message")
    if not message:
        value = fmt.value(reason.get("value"), unit)
        message = f"{reason.get('rule')}: {value} (threshold {reason.get('threshold')})"
    return {
        "icon": ICONS.get(reason.get("severity"), "❌"),
        "metric": reason.get("metric") or "",
        "category": reason.get("category"),
        "message": message,
    }


def _metric_row(row: dict[str, Any]) -> dict[str, Any]:
    name = str(row.get("metric") or "")
    unit = fmt.unit_of(name, row.get("kind"))
    higher = row.get("higher_is_better", True) is not False
    has_change = fmt.is_number(row.get("delta"))
    return {
        "name": name,
        "category": row.get("category"),
        "baseline": fmt.value(row.get("baseline"), unit),
        "current": fmt.value(row.get("current"), unit),
        "delta": fmt.delta(row.get("delta"), unit, row.get("baseline")),
        "interval": fmt.interval(row.get("ci_low"), row.get("ci_high"), unit, of_change=has_change),
        "p_value": fmt.p_value(row.get("p_value"), row.get("p_adjusted")),
        "threshold": fmt.threshold(row.get("rules"), unit, higher),
        "n": fmt.count(row.get("n")),
        "status": row.get("status"),
        "icon": status_icon(row.get("status")),
        "gated": bool(row.get("rules")),
        "note": row.get("note"),
        "higher_is_better": higher,
    }


def _mde_notes(rows: Iterable[dict[str, Any]]) -> list[dict[str, str]]:
    """Gated metrics whose suite is too small to detect a drop as small as the margin."""
    notes = []
    for row in rows:
        mde = row.get("mde")
        margin = row.get("margin")
        if margin is None:
            margin = (row.get("rules") or {}).get("max_drop")
        if fmt.is_number(mde) and fmt.is_number(margin) and mde > margin:
            unit = fmt.unit_of(str(row.get("metric") or ""), row.get("kind"))
            notes.append(
                {
                    "metric": str(row.get("metric")),
                    "category": row.get("category"),
                    "n": fmt.count(row.get("n")),
                    "mde": fmt.amount(mde, unit, strip=True),
                    "margin": fmt.amount(margin, unit, strip=True),
                }
            )
    return notes


def _categories(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """One row per category, one column per metric: `current (delta)`; worst categories first."""
    if not rows:
        return None
    columns: list[str] = []
    by_category: dict[str, dict[str, dict[str, Any]]] = {}
    for row in rows:
        metric = str(row.get("metric") or "")
        if metric not in columns:
            columns.append(metric)
        by_category.setdefault(str(row.get("category")), {})[metric] = row
    table = []
    for order, (category, metrics) in enumerate(by_category.items()):
        statuses = [row.get("status") for row in metrics.values()]
        worst = min(statuses, key=lambda s: SEVERITY.get(s, 3))
        cells = []
        for metric in columns:
            row = metrics.get(metric)
            if row is None:
                cells.append(fmt.DASH)
                continue
            unit = fmt.unit_of(metric, row.get("kind"))
            text = fmt.value(row.get("current"), unit)
            if fmt.is_number(row.get("delta")):
                text += f" ({fmt.delta(row['delta'], unit)})"
            if row.get("status") in ("warn", "fail"):
                text += " " + ICONS[row["status"]]
            cells.append(text)
        n = max((r.get("n") for r in metrics.values() if fmt.is_number(r.get("n"))), default=None)
        table.append(
            {
                "name": _label(category),
                "n": fmt.count(n),
                "cells": cells,
                "icon": status_icon(worst),
                "_key": (SEVERITY.get(worst, 3), order),
            }
        )
    table.sort(key=lambda item: item.pop("_key"))
    return {"columns": columns, "rows": table}


def _cases(cases: dict[str, Any]) -> dict[str, Any] | None:
    added = [_label(i) for i in cases.get("added") or []]
    removed = [_label(i) for i in cases.get("removed") or []]
    if not added and not removed and cases.get("paired") is None:
        return None
    return {
        "paired": fmt.count(cases.get("paired")),
        "added_count": fmt.count(len(added)),
        "removed_count": fmt.count(len(removed)),
        "added": added[:MAX_IDS],
        "removed": removed[:MAX_IDS],
        "added_more": max(0, len(added) - MAX_IDS),
        "removed_more": max(0, len(removed) - MAX_IDS),
    }


def _examples(cases: dict[str, Any], max_examples: int, max_chars: int) -> dict[str, Any] | None:
    """The most regressed (or, without a baseline, failing) cases, one item per case, in the gate's order."""
    entries = cases.get("regressed") or []
    title, noun = "Most regressed cases", "regressed cases"
    if not entries:
        entries = cases.get("failing") or []
        title, noun = "Failing cases", "failing cases"
    if not entries:
        return None
    grouped: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        grouped.setdefault(str(entry.get("id")), []).append(entry)
    items = []
    for case_id, group in list(grouped.items())[:max_examples]:
        first = group[0]
        fields = []
        for key, label in EXAMPLE_FIELDS:
            raw = next((e.get(key) for e in group if e.get(key) is not None), None)
            if raw is None or (key == "baseline_output" and raw == first.get("output")):
                continue
            fields.append({"label": label, "value": clip(raw, max_chars, pretty=True)})
        items.append(
            {
                "id": _label(case_id),
                "category": _label(first.get("category")),
                "scores": ", ".join(_score_change(e) for e in group if e.get("metric")),
                "errored": first.get("error") is not None,
                "fields": fields,
            }
        )
    return {"title": title, "noun": noun, "total": len(grouped), "items": items}


def _score_change(entry: dict[str, Any]) -> str:
    before, after = entry.get("baseline"), entry.get("current")
    now = fmt.sig(after, strip=True) if fmt.is_number(after) else fmt.DASH
    if fmt.is_number(before):
        return f"{entry['metric']} {fmt.sig(before, strip=True)} → {now}"
    return f"{entry['metric']} {now}"


def _flaky(flaky: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not flaky:
        return None
    items = [
        {"id": _label(item.get("id")), "pass_rate": fmt.value(item.get("pass_rate"), "rate")}
        for item in flaky
    ]
    return {"items": items[:MAX_FLAKY], "more": max(0, len(items) - MAX_FLAKY)}


def _usage_totals(results: dict[str, Any]) -> dict[str, float | None]:
    cases = results.get("cases") or []
    totals: dict[str, float | None] = {}
    for key in ("tokens_in", "tokens_out", "cost"):
        values = [c[key] for c in cases if fmt.is_number(c.get(key))]
        totals[key] = sum(values) / len(values) if values else None
        totals[key + "_total"] = sum(values) if values else None
    if totals["cost"] is not None:
        totals["cost"] *= 1000  # per 1K requests
    return totals


USAGE_ROWS = (
    ("tokens_in", "Input tokens per request", "plain"),
    ("tokens_out", "Output tokens per request", "plain"),
    ("cost", "Cost per 1K requests", "usd"),
    ("cost_total", "Total cost of the run", "usd"),
)


def _usage(current: dict[str, Any], baseline: dict[str, Any] | None) -> dict[str, Any] | None:
    now = _usage_totals(current)
    before = _usage_totals(baseline) if baseline else {}
    rows = []
    for key, label, unit in USAGE_ROWS:
        if now.get(key) is None and before.get(key) is None:
            continue
        change = (
            now[key] - before[key] if fmt.is_number(now.get(key)) and fmt.is_number(before.get(key)) else None
        )
        rows.append(
            {
                "label": label,
                "baseline": fmt.value(before.get(key), unit, strip=True),
                "current": fmt.value(now.get(key), unit, strip=True),
                "delta": fmt.delta(change, unit, before.get(key)),
            }
        )
    cache = (current.get("run") or {}).get("cache") or {}
    hits, misses = cache.get("hits"), cache.get("misses")
    cache_line = None
    if fmt.is_number(hits) and fmt.is_number(misses) and hits + misses > 0:
        cache_line = (
            f"{fmt.count(hits)} hits, {fmt.count(misses)} misses ({hits / (hits + misses) * 100:.0f}% hits)"
        )
    if not rows and cache_line is None:
        return None
    return {"rows": rows, "cache": cache_line}


SVG_WIDTH, SVG_HEIGHT, SVG_PAD = 640, 200, 24


def _trend(trend: dict[str, Any] | None) -> dict[str, Any] | None:
    """The trend chart's points (for mermaid and for the HTML page's inline SVG) and its alarms."""
    if not trend:
        return None
    pairs = [
        (str(label), float(v))
        for label, v in zip(trend.get("labels") or [], trend.get("values") or [], strict=False)
        if fmt.is_number(v)
    ]
    if not pairs:
        return None
    values = [v for _, v in pairs]
    low, high = min(values), max(values)
    pad = (high - low) * 0.1 or abs(high) * 0.05 or 1.0
    low, high = low - pad, high + pad
    step = (SVG_WIDTH - 2 * SVG_PAD) / max(1, len(values) - 1)
    points = [
        (SVG_PAD + i * step, SVG_HEIGHT - SVG_PAD - (v - low) / (high - low) * (SVG_HEIGHT - 2 * SVG_PAD))
        for i, v in enumerate(values)
    ]
    return {
        "metric": str(trend.get("metric") or ""),
        "labels": [label for label, _ in pairs],
        "values": [float(f"{v:.6g}") for v in values],
        "y_min": float(f"{low:.4g}"),
        "y_max": float(f"{high:.4g}"),
        "alarms": [_alarm(alarm, [label for label, _ in pairs]) for alarm in trend.get("alarms") or []],
        "svg": {
            "width": SVG_WIDTH,
            "height": SVG_HEIGHT,
            "points": " ".join(f"{x:.1f},{y:.1f}" for x, y in points),
        },
    }


def _alarm(alarm: Any, labels: list[str]) -> str:
    """An alarm as text: a label, an index into the labels, or a mapping with a message."""
    if isinstance(alarm, dict):
        where = alarm.get("label") or alarm.get("run") or alarm.get("at")
        if where is None and isinstance(alarm.get("index"), int) and 0 <= alarm["index"] < len(labels):
            where = labels[alarm["index"]]
        what = alarm.get("message") or alarm.get("kind") or alarm.get("type") or "drift alarm"
        return f"{what} at {where}" if where is not None else str(what)
    if isinstance(alarm, int) and not isinstance(alarm, bool) and 0 <= alarm < len(labels):
        return f"drift alarm at {labels[alarm]}"
    return str(alarm)


def _safe_url(url: str | None) -> str | None:
    """Only http(s) URLs, with characters that could end a markdown link or an HTML attribute encoded."""
    if not url or not url.startswith(("https://", "http://")):
        return None
    return "".join(f"%{ord(ch):02X}" if ch in " ()<>\"'`\\[]|" or ord(ch) < 0x21 else ch for ch in url)
