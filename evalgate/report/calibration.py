"""The judge calibration as markdown (templates/calibration.md.j2) and the gate report's judge section."""

from __future__ import annotations

import re
from typing import Any

from evalgate.report.judge_view import judge_view
from evalgate.report.render import environment


def pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.0f}%"


def num(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def signed(value: float | None) -> str:
    return "–" if value is None else f"{value:+.2f}"


def est(entry: dict[str, Any] | None, form: Any = num) -> str:
    """A statistic with its bootstrap interval: 0.78 (0.70–0.85)."""
    if not entry or entry.get("value") is None:
        return "–"
    if entry.get("ci_low") is None:
        return form(entry["value"])
    return f"{form(entry['value'])} ({form(entry['ci_low'])}–{form(entry['ci_high'])})"


def render_calibration(document: dict[str, Any], trust: dict[str, Any] | None) -> str:
    template = environment("markdown").get_template("calibration.md.j2")
    text = template.render(**document, trust=judge_view(trust), pct=pct, num=num, est=est, signed=signed)
    text = "\n".join(line.rstrip() for line in text.splitlines()).strip()
    return re.sub(r"\n{3,}", "\n\n", text) + "\n"
