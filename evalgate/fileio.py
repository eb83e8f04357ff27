"""File I/O: reads whose failures are InputErrors, and atomic writes (a reader never sees half a file, and a
failed write leaves the old file whole)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from evalgate.errors import InputError


def read_text(path: str | Path, *, what: str = "file") -> str:
    """A UTF-8 file's text; an InputError naming the file when it is missing or unreadable.

    `what` names the file in the message: "results file" gives "results file not found" or "cannot read the
    results file (...)".
    """
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{what} not found", file=path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the {what} ({exc})", file=path) from None


def write_text_atomic(path: str | Path, text: str, *, overwrite: bool = True) -> Path:
    """Write `text` to `path` through a temporary file in the same folder.

    overwrite=True: an atomic rename over any old file (its permissions kept). overwrite=False: a hard link to
    the final name, which raises FileExistsError if the name exists, even if another process made it a moment
    ago.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, _mode_for(path))
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path


def _mode_for(path: Path) -> int:
    """Keep an existing file's permissions; a new file gets the usual 0666 less the umask (mkstemp gives 0600)."""
    try:
        return path.stat().st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def write_json_atomic(path: str | Path, data: Any) -> Path:
    return write_text_atomic(path, json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n")
