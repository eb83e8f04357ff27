"""The judge canary in the history store: its series, and the alarm when the judge stops judging as calibrated.

A run on the history branch re-judges the canary answers (evalgate.judge.canary) and records the share of the
judge's verdicts that differ from those it gave at calibration as the series `judge_canary_changed`. Besides the
EWMA and CUSUM alarms every series gets (evalgate.history.drift), this one alarms as soon as the share exceeds
`judge.calibration.max_canary_changed`: a judge that is deterministic enough never varies in the reference runs,
so a standardized drift alarm could not see the day its provider changes the model. Standard library only: the
history command imports this module to build `evalgate --help`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

CANARY_KEY = "judge_canary_changed"


def history_aggregates(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The canary's history value of a run ({} unless the canary was judged afresh and compared)."""
    canary = results.get("judge_canary") or {}
    if not canary.get("fresh") or canary.get("changed_share") is None:
        return {}
    return {CANARY_KEY: {"value": canary["changed_share"], "n": canary["compared"]}}


def history_keys(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The canary series' declaration (kind, direction, its alarm limit), stored with the run's metric keys."""
    if not history_aggregates(results):
        return {}
    limit = results["judge_canary"]["max_changed"]
    return {CANARY_KEY: {"kind": "binary", "higher_is_better": False, "shown": False, "alarm_above": limit}}


def add_limit_alarm(
    report: dict[str, Any], points: Sequence[Any], spec: dict[str, Any], metric: str
) -> dict[str, Any]:
    """Add the alarm of a series declared with `alarm_above` when its latest value is above that limit."""
    limit = spec.get("alarm_above")
    if limit is None or not points or not points[-1].value > limit:
        return report
    latest = points[-1]
    message = (
        f"{metric}: {latest.value:.0%} of the judge's verdicts on the canary answers differ from those it gave "
        f"at calibration (above {limit:.0%}) at run {latest.name}: the judge's model or provider may have "
        "changed; check it and re-run `evalgate judge calibrate`"
    )
    alarms = [*report.get("extra_alarms", []), {"kind": "canary", "run": latest.name, "message": message}]
    return {**report, "alarm": True, "extra_alarms": alarms}
