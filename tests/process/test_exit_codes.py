"""Exit codes: one table in the code (evalgate/process/exitcodes.py), the same table in README and docs/reference.md."""

from __future__ import annotations

import re

import pytest

from evalgate.process.exitcodes import SIGNAL_BASE, ExitCode
from tests.conftest import ROOT


def documented_codes(path: str) -> list[str]:
    """The first column of the first table whose header names exit codes."""
    text = (ROOT / path).read_text()
    table = re.search(
        r"^\| (?:code|exit code) \| meaning \|\n\| --- \| --- \|\n((?:\|.*\n)+)", text, re.MULTILINE
    )
    assert table, f"no exit code table in {path}"
    return [row.split("|")[1].strip().strip("`") for row in table.group(1).splitlines()]


@pytest.mark.parametrize("path", ["README.md", "docs/reference.md"])
def test_every_exit_code_is_documented_once_in_order(path: str) -> None:
    assert documented_codes(path) == [str(int(code)) for code in ExitCode] + [f"{SIGNAL_BASE}+N"]


def test_only_pass_is_zero() -> None:
    assert [code for code in ExitCode if code == 0] == [ExitCode.PASS]
