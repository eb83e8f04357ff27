"""The trend a report draws: one metric's last comparable runs from the history store, with its active alarms
(evalgate.history.trend.trend_for_report writes it, evalgate/report/trend_view.py reads it)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Alarm:
    """An active alarm on the series: a drift check (`ewma`, `cusum`, `constant`, evalgate/history/drift.py)
    or a declared limit (`canary`); `run` is where it started, and `message` says it in full (run included)."""

    kind: str
    run: str
    message: str


@dataclass(frozen=True)
class Trend:
    """`metric` (with ` [category]` for a category's series), one label and one value per run, oldest first."""

    metric: str
    labels: list[str]
    values: list[float]
    alarms: list[Alarm] = field(default_factory=list)
