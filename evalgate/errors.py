"""Errors that reach the user as one clear message and exit code 2 (bad input), or abort a run."""

from __future__ import annotations

from pathlib import Path


class InputError(Exception):
    """Bad input or usage: nothing was judged. The CLI prints `file:line: message` and exits 2."""

    def __init__(self, message: str, *, file: str | Path | None = None, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.file = str(file) if file is not None else None
        self.line = line

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = f"{self.file}:{self.line}: " if self.line else f"{self.file}: "
        return where + self.message


class RunAborted(Exception):
    """Raised by a provider to stop the whole run cleanly (for example a spent budget).

    The runner stops scheduling cases; every case not finished is recorded with this reason as its error.
    """
