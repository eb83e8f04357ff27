"""The report view's metric sections: the rows of the metric table (which keys are shown), the notes under it,
the one "Sensitivity" sentence on drops the gate can miss, and the per-category table (its columns, its rows by
the size of their regression), which the per-slice table is too (`categories` of the slice rows: one code for
both); `report.show` (`Shown`) chooses the ungated keys shown."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

from evalgate.contracts.results import MetricKeyInfo, Results
from evalgate.contracts.verdict import MetricRow, VerdictDocument
from evalgate.report import formatting as fmt
from evalgate.report.labels import SEVERITY, short_label, status_mark

MAX_CATEGORY_COLUMNS = 6  # metric columns of the per-category table


def metric_row(row: MetricRow) -> dict[str, Any]:
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
        "mark": status_mark(row.status, gated=bool(row.rules)),
        "gated": bool(row.rules),
        "note": row.note,
        "higher_is_better": row.higher_is_better,
    }


@dataclasses.dataclass(frozen=True)
class Shown:
    """Which metric keys the tables show beside the gated ones (those are always shown): the keys `report.show`
    lists (`chosen`) when the config has it, else those the results mark `shown` (older results have no mark:
    shown). The marks are decided when the run is scored (evalgate.pipeline), from the config; `chosen` lets
    a report follow the config's list when it renders results written under another one."""

    marks: dict[str, MetricKeyInfo]
    chosen: frozenset[str] | None = None

    def __contains__(self, name: object) -> bool:
        if self.chosen is not None:
            return name in self.chosen
        return name not in self.marks or self.marks[str(name)].shown


def shown_keys(current: Results, baseline: Results | None, show: Sequence[str] | None) -> Shown:
    """The keys shown: `show` (report.show) when given, else the results files' marks (`metric_keys`; the
    current run's entries win)."""
    marks = {**(baseline.metric_keys if baseline else {}), **current.metric_keys}
    return Shown(marks, None if show is None else frozenset(show))


def _has_value(row: MetricRow) -> bool:
    return fmt.is_number(row.current) or fmt.is_number(row.baseline)


def visible(row: MetricRow, shown: Shown) -> bool:
    """A metric row the report shows: a gated one, or one shown with a value in either run."""
    if row.rules:
        return True
    return row.metric in shown and _has_value(row)


def group_of(row: MetricRow) -> str | None:
    """The category or slice of a row (None overall)."""
    return row.category if row.slice is None else row.slice


def _row_label(row: MetricRow) -> str:
    """How the gate names a row in its warnings: `metric` or `metric [category or slice]`."""
    group = group_of(row)
    return row.metric if group is None else f"{row.metric} [{group}]"


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


def sensitivity(rows: Iterable[MetricRow], mode: str, power: Any) -> tuple[dict[str, Any] | None, set[str]]:
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
                "category": None if group_of(row) is None else short_label(str(group_of(row))),
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


def notes(rows: Iterable[MetricRow]) -> list[dict[str, Any]]:
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


def category_columns(verdict: VerdictDocument, rows: list[MetricRow], shown: Shown) -> tuple[list[str], int]:
    """The per-category table's metrics: the gated ones, then shown ones with a value (by default binary and
    continuous ones only; any kind `report.show` chose), at most MAX_CATEGORY_COLUMNS; and how many were left
    out for lack of room."""
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
        and (
            name in gated
            or (name in shown and (shown.chosen is not None or kinds[name] in ("binary", "continuous")))
        )
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


def categories(rows: list[MetricRow], columns: tuple[list[str], int]) -> dict[str, Any] | None:
    """One row per category (or slice: `group_of`), one column per chosen metric: `current (delta)`. Sorted by the size of
    the regression, largest first (`regression_size` of its worst shown metric: a category down 26 points comes
    before one down 2, an unchanged or improved one after), ties by name. Timings count only between rows whose
    other metrics tie: a latency per category is measured on few calls, and its relative change would outrank
    a drop in quality. Only gated rows get a status mark
    (their worst gated status; a cell of a gated metric that warned or failed gets its own); an ungated row has
    no threshold to pass or fail, so it gets none."""
    names, left_out = columns
    if not rows or not names:
        return None
    by_category: dict[str, dict[str, MetricRow]] = {}
    for row in rows:
        by_category.setdefault(str(group_of(row)), {})[row.metric] = row
    table: list[dict[str, Any]] = []
    for category, metrics in by_category.items():
        gated = [row.status for row in metrics.values() if row.rules]
        worst = min(gated, key=lambda s: SEVERITY.get(s, 3)) if gated else None
        shown = [metrics[name] for name in names if name in metrics]
        size = max((regression_size(row) for row in shown if row.timing is None), default=0.0)
        slower = max((regression_size(row) for row in shown if row.timing is not None), default=0.0)
        name = short_label(category)
        table.append(
            {
                "name": name,
                "n": fmt.count(max((r.n for r in metrics.values()), default=None)),
                "cells": [_category_cell(metrics.get(metric)) for metric in names],
                "mark": status_mark(worst, gated=bool(gated)),
                "_key": (-size, -slower, name),
            }
        )
    table.sort(key=lambda item: item.pop("_key"))
    return {"columns": names, "rows": table, "left_out": left_out}


def _category_cell(cell: MetricRow | None) -> dict[str, Any]:
    """`current (delta)`, marked when its metric is gated there and warned or failed."""
    if cell is None:
        return {"text": fmt.DASH, "mark": None}
    text = fmt.value(cell.current, cell.unit)
    if fmt.is_number(cell.delta):
        text += f" ({fmt.delta(cell.delta, cell.unit)})"
    flagged = cell.status in ("warn", "fail")
    return {"text": text, "mark": status_mark(cell.status, gated=bool(cell.rules) and flagged)}
