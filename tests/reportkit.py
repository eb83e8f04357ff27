"""Shared helper of the report tests: the fixture files under tests/fixtures/report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from evalgate.contracts.results import Results, parse_results
from evalgate.contracts.verdict import VerdictDocument, parse_verdict

FIXTURES = Path(__file__).parent / "fixtures" / "report"


def load(name: str) -> dict[str, Any]:
    """A fixture file (a verdict or a results file) as data, fresh on every call."""
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def results_fixture(name: str) -> Results:
    """A results fixture file read as evalgate reads a results file (migrated and checked once)."""
    return parse_results(load(name), file=str(FIXTURES / name))


def verdict_fixture(name: str) -> VerdictDocument:
    """A verdict fixture file read as the Action reads verdict.json (checked once as a verdict document)."""
    return typed(load(name), file=str(FIXTURES / name))


def typed(verdict: dict[str, Any], *, file: str = "verdict") -> VerdictDocument:
    """A verdict a test built or changed as data, checked as the verdict it stands for: a key or shape no
    producer writes fails here, not inside the report."""
    return parse_verdict(verdict, file=file)
