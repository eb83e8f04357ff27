"""The gate: turn a Comparison into a verdict (pass | warn | fail) with one reason per breached rule.

min and max are hard limits on the current value. max_drop (absolute) and max_drop_pct (percent of
the baseline) compare with the baseline: in mode "threshold" a drop beyond the margin fails; in mode
"significance" (the default) it fails only when it is also significant after Holm's correction, and warns
when only one of the two holds. Too many errors fail the run whatever the scores say. See docs/gate.md.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from evalgate.config import DROP_RULES, SuiteConfig
from evalgate.contracts.comparison import Comparison, MetricComparison
from evalgate.contracts.verdict import VerdictDocument
from evalgate.contracts.versions import VERDICT_SCHEMA_VERSION
from evalgate.margins import amount, rule_margin
from evalgate.metrics.base import UNMEASURED, timing_source
from evalgate.metrics.error_rate import ErrorRate
from evalgate.process.exitcodes import ExitCode
from evalgate.report import formatting as fmt

DEFAULT_MAX_ERROR_RATE = 0.05
EXIT_CODES = {"pass": ExitCode.PASS, "warn": ExitCode.PASS, "fail": ExitCode.FAIL}
SEVERITY_ORDER = {"info": 0, "pass": 1, "warn": 2, "fail": 3}


@dataclass
class Reason:
    """One breached (or borderline) rule, with a sentence a person understands."""

    metric: str
    category: str | None
    rule: str  # min | max | max_drop | max_drop_pct | error_rate
    threshold: float
    value: float | None
    baseline: float | None
    delta: float | None
    severity: str  # fail | warn
    message: str
    p_adjusted: float | None = None
    slice: str | None = None  # the slice of a `gate.slices` rule (evalgate.slices)

    def to_json(self) -> dict[str, Any]:
        return _clean({k: v for k, v in self.__dict__.items() if k != "slice" or v is not None})


@dataclass
class Verdict:
    comparison: Comparison
    verdict: str
    headline: str
    reasons: list[Reason] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    judge_calibration: dict[str, Any] | None = None  # whether the judge may gate (evalgate.judge.trust)

    @property
    def exit_code(self) -> int:
        return ExitCode.INCOMPLETE if self.comparison.incomplete else EXIT_CODES[self.verdict]

    def document(self) -> VerdictDocument:
        """The verdict as the typed document every report, output and the Action read (checked once, here)."""
        return VerdictDocument.model_validate(self.to_json())

    def to_json(self) -> dict[str, Any]:
        """The Verdict JSON of docs/internals.md ("Comparison and Verdict"), extended as docs/gate.md says."""
        comparison = self.comparison
        settings = comparison.stats
        return _clean(
            {
                "schema_version": VERDICT_SCHEMA_VERSION,
                "suite": comparison.suite,
                "verdict": self.verdict,
                "exit_code": self.exit_code,
                "headline": self.headline,
                "mode": settings["mode"],
                "stats": {
                    k: settings[k]
                    for k in ("alpha", "confidence", "resamples", "power", "signature_mismatch")
                },
                "baseline": {
                    "available": comparison.has_baseline,
                    **comparison.baseline_info,
                    "signature_match": comparison.signature_match,
                    "signature_diff": comparison.signature_diff,
                    "note": None if comparison.has_baseline else NO_BASELINE,
                },
                "reasons": [reason.to_json() for reason in self.reasons],
                "metrics": [item.to_json() for item in comparison.metrics],
                "categories": [item.to_json() for item in comparison.categories],
                **({"slices": [item.to_json() for item in comparison.slices]} if comparison.slices else {}),
                "cases": {
                    "added": comparison.added,
                    "removed": comparison.removed,
                    "paired": comparison.paired,
                    "total": comparison.cases,
                    "errors": comparison.errors,
                    "runs": comparison.runs,
                    "error_rate": comparison.error_rate,
                    "quarantined": comparison.quarantined,
                    "regressed": comparison.regressed,
                    "regressed_total": comparison.regressed_total,
                    "failing": comparison.failing,
                    "failing_total": comparison.failing_total,
                    "flaky": comparison.flaky,
                },
                "warnings": self.warnings,
                **({"judge_calibration": self.judge_calibration} if self.judge_calibration else {}),
            }
        )


NO_BASELINE = "No baseline to compare with: only the absolute thresholds (min, max) were checked, not drops."


def decide(
    comparison: Comparison, config: SuiteConfig, *, advisory: Mapping[str, str] | None = None
) -> Verdict:
    """Apply the config's rules to the comparison: one reason per breached rule, then the verdict.

    `advisory` names metrics whose rules only warn, with the reason (a judge not trusted to gate)."""
    alpha = float(comparison.stats["alpha"])
    mode = comparison.stats["mode"]
    errors = _error_reasons(comparison, config)
    reasons = _incomplete_reasons(comparison) + errors
    for item in comparison.rows:
        found = [] if not item.rules else _item_reasons(item, comparison, mode=mode, alpha=alpha)
        found = only_warn(found, advisory or {})
        reasons.extend(found)
        if item.metric == "error_rate" and item.category is None:
            found = found + errors
        if item.rules:
            item.status = max((r.severity for r in found), key=SEVERITY_ORDER.__getitem__, default="pass")
    warnings = list(comparison.warnings) + _advisory_warnings(comparison, advisory or {})
    for item in comparison.rows:
        if item.rules and item.note and item.margin is not None:
            group = item.category if item.slice is None else item.slice
            label = item.metric if group is None else f"{item.metric} [{group}]"
            warnings.append(f"{label}: {item.note}")
    if any(r.severity == "fail" for r in reasons):
        verdict = "fail"
    elif any(r.severity == "warn" for r in reasons) or not comparison.signature_match:
        verdict = "warn"
    else:
        verdict = "pass"
    return Verdict(comparison, verdict, _headline(verdict, reasons, comparison), reasons, warnings)


def only_warn(reasons: list[Reason], advisory: Mapping[str, str]) -> list[Reason]:
    """The reasons with every failure of an advisory metric turned into a warning that says why."""
    for reason in reasons:
        why = advisory.get(reason.metric)
        if why is not None and reason.severity == "fail":
            reason.severity = "warn"
            reason.message = f"{reason.message} (only a warning: {why})"
    return reasons


def _advisory_warnings(comparison: Comparison, advisory: Mapping[str, str]) -> list[str]:
    """One warning per reason, naming the gated metrics whose rules it turned into warnings."""
    gated = [item.metric for item in comparison.metrics if item.rules and item.metric in advisory]
    by_reason: dict[str, list[str]] = {}
    for metric in dict.fromkeys(gated):
        by_reason.setdefault(advisory[metric], []).append(metric)
    return [f"{', '.join(names)} gated as warnings only: {why}" for why, names in by_reason.items()]


def _incomplete_reasons(comparison: Comparison) -> list[Reason]:
    """A run that did not complete never passes, whatever its partial numbers say."""
    if not comparison.incomplete:
        return []
    message = f"run incomplete: {comparison.incomplete}; an incomplete run never passes"
    return [Reason("run", None, "complete", 1.0, 0.0, None, None, "fail", message)]


def _error_reasons(comparison: Comparison, config: SuiteConfig) -> list[Reason]:
    """Errors are never passes: above error_rate's max (5% by default) the run is not trusted."""
    limits = [
        r.max for r in config.rules if r.metric == "error_rate" and r.category is None and r.max is not None
    ]
    limit = min(limits) if limits else DEFAULT_MAX_ERROR_RATE
    rate = comparison.error_rate
    item = comparison.metric("error_rate")
    unit = item.unit if item is not None else ErrorRate.FACTS[0].unit
    if item is not None:
        item.rules["max"] = limit  # gated by default; judged here, with its own message
    if rate <= limit:
        return []
    return [
        Reason(
            metric="error_rate",
            category=None,
            rule="max",
            threshold=limit,
            value=rate,
            baseline=item.baseline if item is not None else None,
            delta=item.delta if item is not None else None,
            severity="fail",
            message=(
                f"too many errors to trust the run: {fmt.distinct(rate, limit, unit)} of runs errored "
                f"({comparison.errors} of {comparison.runs} runs), above the maximum "
                f"{fmt.value(limit, unit, strip=True)}; errors never count as passes"
            ),
        )
    ]


