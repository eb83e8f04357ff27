"""File I/O: every read of a user's file (guarded: a regular file of bounded size, failures as InputErrors) and
every write (atomic: a reader never sees half a file, and a failed write leaves the old file whole).

Where a write goes: a symlink is written through (its target is replaced, the link stays); a device, FIFO or
socket, and a name that leads through /proc or /dev/fd (`/dev/stdout`), is written to directly, appending
(no temporary file, nothing renamed over it: `/dev/null` stays a device). `check_writable` tells before a run
whether a path can be written at its end.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from evalgate.errors import InputError
from evalgate.files.limits import MAX_DATA_FILE_BYTES, MIB
from evalgate.outbound import inert_json, log_text, redact

_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def read_bytes(path: str | Path, *, what: str = "file", max_bytes: int = MAX_DATA_FILE_BYTES) -> bytes:
    """A regular file's bytes; an InputError naming the file when it is missing or unreadable, when it is not a
    regular file (a folder, a FIFO or a device, whose reading could block or never end) or larger than max_bytes.

    `what` names the file in the message: "results file" gives "results file not found" or "cannot read the
    results file (...)". The file is opened without blocking and checked through its descriptor, so nothing
    can swap it between the check and the read.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise InputError(f"{what} not found", file=path) from None
    except OSError as exc:
        raise InputError(f"cannot read the {what} ({exc.strerror or exc})", file=path) from None
    try:
        info = os.fstat(fd)
        _check_regular(info.st_mode, path, what)
        if info.st_size > max_bytes:
            raise _too_large(path, what, max_bytes)
        chunks, total = [], 0
        while total <= max_bytes and (chunk := os.read(fd, min(max_bytes + 1 - total, 1 << 24))):
            chunks.append(chunk)
            total += len(chunk)
    except OSError as exc:
        raise InputError(f"cannot read the {what} ({exc.strerror or exc})", file=path) from None
    finally:
        os.close(fd)
    if total > max_bytes:  # it grew while being read
        raise _too_large(path, what, max_bytes)
    return b"".join(chunks)


def read_text(path: str | Path, *, what: str = "file", max_bytes: int = MAX_DATA_FILE_BYTES) -> str:
    """A regular UTF-8 file's text (see read_bytes); a file that is not UTF-8 is an InputError naming the line."""
    data = read_bytes(path, what=what, max_bytes=max_bytes)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError(f"the {what} is not UTF-8 text ({exc.reason})", file=path, line=line) from None


def check_regular_file(path: str | Path, *, what: str) -> None:
    """For files opened by another library (a SQLite store): an existing path must be a regular file."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise InputError(f"cannot open the {what} ({exc.strerror or exc})", file=path) from None
    _check_regular(mode, path, what)


def _check_regular(mode: int, path: str | Path, what: str) -> None:
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _KINDS if test(mode)), "not a file")
        raise InputError(f"the {what} is {kind}, not a regular file", file=path)


def real_path(path: str | Path) -> Path:
    """`path` made absolute with its symbolic links followed. A link loop is kept as written (no exception, on
    every Python version): reading it then fails with a message naming it."""
    return Path(os.path.realpath(path))


def _too_large(path: str | Path, what: str, max_bytes: int) -> InputError:
    return InputError(
        f"the {what} is larger than {max_bytes / MIB:g} MiB, the most evalgate reads", file=path
    )


def write_text_atomic(path: str | Path, text: str, *, overwrite: bool = True, is_json: bool = False) -> Path:
    """Write `text`, every known secret redacted (evalgate.outbound), to `path` through a temporary file in the
    same folder.

    overwrite=True: an atomic rename over any old file (its permissions kept). overwrite=False: a hard link to
    the final name, which raises FileExistsError if the name exists, even if another process made it a moment
    ago. A symlink is written through; a stream (`is_stream`) is appended to, made inert first: `--report
    /dev/stdout` in a workflow step lands in the runner's log, where no line may read as a workflow command
    (`outbound.log_text`; JSON, `is_json`, as `outbound.inert_json` keeps it the same JSON). An OSError names `path`.
    """
    given = Path(path)
    text = redact(text)
    try:
        if is_stream(given):
            with open(given, "a", encoding="utf-8", newline="") as handle:
                handle.write(inert_json(text) if is_json else log_text(text))
            return given
        path = _through_links(given)
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
    except OSError as exc:  # name the user's path, not the temporary file
        if isinstance(exc, FileExistsError) and not overwrite:
            raise
        raise OSError(exc.errno, exc.strerror or str(exc), str(given)) from exc
    return given


def is_stream(path: str | Path) -> bool:
    """Whether `path` names something other than a file to replace: a device, a FIFO, a socket, or a name that
    leads through /proc or /dev/fd (`/dev/stdout`, which may point at the file the shell redirected to)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    if stat.S_ISDIR(mode):
        return False
    if not stat.S_ISREG(mode):
        return True
    hop = os.path.abspath(path)
    for _ in range(40):  # the kernel's own limit on a chain of links
        if hop.startswith(("/proc/", "/dev/fd/")):
            return True
        if not os.path.islink(hop):
            return False
        hop = os.path.abspath(os.path.join(os.path.dirname(hop), os.readlink(hop)))
    return False


