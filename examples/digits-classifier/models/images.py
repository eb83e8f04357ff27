"""8x8 digit scans as text: each pixel's ink (0-16) is one character of RAMP, so a case reads like a picture."""

from __future__ import annotations

import numpy as np

RAMP = " .'`^,:;-=+*ox%#@"  # 17 characters for ink 0..16


def to_text(pixels: np.ndarray) -> list[str]:
    """64 ink values -> 8 lines of 8 characters."""
    grid = np.asarray(pixels, dtype=int).reshape(8, 8)
    return ["".join(RAMP[value] for value in row) for row in grid]


def from_text(lines: list[str]) -> np.ndarray:
    """8 lines of 8 characters -> 64 ink values (the inverse of to_text)."""
    if len(lines) != 8 or any(len(line) != 8 for line in lines):
        raise ValueError("an image is 8 lines of 8 characters")
    return np.array([RAMP.index(char) for line in lines for char in line], dtype=float)