def _item_reasons(item: MetricComparison, comparison: Comparison, *, mode: str, alpha: float) -> list[Reason]:
    reasons = []
    name = _label(item)
    for rule, threshold in item.rules.items():
        if item.metric == "error_rate" and item.category is None and rule == "max":
            continue  # see _error_reasons
        unmeasured = _unmeasured(item, rule) if comparison.has_baseline or rule in ("min", "max") else None
        reason: Reason | None
        if unmeasured:
            reason = _reason(
                item,
                rule,
                threshold,
                "warn",
                f"{name} was not measured, so its {rule} was not checked: {unmeasured}",
            )
        elif rule in ("min", "max"):
            reason = _limit_reason(item, name, rule, threshold)
        elif comparison.has_baseline:
            reason = _drop_reason(item, name, rule, threshold, mode=mode, alpha=alpha)
        else:
            reason = None
        if reason is not None:
            reasons.append(reason)
    return reasons


def _reason(item: MetricComparison, rule: str, threshold: float, severity: str, message: str) -> Reason:
    test = item.tests.get(rule)
    return Reason(
        metric=item.metric,
        category=item.category,
        rule=rule,
        threshold=threshold,
        value=item.current,
        baseline=item.baseline,
        delta=item.delta,
        severity=severity,
        message=message,
        p_adjusted=item.p_adjusted if test is None else test["p_adjusted"],
        slice=item.slice,
    )


