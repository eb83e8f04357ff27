"""The response cache: answers already paid for, kept in SQLite so a second or resumed run costs nothing.

A key is the sha256 of everything that determines an answer (provider type, endpoint, model, parameters, the
rendered messages), built by the provider with `cache_key(parts)`; never an API key. A value is the normalized
Output as JSON, with the original call's latency (a cached answer's latency is that recorded time, never the
time the cache read took). Only answers are stored, never errors. Each answer is written (and committed) as
soon as it arrives, so an interrupted run resumes without paying twice. WAL mode lets several processes share
the file.

The cache's own failures are never the model's (docs/providers.md, "When the cache fails"): what is wrong with
the file when it is opened (not a cache, another table shape, a folder in its place, unreadable, read-only,
locked) stops the run before any call, as bad input naming the file; what goes wrong during the run never stops
it: a damaged entry is dropped and the model asked again, a failed read turns the cache off for the rest of the
run, a failed write (a full disk) stops storing answers; each says so in one warning.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

from evalgate.contracts.cases import Case, Output, float_or_none, normalize_output
from evalgate.errors import InputError
from evalgate.options import Option
from evalgate.outbound import echo
from evalgate.providers.base import Provider

CACHE_FILE = "responses.sqlite"
COLUMNS = ("key", "value", "created_at")
LOCK_TIMEOUT_S = 10.0  # how long a write waits for another process's lock before the cache gives up
REMEDY = "it holds only cached answers: delete it or set cache.dir to another folder, or run with --no-cache"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    created_at REAL NOT NULL
)
"""


def cache_key(parts: Mapping[str, Any]) -> str:
    """The sha256 of a canonical JSON rendering of `parts` (which must hold no secret)."""
    text = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _encode(output: Output) -> str:
    """The stored JSON of an answer; ValueError when the answer holds a value JSON cannot (NaN, infinity)."""
    return json.dumps(
        {
            "value": output.value,
            "tokens_in": output.tokens_in,
            "tokens_out": output.tokens_out,
            "cost": output.cost,
            "extra": output.extra,
            "latency_ms": output.latency_ms,
        },
        ensure_ascii=False,
        allow_nan=False,
        default=str,
    )


class DamagedEntry(ValueError):
    """A stored row that is not an answer this module wrote."""


def _reject_constant(name: str) -> Any:
    raise DamagedEntry(f"{name} is not a JSON value")


def _count(data: dict[str, Any], field: str) -> int | None:
    value = data.get(field)
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
        return value
    raise DamagedEntry(f"{field} is {value!r}, not a count")


def _number(data: dict[str, Any], field: str) -> float | None:
    value = data.get(field)
    number = float_or_none(value)
    if value is None or (number is not None and math.isfinite(number) and number >= 0):
        return number
    raise DamagedEntry(f"{field} is {value!r}, not a number of at least 0")


def _decode(text: Any) -> Output:
    """The answer a row holds, marked cached, with its recorded latency; DamagedEntry when it holds none."""
    if not isinstance(text, str):
        raise DamagedEntry(f"the stored value is {type(text).__name__}, not JSON text")
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise DamagedEntry(f"not JSON ({exc.msg})") from None
    if not isinstance(data, dict) or "value" not in data:
        raise DamagedEntry("not a stored answer (no value)")
    extra = data.get("extra")
    if extra is not None and not isinstance(extra, dict):
        raise DamagedEntry("extra is not a mapping")
    return Output(
        value=data["value"],
        tokens_in=_count(data, "tokens_in"),
        tokens_out=_count(data, "tokens_out"),
        cost=_number(data, "cost"),
        cached=True,
        extra=extra or {},
        latency_ms=_number(data, "latency_ms"),
    )


def print_warning(message: str) -> None:
    echo(f"evalgate: warning: {message}")


