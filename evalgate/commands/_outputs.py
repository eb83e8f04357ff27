"""The files a command writes: all checked before it starts, and the results kept when a write fails late."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from evalgate.errors import InputError
from evalgate.files.fileio import check_writable, is_stream, json_text, rescue, write_text_atomic

# argparse destination -> the option users type, for every file a command may write or read
OUTPUT_OPTIONS = {
    "output": "--output",
    "report": "--report",
    "json_path": "--json",
    "junit": "--junit",
    "html": "--html",
    "comment": "--comment",
}
INPUT_OPTIONS = {"config": "--config", "current": "--current", "baseline": "--baseline"}


def check_outputs(args: argparse.Namespace) -> None:
    """Before any work: every output path can be written, no two outputs share a file, and none is an input
    (`--output evalgate.yaml` would replace the config). InputError (exit 2) names the option and the path."""
    claimed: dict[str, str] = {}
    for dest, option in INPUT_OPTIONS.items():
        value = getattr(args, dest, None)
        if value:
            claimed[_identity(value)] = f"the input {option} {value}"
    for dest, option in OUTPUT_OPTIONS.items():
        value = getattr(args, dest, None)
        if value is None:
            continue
        check_writable(value, what=option)
        if is_stream(value):  # /dev/null twice is fine
            continue
        key = _identity(value)
        if key in claimed:
            raise InputError(
                f"{option} names the same file as {claimed[key]}; give each output its own file", file=value
            )
        claimed[key] = option


def _identity(path: str) -> str:
    return os.path.normcase(os.path.realpath(path))


def save_results(path: str, results: dict[str, Any]) -> None:
    """Write the results file; when that fails at the end of a run (a full disk), keep them elsewhere and say
    where (InputError, exit 2): a run is never lost."""
    text = json_text(results)
    try:
        write_text_atomic(path, text, is_json=True)
    except OSError as exc:
        raise kept_elsewhere(
            exc, text, path, what="results", then="judge them with `evalgate gate --current {}`"
        ) from None


def kept_elsewhere(exc: OSError, text: str, path: str | Path, *, what: str, then: str) -> InputError:
    """The error for a write that failed late, after keeping `text` in a safe place (`then` may name it: {})."""
    kept = rescue(text, Path(path).name)
    where = (
        f"the {what} were kept in {kept} ({then.format(kept)})"
        if kept
        else f"the {what} could not be kept anywhere else either (no writable temporary, home or current folder)"
    )
    return InputError(f"cannot write this file ({exc.strerror or exc}); {where}", file=path)