def _unmeasured(item: MetricComparison, rule: str) -> str | None:
    """Why a timing rule cannot be judged: a run whose timing values were not measured (mostly cached answers'
    recorded timings, metrics.base.timing_measured): this run for any rule, the baseline too for a drop rule."""
    runs = ("current", "baseline") if rule in DROP_RULES else ("current",)
    for side in runs:
        timing = (item.timing or {}).get(side)
        if timing is not None and timing["n"] and not timing["measured"]:
            run = "this run" if side == "current" else "the baseline"
            return f"{run} was {timing_source(timing['n'], timing['fresh'])}, and {UNMEASURED}"
    return None


def _limit_reason(item: MetricComparison, name: str, rule: str, threshold: float) -> Reason | None:
    if item.current is None:
        return _reason(
            item, rule, threshold, "warn", f"{name} could not be computed, so its {rule} was not checked"
        )
    if (rule == "min" and item.current < threshold) or (rule == "max" and item.current > threshold):
        side = "below the minimum" if rule == "min" else "above the maximum"
        value = fmt.distinct(item.current, threshold, item.unit, strip=True)
        return _reason(item, rule, threshold, "fail", f"{name} is {value}, {side} {_value(item, threshold)}")
    return None


def _drop_reason(
    item: MetricComparison, name: str, rule: str, threshold: float, *, mode: str, alpha: float
) -> Reason | None:
    """max_drop / max_drop_pct: fail on a drop significantly beyond the margin; warn when only one holds."""
    drop = item.drop
    if drop is None or item.baseline is None:
        why = item.note or "there is no baseline value"
        return _reason(item, rule, threshold, "warn", f"{name}: {why}, so its {rule} was not checked")
    margin = rule_margin(rule, threshold, item.baseline)
    margin_text = f"{amount(item, margin, adjective=True)} margin" + (
        f" ({threshold:g}% of the baseline)" if rule == "max_drop_pct" else ""
    )
    beyond = drop > margin + 1e-12
    now = "n/a" if item.current is None else fmt.distinct(item.current, item.baseline, item.unit, strip=True)
    change = f"{name} {_worse_verb(item)} {_points(item, drop)} ({_value(item, item.baseline)} → {now}"
    test = item.tests.get(rule)
    p_beyond = None if test is None else test["p_adjusted"]
    if mode == "threshold" or test is None or p_beyond is None:
        if not beyond:
            return None
        untested = "" if mode == "threshold" else "; no significance test was possible"
        return _reason(item, rule, threshold, "fail", f"{change}), beyond the {margin_text}{untested}")
    evidence = f"p{_p(p_beyond)}{_holm(test['p_value'], p_beyond)} that the drop exceeds the margin"
    if beyond and p_beyond < alpha:
        return _reason(item, rule, threshold, "fail", f"{change}), beyond the {margin_text} ({evidence})")
    if beyond:
        return _reason(
            item,
            rule,
            threshold,
            "warn",
            f"{change}), beyond the {margin_text}, but not significantly ({evidence}, alpha {alpha:g}): "
            "inconclusive, more cases would tell",
        )
    if item.p_adjusted is not None and item.p_adjusted < alpha and drop > 0:
        p_text = f"p{_p(item.p_adjusted)}{_holm(item.p_value, item.p_adjusted)}"
        return _reason(
            item,
            rule,
            threshold,
            "warn",
            f"{change}): a significant drop ({p_text}) but within the {margin_text}",
        )
    return None


def _holm(raw: float | None, adjusted: float) -> str:
    return " after Holm" if raw != adjusted else ""


def _headline(verdict: str, reasons: list[Reason], comparison: Comparison) -> str:
    for severity in ("fail", "warn"):
        found = [r for r in reasons if r.severity == severity]
        if verdict == severity and found:
            more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
            return found[0].message + more
    if verdict == "warn":
        fields = ", ".join(d["field"] for d in comparison.signature_diff if d["affects_comparison"])
        return f"no rule breached, but the baseline was computed differently ({fields} differ)"
    gated = sum(1 for item in comparison.rows if item.rules)
    if not comparison.has_baseline:
        return f"all {gated} gated metric(s) within their absolute thresholds (no baseline to compare with)"
    return f"no regression: all {gated} gated metric(s) pass on {comparison.paired} paired cases"


def _label(item: MetricComparison) -> str:
    if item.slice is not None:
        return f"{item.metric} in slice {item.slice!r}"
    return item.metric if item.category is None else f"{item.metric} in category {item.category!r}"


def _worse_verb(item: MetricComparison) -> str:
    return "dropped" if item.higher_is_better else "rose"


def _points(item: MetricComparison, value: float) -> str:
    text = amount(item, value)
    return text if text.endswith(" points") else f"by {text}"


def _value(item: MetricComparison, value: float | None) -> str:
    """A value (or threshold) of the item's metric in its unit: 91.0%, 412 ms, 0.53."""
    return "n/a" if value is None else fmt.value(value, item.unit, strip=True)


def _p(value: float) -> str:
    return "<0.001" if value < 0.001 else f"={value:.3g}"


def _clean(value: Any) -> Any:
    """JSON-safe: non-finite floats become None (strict JSON has no NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value
