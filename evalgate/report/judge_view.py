"""The gate report's judge section, as plain data: whether the judge may gate, its agreement, the canary."""

from __future__ import annotations

from typing import Any

STATUS = {"trusted": "✅", "untrusted": "⚠️", "uncalibrated": "⚠️"}
# the HTML's text badge of each status: its CSS class (the colour of a report status) and its word
BADGES = {
    "trusted": ("pass", "TRUSTED"),
    "untrusted": ("warn", "NOT TRUSTED"),
    "uncalibrated": ("warn", "NOT CALIBRATED"),
}
UNKNOWN_BADGE = ("warn", "UNKNOWN")


def _kappa(entry: dict[str, Any]) -> str:
    value = entry.get("agreement")
    if value is None:
        return "–"
    if entry.get("ci_low") is None:
        return f"{value:.2f}"
    return f"{value:.2f} ({entry['ci_low']:.2f}–{entry['ci_high']:.2f})"


def judge_view(assessment: dict[str, Any] | None) -> dict[str, Any] | None:
    """What the report shows of the Verdict JSON's `judge_calibration` (None: the suite has no calibration)."""
    if not assessment:
        return None
    status: str | None = assessment.get("status")
    metrics = assessment.get("metrics") or {}
    untrusted = ", ".join(name for name, entry in metrics.items() if not entry.get("trusted"))
    words = "trusted to gate"
    if untrusted:
        words = f"{'not calibrated' if status == 'uncalibrated' else 'not trusted'} for {untrusted}: their gate rules only warn"
    canary = assessment.get("canary") or None
    canary_text = None
    if canary:
        if canary.get("changed_share") is None:
            canary_text = canary.get("message") or "no canary verdicts compared"
        else:
            source = "judged afresh" if canary.get("fresh") else "from the cache"
            canary_text = (
                f"{canary['changed']} of {canary['compared']} verdicts on the canary answers differ from the "
                f"calibration's ({canary['changed_share']:.0%}; alarm above {canary['max_changed']:.0%}; {source})"
            )
    return {
        "status": status,
        "icon": STATUS.get(status or "", "❔"),
        "badge": BADGES.get(status or "", UNKNOWN_BADGE),
        "words": words,
        "file": assessment.get("file"),
        "created_at": assessment.get("created_at"),
        "min_agreement": assessment.get("min_agreement"),
        "rows": [
            {
                "metric": name,
                "kappa": _kappa(entry),
                "icon": "✅" if entry.get("trusted") else "⚠️",
                "badge": BADGES["trusted" if entry.get("trusted") else "untrusted"],
            }
            for name, entry in (assessment.get("metrics") or {}).items()
        ],
        "reasons": list(assessment.get("reasons") or []),
        "canary": canary_text,
        "canary_alarm": bool(canary and canary.get("alarm")),
    }
