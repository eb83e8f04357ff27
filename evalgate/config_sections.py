"""The reading of two small config sections: the dataset paths (each must exist) and the token prices."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evalgate.errors import InputError
from evalgate.files.fileio import real_path
from evalgate.options import Option, check_options, line_of, non_negative
from evalgate.yamlio import LineDict


def dataset_paths(data: LineDict, top: dict[str, Any], file: str, base_dir: Path) -> list[Path]:
    entries = top["datasets"]
    if isinstance(entries, str):
        entries = [entries]
    if not entries:
        raise InputError(
            "datasets is empty; expected at least one JSONL file or folder",
            file=file,
            line=data.line_of("datasets"),
        )
    paths = []
    for index, entry in enumerate(entries):
        line = (
            line_of(top["datasets"], index)
            if not isinstance(top["datasets"], str)
            else data.line_of("datasets")
        )
        if not isinstance(entry, str):
            raise InputError(
                f"datasets[{index}] must be a path (a string), got {entry!r}", file=file, line=line
            )
        resolved = real_path(base_dir / entry)
        if not resolved.exists():
            problem = "is a symbolic link loop" if resolved.is_symlink() else "not found"
            raise InputError(f"dataset {entry!r} {problem} (looked for {resolved})", file=file, line=line)
        paths.append(resolved)
    return paths


def prices(top: dict[str, Any], file: str) -> dict[str, Any]:
    prices = top["prices"] or {}
    spec = {
        "input": Option((float,), required=True, check=non_negative, help="USD per million input tokens"),
        "output": Option((float,), required=True, check=non_negative, help="USD per million output tokens"),
    }
    return {
        str(model): check_options(
            body, spec, file=file, context=f"prices.{model}", line=line_of(prices, model)
        )
        for model, body in prices.items()
    }
