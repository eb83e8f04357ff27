"""Fixtures of the metrics tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

VECTORS_PATH = "shared/fixtures/reference-vectors.json"


@pytest.fixture(scope="session")
def vectors() -> dict[str, Any]:
    """The published reference vectors: shared/ sits beside the repository (or a folder above it)."""
    for folder in Path(__file__).resolve().parents:
        if (folder / VECTORS_PATH).is_file():
            return json.loads((folder / VECTORS_PATH).read_text())
    raise FileNotFoundError(VECTORS_PATH)
