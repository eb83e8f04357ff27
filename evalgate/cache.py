"""The response cache: answers already paid for, kept in SQLite so a second or resumed run costs nothing.

A key is the sha256 of everything that determines an answer (provider type, endpoint, model, parameters, the
rendered messages), built by the provider with `cache_key(parts)`; never an API key. A value is the normalized
Output as JSON. Only answers are stored, never errors. Each answer is written (and committed) as soon as it
arrives, so an interrupted run resumes without paying twice. WAL mode lets several processes share the file.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from evalgate.errors import InputError
from evalgate.model import Case, Output, normalize_output
from evalgate.providers.base import Provider

CACHE_FILE = "responses.sqlite"

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
    return json.dumps(
        {
            "value": output.value,
            "tokens_in": output.tokens_in,
            "tokens_out": output.tokens_out,
            "cost": output.cost,
            "extra": output.extra,
        },
        ensure_ascii=False,
        default=str,
    )


def _decode(text: str) -> Output:
    data = json.loads(text)
    return Output(
        value=data["value"],
        tokens_in=data.get("tokens_in"),
        tokens_out=data.get("tokens_out"),
        cost=data.get("cost"),
        cached=True,
        extra=data.get("extra") or {},
    )


class ResponseCache:
    """One SQLite file of answers (`<directory>/responses.sqlite`), with hit and miss counters.

    Open one per provider (each counts its own hits); several may share the directory. Safe to call from the
    event loop thread and from other threads (one connection behind a lock).
    """

    def __init__(self, directory: str | Path) -> None:
        self.path = Path(directory) / CACHE_FILE
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute(_SCHEMA)
        except (OSError, sqlite3.DatabaseError) as exc:
            raise InputError(
                f"cannot use the response cache ({exc}); delete the file or set cache.dir to another folder",
                file=self.path,
            ) from None

    @property
    def stats(self) -> dict[str, int]:
        return {"hits": self.hits, "misses": self.misses}

    def get(self, key: str) -> Output | None:
        """The stored answer (with `cached=True`), or None; counts a hit or a miss."""
        with self._lock:
            row = self._conn.execute("SELECT value FROM responses WHERE key = ?", (key,)).fetchone()
            if row is None:
                self.misses += 1
                return None
            self.hits += 1
        return _decode(row[0])

    def put(self, key: str, output: Output) -> None:
        """Store an answer now (committed before returning)."""
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO responses (key, value, created_at) VALUES (?, ?, ?)",
                (key, _encode(output), time.time()),
            )

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class CachedProvider(Provider):
    """Wrap any provider so its answers are cached by (its fingerprint, the case input, the case metadata).

    For providers whose answer depends only on those (a remote model behind a python or command provider, a
    judge). The LLM providers (anthropic, openai, http) cache by themselves, keyed on the rendered request.
    """

    def __init__(self, inner: Provider, cache: ResponseCache) -> None:
        super().__init__(inner.config, inner.base_dir)
        self.inner = inner
        self.cache = cache
        self.type = inner.type
        self.OPTIONS = inner.OPTIONS

    @property
    def cache_stats(self) -> dict[str, int]:
        return self.cache.stats

    async def start(self, slots: int) -> None:
        await self.inner.start(slots)

    async def complete(self, case: Case) -> Output:
        key = cache_key(
            {"provider": self.inner.fingerprint(), "input": case.input, "metadata": case.metadata}
        )
        hit = self.cache.get(key)
        if hit is not None:
            return hit
        output = normalize_output(await self.inner.complete(case))
        self.cache.put(key, output)
        return output

    async def close(self) -> None:
        await self.inner.close()

    def fingerprint(self) -> str:
        return self.inner.fingerprint()
