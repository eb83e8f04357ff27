"""A one-line unicode chart of a series: ▁▂▃▄▅▆▇█ scaled between its minimum and maximum."""

from __future__ import annotations

from collections.abc import Sequence

BARS = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float | None]) -> str:
    """One bar per value; a missing value is a space; a flat series sits in the middle."""
    present = [v for v in values if v is not None]
    if not present:
        return " " * len(values)
    low, high = min(present), max(present)
    span = high - low
    chars = []
    for value in values:
        if value is None:
            chars.append(" ")
        elif span == 0:
            chars.append(BARS[len(BARS) // 2 - 1])
        else:
            chars.append(BARS[min(len(BARS) - 1, int((value - low) / span * len(BARS)))])
    return "".join(chars)
