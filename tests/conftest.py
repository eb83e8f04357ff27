"""Shared test helpers: paths to the repository, the shared fixtures, and a suite written into tmp_path."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def find_shared() -> Path:
    """The project's shared/ folder (fixtures and tools), beside the checkout or one of its parents."""
    for parent in [ROOT, *ROOT.parents]:
        candidate = parent / "shared"
        if (candidate / "fixtures").is_dir():
            return candidate
    raise FileNotFoundError("shared/ (fixtures and tools) not found beside the checkout")


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    return find_shared()


@pytest.fixture(scope="session")
def reference_vectors(shared_dir: Path) -> dict:
    return json.loads((shared_dir / "fixtures" / "reference-vectors.json").read_text())


def write_suite(tmp_path: Path, config: str, files: dict[str, str] | None = None) -> Path:
    """Write evalgate.yaml (dedented) and other files into tmp_path; returns the config path."""
    for name, text in (files or {}).items():
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text).lstrip("\n"))
    path = tmp_path / "evalgate.yaml"
    path.write_text(textwrap.dedent(config).lstrip("\n"))
    return path
