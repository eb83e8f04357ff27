"""A metric's trend over the history store: its comparable series with the drift report and alarms, and the
chart data the PR comment shows (the `Trend` contract)."""

from __future__ import annotations

from typing import Any

from evalgate.contracts.trend import Alarm, Trend
from evalgate.history.drift import alarm_messages, drift_report
from evalgate.history.store import HistoryStore, Point
from evalgate.judge.canary_history import add_limit_alarm


def metric_history(
    store: HistoryStore,
    suite: str,
    metric: str,
    *,
    category: str | None = None,
    since: str | None = None,
    **drift_options: Any,
) -> tuple[list[Point], dict[str, Any]]:
    """The comparable series of one metric (since the last change of datasets or metrics, and `since`) and its
    drift report."""
    points = store.series(suite, metric, category, since=store.window_start(suite, since))
    spec = store.metric_keys(suite).get(metric, {})
    report = drift_report(points, spec.get("higher_is_better", True), kind=spec.get("kind"), **drift_options)
    return points, add_limit_alarm(report, points, spec, metric)


def trend_for_report(
    store: HistoryStore, suite: str, metric: str, last: int = 30, *, category: str | None = None
) -> Trend:
    """The trend chart data for the PR comment: the last `last` comparable runs and the active alarms."""
    points, report = metric_history(store, suite, metric, category=category)
    shown = points[-last:] if last else points
    return Trend(
        metric=metric if category is None else f"{metric} [{category}]",
        labels=[point.name for point in shown],
        values=[float(point.value) for point in shown],
        alarms=[Alarm(**alarm) for alarm in alarm_messages(report, metric)],
    )
