"""Shared test helpers: paths to the repository and its fixtures, and a suite written into tmp_path.

Everything a test reads lives in the repository (tests/fixtures/), so a plain clone runs the suite."""

from __future__ import annotations

import functools
import json
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from evalgate import outbound

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
# the published reference values of scikit-learn, rouge-score, sacrebleu, scipy and numpy (see its "about")
REFERENCE_VECTORS = FIXTURES / "reference-vectors.json"
# real webhook payloads from octokit/webhooks (MIT, tests/fixtures/github-events/LICENSE.octokit-webhooks)
GITHUB_EVENTS = FIXTURES / "github-events"


@functools.cache
def reference_vectors() -> dict:
    return json.loads(REFERENCE_VECTORS.read_text(encoding="utf-8"))


def write_suite(tmp_path: Path, config: str, files: dict[str, str] | None = None) -> Path:
    """Write evalgate.yaml (dedented) and other files into tmp_path; returns the config path."""
    for name, text in (files or {}).items():
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text).lstrip("\n"))
    path = tmp_path / "evalgate.yaml"
    path.write_text(textwrap.dedent(config).lstrip("\n"))
    return path


@pytest.fixture(autouse=True)
def _new_step() -> None:
    """Each test is a step of its own for GitHub's annotation limit (evalgate.github.limits)."""
    from evalgate.github import actions_io

    actions_io.start_step()


@pytest.fixture(autouse=True)
def _forget_secrets() -> Iterator[None]:
    """The secrets a test's providers read are redacted from that test's output only (evalgate.outbound)."""
    yield
    outbound.forget_secrets()