def _through_links(path: Path) -> Path:
    """The file a write to `path` lands in: the final target of a symlink (made when it does not exist yet)."""
    return Path(os.path.realpath(path)) if os.path.islink(path) else path


def check_writable(path: str | Path, *, what: str) -> None:
    """InputError naming `what` (the option) and the path when a file could not be written there later.

    Refused: an empty path, a folder, a path under a file, a symlink loop, a read-only file or folder (tried by
    creating and removing a file in the nearest existing folder, so a read-only file system counts too)."""
    if not str(path).strip():
        raise InputError(f"{what} is empty; expected a file path")
    given = Path(path)
    if is_stream(given):
        if not os.access(given, os.W_OK):
            raise InputError(f"{what}: cannot write to it (permission denied)", file=path)
        return
    try:
        os.stat(given)
    except OSError as exc:
        if not isinstance(exc, FileNotFoundError | NotADirectoryError):
            raise InputError(f"{what}: cannot use this path ({exc.strerror})", file=path) from None
    target = _through_links(given)
    if target.is_dir():
        raise InputError(f"{what} is a folder; expected a file path", file=path)
    if target.exists() and not os.access(target, os.W_OK):
        raise InputError(f"{what} is a read-only file; evalgate does not overwrite it", file=path)
    folder = target.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise InputError(f"{what} cannot be created: {folder} is a file, not a folder", file=path)
    try:
        fd, probe = tempfile.mkstemp(prefix=".evalgate-probe-", dir=folder)
    except OSError as exc:
        raise InputError(
            f"{what} cannot be written: no file can be created in {folder} ({exc.strerror})", file=path
        ) from None
    os.close(fd)
    os.unlink(probe)


def rescue(text: str, name: str) -> Path | None:
    """Keep `text` somewhere safe when its own path failed (a full disk): the temp folder, the home folder or
    the current one, whichever takes it first. Returns where, or None."""
    for folder in (tempfile.gettempdir(), Path.home(), Path.cwd()):
        try:
            fd, kept = tempfile.mkstemp(
                prefix=f"evalgate-{Path(name).stem}-", suffix=Path(name).suffix, dir=folder
            )
        except OSError:
            continue
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
                handle.write(text)
            return Path(kept)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(kept)
    return None


def _mode_for(path: Path) -> int:
    """Keep an existing file's permissions; a new file gets the usual 0666 less the umask (mkstemp gives 0600)."""
    try:
        return path.stat().st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


_ONE_LINE = json.JSONEncoder(ensure_ascii=False, allow_nan=False).encode  # the C encoder: no indent


def json_text(data: Any) -> str:
    """How evalgate writes JSON files: strict (no NaN), UTF-8, indented by two spaces, except that a list of
    objects (the cases of a results file, the rows of a verdict) holds one object per line. Python's JSON encoder
    indents in pure Python, several times slower than its C encoder writing a line: the results of 2,000 cases
    took 29 ms, now 11-15; of 100,000 cases 1.6 s, now 0.63. The file is a quarter smaller, and a search for a
    case's id finds the whole case on its line."""
    return "".join(_indented(data, "\n")) + "\n"


def _indented(value: Any, newline: str) -> Iterator[str]:
    inner = newline + "  "
    if isinstance(value, dict) and value:
        yield "{"
        for index, (key, item) in enumerate(value.items()):
            # a key as the encoder writes it (1 -> "1", None -> "null"); anything else is its TypeError
            yield f"{',' if index else ''}{inner}{_key_text(key)}: "
            yield from _indented(item, inner)
        yield newline + "}"
    elif isinstance(value, list | tuple) and value:
        records = all(isinstance(item, dict) for item in value)
        yield "["
        for index, item in enumerate(value):
            yield "," + inner if index else inner
            if records:
                yield _ONE_LINE(item)
            else:
                yield from _indented(item, inner)
        yield newline + "]"
    else:
        yield _ONE_LINE(value)


def _key_text(key: Any) -> str:
    return _ONE_LINE(key) if isinstance(key, str) else _ONE_LINE({key: 0})[1:-4]


def write_json_atomic(path: str | Path, data: Any) -> Path:
    return write_text_atomic(path, json_text(data), is_json=True)
