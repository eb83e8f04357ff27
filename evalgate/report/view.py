"""The report's content as plain data (a view), built once from the Verdict JSON and the results files.

Numbers are formatted here (trusted text); untrusted values (case ids, categories, inputs, outputs, messages)
stay raw and are escaped by the template filters of the output format (see evalgate/report/text.py).
`shorten(view, tier)` drops detail for the size tiers of a comment. This module builds the header (verdict,
baseline, reasons, warnings, legend); each section is built by its own module: metrics_view (the metric and
per-category and per-slice tables, notes, sensitivity), cases_view (case lists, examples, flaky cases), usage_view, trend_view.

What is shown: the metric rows of the gated keys, and of the keys `report.show` lists (when the config has it)
or else the keys the results mark `shown` (results without the mark show every key), except rows with no value
in either run; the per-category table keeps the gated keys and the shown binary/continuous ones (any kind
`report.show` lists), at most metrics_view.MAX_CATEGORY_COLUMNS. The Verdict JSON keeps every key. Each note is
said once: the minimum detectable effects in one "Sensitivity" sentence (the gate's matching warnings are
dropped), other row notes one line per distinct note.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from evalgate import __version__
from evalgate.contracts.results import Results
from evalgate.contracts.signature import describe
from evalgate.contracts.trend import Trend
from evalgate.contracts.verdict import BaselineInfo, Reason, VerdictDocument
from evalgate.report import cases_view, metrics_view, trend_view, usage_view
from evalgate.report import formatting as fmt
from evalgate.report.judge_view import judge_view
from evalgate.report.labels import BADGES, ICONS, WORDS


@dataclasses.dataclass(frozen=True)
class Tier:
    """How much detail a rendering keeps."""

    examples: int
    categories: bool = True
    case_lists: bool = True
    all_metrics: bool = True
    extras: bool = True  # flaky cases, usage, trend


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
    show: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Everything a template shows, at full detail; `show` is the config's `report.show` (None: the results'
    marks decide which ungated keys are shown)."""
    outcome = verdict.verdict
    shown = metrics_view.shown_keys(current, baseline, show)
    units = {row.metric: row.unit for row in verdict.metrics}
    rows = [row for row in verdict.metrics if metrics_view.visible(row, shown)]
    categories, slices = verdict.categories, verdict.slices
    sensitivity, repeated = metrics_view.sensitivity(
        [*rows, *categories, *slices], verdict.mode, (verdict.stats or {}).get("power")
    )
    notes = metrics_view.notes(rows)
    repeated |= {f"{name}: {note['text']}" for note in notes for name in note["metrics"]}
    metric_rows = [metrics_view.metric_row(row) for row in rows]
    return {
        "marker": marker,
        "suite": verdict.suite or current.suite,
        "verdict": outcome,
        "icon": ICONS[outcome],
        "word": WORDS[outcome],
        "verdict_badge": BADGES[outcome],
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
        "categories": metrics_view.categories(
            categories, metrics_view.category_columns(verdict, categories, shown)
        ),
        "slices": metrics_view.categories(slices, metrics_view.category_columns(verdict, slices, shown)),
        "cases": cases_view.cases(verdict.cases),
        "examples": cases_view.examples(verdict.cases, max_examples, max_chars),
        "flaky": cases_view.flaky(verdict.cases.flaky),
        "usage": usage_view.usage(current, baseline, {row.metric for row in rows}),
        "trend": trend_view.trend(trend),
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
    for key, what in (("categories", "the per-category table"), ("slices", "the per-slice table")):
        if not tier.categories and view[key]:
            short[key] = None
            omitted.append(what)
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
        "status": reason.severity,
        "badge": BADGES[reason.severity],
        "metric": metric,
        "category": reason.category,
        "message": message,
        # the gate's messages name their metric first; only the others get a `metric:` prefix
        "prefix": bool(metric) and not message.startswith(metric),
    }


def _repeated(warning: str, said: set[str], verdict: VerdictDocument) -> bool:
    """A warning the report says elsewhere: a row's note, or "no baseline" (the line under the reasons)."""
    no_baseline = not verdict.baseline.available
    return warning in said or (no_baseline and warning.lower().startswith("no baseline"))


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


def _safe_url(url: str | None) -> str | None:
    """Only http(s) URLs, with characters that could end a markdown link or an HTML attribute encoded."""
    if not url or not url.startswith(("https://", "http://")):
        return None
    return "".join(f"%{ord(ch):02X}" if ch in " ()<>\"'`\\[]|" or ord(ch) < 0x21 else ch for ch in url)
