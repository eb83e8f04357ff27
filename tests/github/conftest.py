"""Fixtures of the GitHub side: the fake GitHub API and the event payloads."""

from __future__ import annotations

from pathlib import Path

import pytest
from fake_github import FakeGitHub
from ghkit import REPO, TOKEN

from tests.conftest import GITHUB_EVENTS


@pytest.fixture
def fake() -> FakeGitHub:
    with FakeGitHub(REPO, TOKEN) as server:
        yield server


@pytest.fixture
def events_dir() -> Path:
    return GITHUB_EVENTS


@pytest.fixture(autouse=True)
def _fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """No backoff sleeps in tests (the retry count stays the production one)."""
    monkeypatch.setenv("EVALGATE_GITHUB_BACKOFF", "0")
