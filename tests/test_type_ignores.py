"""Every `# type: ignore` in evalgate names the error it silences and says why: a comment after it on its line,
or a comment line just above (mypy runs in .ci/run with warn_unused_ignores, so a stale one fails there)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IGNORE = re.compile(r"#\s*type:\s*ignore(?P<code>\[[a-z-, ]+\])?(?P<after>.*)$")


def unexplained_ignores(lines: list[str]) -> list[int]:
    """The 1-based numbers of the lines whose ignore has no error code or no reason."""
    found = []
    for number, line in enumerate(lines, 1):
        match = IGNORE.search(line)
        if not match:
            continue
        reason_after = match["after"].strip().startswith("#")
        reason_above = number > 1 and lines[number - 2].strip().startswith("#")
        if not match["code"] or not (reason_after or reason_above):
            found.append(number)
    return found


def test_every_type_ignore_names_its_error_and_its_reason():
    unexplained = {}
    for path in [*sorted((ROOT / "evalgate").rglob("*.py")), ROOT / "entrypoint.py"]:
        name = path.relative_to(ROOT).as_posix()
        numbers = unexplained_ignores(path.read_text(encoding="utf-8").splitlines())
        if numbers:
            unexplained[name] = numbers
    assert not unexplained, f"type: ignore without an error code or a reason: {unexplained}"


def test_the_check_tells_an_explained_ignore_from_a_bare_one():
    assert unexplained_ignores(["x = f()  # type: ignore"]) == [1]
    assert unexplained_ignores(["x = f()  # type: ignore[arg-type]"]) == [1]
    assert unexplained_ignores(["x = f()  # type: ignore[arg-type]  # the stub is too narrow"]) == []
    assert unexplained_ignores(["# the stub is too narrow", "x = f()  # type: ignore[arg-type]"]) == []
