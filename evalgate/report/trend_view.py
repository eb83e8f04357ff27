"""The report view's trend chart: the points of a metric over the last runs (for mermaid and the HTML page's
inline SVG) and the history's alarms."""

from __future__ import annotations

from typing import Any

from evalgate.contracts.trend import Trend

SVG_WIDTH, SVG_HEIGHT, SVG_PAD = 640, 200, 24


def trend(trend: Trend | None) -> dict[str, Any] | None:
    """The trend chart's points (for mermaid and for the HTML page's inline SVG) and its alarms."""
    if not trend or not trend.values:
        return None
    values, labels = trend.values, trend.labels
    low, high = min(values), max(values)
    pad = (high - low) * 0.1 or abs(high) * 0.05 or 1.0
    low, high = low - pad, high + pad
    step = (SVG_WIDTH - 2 * SVG_PAD) / max(1, len(values) - 1)
    points = [
        (SVG_PAD + i * step, SVG_HEIGHT - SVG_PAD - (v - low) / (high - low) * (SVG_HEIGHT - 2 * SVG_PAD))
        for i, v in enumerate(values)
    ]
    return {
        "metric": trend.metric,
        "labels": labels,
        "values": [float(f"{v:.6g}") for v in values],
        "y_min": float(f"{low:.4g}"),
        "y_max": float(f"{high:.4g}"),
        "alarms": [alarm.message for alarm in trend.alarms],  # each message names the run it started at
        "svg": {
            "width": SVG_WIDTH,
            "height": SVG_HEIGHT,
            "points": " ".join(f"{x:.1f},{y:.1f}" for x, y in points),
        },
    }
