"""The usage section's table of what the run spent and what the cache saved: the model under test's calls,
tokens and cost beside the judge's, and the answers the response cache gave (their calls, tokens and cost, as
the original calls recorded them).

Only measured numbers are numbers: a sum the answers did not all report is shown as a lower bound with how many
reported it (`≥ 1,200 (3 of 4 reported)`), a sum none of them reported as "not measured", never as 0. The
model's counts come from the results' case runs (a run that errored without reporting usage is not counted as
unreported: it may never have been answered); the judge's from the run's `judge` section, one entry per judged
metric family (evalgate.judge.client.JudgeUsage), summed.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from evalgate.contracts.results import CaseRecord, CaseRun, Results
from evalgate.report import formatting as fmt

FIELDS = ("tokens_in", "tokens_out", "cost")
NOT_MEASURED = "not measured"


@dataclasses.dataclass
class Tally:
    """Some answers: how many, and per usage field the sum of what was reported, how many reported it and how
    many answered without reporting it."""

    calls: int = 0
    sums: dict[str, float] = dataclasses.field(default_factory=lambda: dict.fromkeys(FIELDS, 0.0))
    reported: dict[str, int] = dataclasses.field(default_factory=lambda: dict.fromkeys(FIELDS, 0))
    unreported: dict[str, int] = dataclasses.field(default_factory=lambda: dict.fromkeys(FIELDS, 0))

    def merge(self, calls: int, sums: dict[str, Any], unreported: dict[str, Any]) -> None:
        self.calls += calls
        for name in FIELDS:
            missing = _whole(unreported.get(name))
            self.unreported[name] += missing
            self.reported[name] += max(0, calls - missing)
            if fmt.is_number(sums.get(name)):
                self.sums[name] += sums[name]


def _whole(value: Any) -> int:
    return int(value) if fmt.is_number(value) else 0


def _model(results: Results) -> tuple[Tally, Tally]:
    """The model's calls made and the answers from the cache, from every case run (each repeat is one)."""
    made, saved = Tally(), Tally()
    runs: list[CaseRecord | CaseRun] = []
    for case in results.cases:
        runs.extend(case.repeats or [case])
    for run in runs:
        tally = saved if getattr(run, "cached", False) is True else made
        tally.calls += 1
        for name in FIELDS:
            value = getattr(run, name, None)
            if value is not None and fmt.is_number(value):
                tally.sums[name] += value
                tally.reported[name] += 1
            elif run.error is None:
                tally.unreported[name] += 1
    made.calls = max(0, made.calls - _whole(results.run.not_run))  # runs never reached made no call
    return made, saved


def _judge(results: Results) -> tuple[Tally, Tally] | None:
    """The judge's calls made and answers from the cache, over its metric families; None when it was not asked.
    A file written before the split records only totals: its tokens and cost are then not measured per part."""
    entries = [entry for entry in (results.run.judge or {}).values() if isinstance(entry, dict)]
    if not entries:
        return None
    made, saved = Tally(), Tally()
    for entry in entries:
        calls, cached = _whole(entry.get("calls")), _whole(entry.get("cached"))
        for tally, part, count in (
            (made, entry.get("made"), calls - cached),
            (saved, entry.get("saved"), cached),
        ):
            if isinstance(part, dict):
                tally.merge(_whole(part.get("calls")), part, part.get("unreported") or {})
            else:
                tally.merge(count, {}, dict.fromkeys(FIELDS, count))
    return made, saved


def _cell(tally: Tally, name: str) -> str:
    if name == "calls":
        return fmt.count(tally.calls)
    if tally.reported[name] == 0 and tally.calls:
        return NOT_MEASURED
    total = tally.sums[name]
    text = fmt.value(total, "usd", strip=True) if name == "cost" else fmt.count(int(total))
    if tally.unreported[name]:
        answered = tally.reported[name] + tally.unreported[name]
        return f"≥ {text} ({fmt.count(tally.reported[name])} of {fmt.count(answered)} reported)"
    return text


ROWS = (  # label, spent (calls made) or saved (answers from the cache), field
    ("Calls made", "made", "calls"),
    ("Input tokens", "made", "tokens_in"),
    ("Output tokens", "made", "tokens_out"),
    ("Cost", "made", "cost"),
    ("Saved by the cache: answers", "saved", "calls"),
    ("Saved by the cache: input tokens", "saved", "tokens_in"),
    ("Saved by the cache: output tokens", "saved", "tokens_out"),
    ("Saved by the cache: cost", "saved", "cost"),
)


def spend(results: Results) -> dict[str, Any] | None:
    """The table: a column for the model and one for the judge (when it was asked); the cache's rows when a
    cache was on or gave an answer. None when nothing was called."""
    columns = [("Model under test", _model(results))]
    judged = _judge(results)
    if judged is not None:
        columns.append(("Judge", judged))
    if not any(made.calls or saved.calls for _, (made, saved) in columns):
        return None
    cache_on = isinstance(results.run.cache, dict) or any(saved.calls for _, (_, saved) in columns)
    rows = [
        {
            "label": label,
            "cells": [_cell(made if part == "made" else saved, name) for _, (made, saved) in columns],
        }
        for label, part, name in ROWS
        if part == "made" or cache_on
    ]
    return {"columns": [title for title, _ in columns], "rows": rows}
