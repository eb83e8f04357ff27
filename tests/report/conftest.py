"""The results fixtures the report tests render: a current run and its baseline, read as evalgate reads them."""

from __future__ import annotations

import pytest
from reportkit import results_fixture

from evalgate.contracts.results import Results


@pytest.fixture
def current() -> Results:
    return results_fixture("results_current.json")


@pytest.fixture
def baseline() -> Results:
    return results_fixture("results_baseline.json")