class ResponseCache:
    """One SQLite file of answers (`<directory>/responses.sqlite`), with hit and miss counters.

    Open one per provider (each counts its own hits); several may share the directory. Safe to call from the
    event loop thread and from other threads (one connection behind a lock). Opening a file that cannot be
    this cache is an InputError naming it; failures during the run are warnings (`warn`, stderr by default,
    each kind said once and kept in `stats`), never exceptions: `get` then misses and `put` stores nothing.
    """

    def __init__(self, directory: str | Path, *, warn: Callable[[str], None] = print_warning) -> None:
        self.path = Path(directory) / CACHE_FILE
        self.hits = 0
        self.misses = 0
        self.dropped = 0  # damaged entries removed (and asked again)
        self.warnings: list[str] = []
        self._warn = warn
        self._reading = self._writing = True
        self._lock = threading.Lock()
        self._conn = self._open()

    def _open(self) -> sqlite3.Connection:
        if self.path.is_dir():
            raise InputError(f"a folder is where the response cache file should be; {REMEDY}", file=self.path)
        conn = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=LOCK_TIMEOUT_S
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(_SCHEMA)
            columns = tuple(row[1] for row in conn.execute("PRAGMA table_info(responses)"))
            if sorted(columns) != sorted(COLUMNS):
                raise InputError(
                    f"not an evalgate response cache: its responses table has the columns {', '.join(columns)}, "
                    f"expected {', '.join(COLUMNS)}; {REMEDY}",
                    file=self.path,
                )
            conn.execute("BEGIN IMMEDIATE")  # can this process write? (a read-only file or folder, a lock)
            conn.execute("ROLLBACK")
        except (OSError, sqlite3.Error) as exc:
            if conn is not None:
                conn.close()
            raise InputError(f"cannot use the response cache ({exc}); {REMEDY}", file=self.path) from None
        except InputError:
            if conn is not None:
                conn.close()
            raise
        return conn

    @property
    def stats(self) -> dict[str, Any]:
        """Hits and misses, and when the cache had trouble: damaged entries dropped and the warnings."""
        stats: dict[str, Any] = {"hits": self.hits, "misses": self.misses}
        if self.dropped:
            stats["dropped"] = self.dropped
        if self.warnings:
            stats["warnings"] = list(self.warnings)
        return stats

    def get(self, key: str) -> Output | None:
        """The stored answer (with `cached=True` and its recorded latency), or None; counts a hit or a miss."""
        with self._lock:
            row = None
            if self._reading:
                try:
                    row = self._conn.execute("SELECT value FROM responses WHERE key = ?", (key,)).fetchone()
                except sqlite3.Error as exc:
                    self._give_up(exc, reading=True)
            output = None
            if row is not None:
                try:
                    output = _decode(row[0])
                except DamagedEntry as exc:
                    self._drop(key, exc)
            if output is None:
                self.misses += 1
            else:
                self.hits += 1
            return output

    def put(self, key: str, output: Output) -> None:
        """Store an answer now (committed before returning). An answer JSON cannot hold is not stored."""
        try:
            value = _encode(output)
        except (ValueError, TypeError):
            return
        with self._lock:
            if not self._writing:
                return
            try:
                self._conn.execute(
                    "INSERT OR REPLACE INTO responses (key, value, created_at) VALUES (?, ?, ?)",
                    (key, value, time.time()),
                )
            except sqlite3.Error as exc:
                self._give_up(exc, reading=False)

    def close(self) -> None:
        with self._lock, contextlib.suppress(sqlite3.Error):
            self._conn.close()

    # -- faults during the run (called with the lock held) ------------------------------------------------

    def _say(self, message: str) -> None:
        self.warnings.append(message)
        self._warn(message)

    def _give_up(self, exc: sqlite3.Error, *, reading: bool) -> None:
        """A read failure turns the cache off for the rest of the run; a write failure stops storing."""
        if reading and self._reading:
            self._reading = self._writing = False
            self._say(
                f"response cache {self.path}: reading it failed ({exc}); the rest of this run is not cached "
                f"(answers come from the model); {REMEDY}"
            )
        elif not reading and self._writing:
            self._writing = False
            self._say(
                f"response cache {self.path}: storing an answer failed ({exc}); answers are no longer stored "
                f"in this run, which goes on; {REMEDY}"
            )

    def _drop(self, key: str, why: DamagedEntry) -> None:
        """Remove a damaged entry so no later run is served it; the caller asks the model again."""
        self.dropped += 1
        if self._writing:
            try:
                self._conn.execute("DELETE FROM responses WHERE key = ?", (key,))
            except sqlite3.Error as exc:
                self._give_up(exc, reading=False)
        if self.dropped == 1:
            self._say(
                f"response cache {self.path}: a damaged entry ({why}) was dropped and the model asked again; "
                "run.cache.dropped counts them"
            )


class CachedProvider(Provider):
    """Wrap any provider so its answers are cached by (its fingerprint, the case input, the case metadata).

    For providers whose answer depends only on those (a remote model behind a python or command provider, a
    judge). The LLM providers (anthropic, openai, http) cache by themselves, keyed on the rendered request.
    A fresh answer is timed here (unless the inner provider timed it), so the cache keeps its latency.
    The wrapper is no provider type of its own: `inner.type` and `inner.OPTIONS` describe the configured one.
    """

    type = "cached"
    OPTIONS: ClassVar[dict[str, Option]] = {}

    def __init__(self, inner: Provider, cache: ResponseCache) -> None:
        super().__init__(inner.config, inner.base_dir)
        self.inner = inner
        self.cache = cache

    @property
    def cache_stats(self) -> dict[str, Any]:
        return self.cache.stats

    async def start(self, slots: int, calls: int | None = None) -> None:
        await self.inner.start(slots, calls)  # an upper bound: cached answers make no call

    async def complete(self, case: Case) -> Output:
        key = cache_key(
            {"provider": self.inner.fingerprint(), "input": case.input, "metadata": case.metadata}
        )
        hit = self.cache.get(key)
        if hit is not None:
            return hit
        began = time.perf_counter()
        output = normalize_output(await self.inner.complete(case))
        if output.latency_ms is None:
            output.latency_ms = (time.perf_counter() - began) * 1000.0
        self.cache.put(key, output)
        return output

    async def close(self) -> None:
        await self.inner.close()

    def fingerprint(self) -> str:
        return self.inner.fingerprint()
