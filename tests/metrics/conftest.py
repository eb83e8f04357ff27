"""Fixtures of the metrics tests."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import reference_vectors


@pytest.fixture(scope="session")
def vectors() -> dict[str, Any]:
    """The published reference vectors (tests/fixtures/reference-vectors.json)."""
    return reference_vectors()
