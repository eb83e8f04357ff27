"""The history store: one SQLite file of results on the main branch, for trends, drift alarms and the ratchet
(history/trend.py, history/drift.py, history/ratchet.py read it; it decides nothing about the values).

Tables: `runs` (one row a results file), `metrics` (one row per run, metric key and category; category NULL is
the overall value), `cases` (per-case scores of binary keys, for flaky-case detection). The file is marked with
PRAGMA application_id and versioned with PRAGMA user_version; it uses the rollback journal, so after a write the
store is one self-contained file (safe to upload as an artifact or commit).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from evalgate.errors import InputError
from evalgate.files.fileio import check_regular_file
from evalgate.history import schema
from evalgate.judge.canary_history import history_aggregates, history_keys

# signature fields that change what a number means: runs that differ in them are not one series
COMPARABLE_FIELDS = ("datasets", "metrics", "sample", "repeats")
PASS_AT = 0.5  # a binary score at or above this passes (per-case means of repeated runs are fractions)

LOCK_TIMEOUT_S = 5.0  # how long to wait for another process's lock on the store

# SQLite's error codes (by prefix) that are faults of where the store lives, not of the store's content
STORE_FAULTS = {
    "SQLITE_BUSY": "the history store is locked by another process; try again when it is done",
    "SQLITE_LOCKED": "the history store is locked by another process; try again when it is done",
    "SQLITE_READONLY": "cannot write the history store: the file or its folder is read-only",
    "SQLITE_FULL": "cannot write the history store: the disk is full",
    "SQLITE_IOERR": "cannot read or write the history store: an I/O error",
    "SQLITE_CANTOPEN": "cannot open the history store",
}


class Point(NamedTuple):
    """One run's value of one metric."""

    created_at: str
    sha: str | None
    label: str | None
    value: float
    n: int | None

    @property
    def name(self) -> str:
        """How a run is named in messages and charts: its label, else its short sha, else its time."""
        return self.label or (self.sha[:7] if self.sha else self.created_at[:16])


class HistoryStore:
    """An open history file. Use as a context manager, or call close()."""

    def __init__(self, path: str | Path, *, create: bool = False) -> None:
        self.path = Path(path)
        if not self.path.exists() and not create:
            raise InputError(
                "no history store here yet; append runs with `evalgate history --append results.json`",
                file=self.path,
            )
        check_regular_file(self.path, what="history store")  # SQLite would wait forever on a FIFO
        if create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        uri = f"{self.path.resolve().as_uri()}?mode={'rwc' if create else 'ro'}"
        try:
            self._db = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=LOCK_TIMEOUT_S)
        except sqlite3.Error as exc:
            raise InputError(f"cannot open the history store ({exc})", file=self.path) from None
        try:
            with self._guard():
                self._db.execute("PRAGMA foreign_keys = ON")
                self._check_or_create(create)
        except BaseException:
            self._db.close()
            raise

    def __enter__(self) -> HistoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """Turn SQLite's errors into one clear InputError naming the store: a lock, a read-only file, a full
        disk or an I/O error say so (and that the store was not changed: a write is one transaction); any other
        error means a damaged or foreign file."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            code = getattr(exc, "sqlite_errorname", "") or ""
            fault = next((text for prefix, text in STORE_FAULTS.items() if code.startswith(prefix)), None)
            if fault is not None:
                raise InputError(f"{fault} ({exc}); the store was not changed", file=self.path) from None
            raise InputError(
                f"not a readable evalgate history store ({exc}); expected a SQLite file written by "
                "`evalgate history --append`",
                file=self.path,
            ) from None

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        with self._guard():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _check_or_create(self, create: bool) -> None:
        if not schema.is_blank(self._db):
            schema.check(self._db, self.path)
        elif not create:
            raise InputError("the history store is empty (not initialized)", file=self.path)
        else:
            with self._transaction():
                schema.create(self._db)

    # ---- writing

    def append(
        self,
        results: dict[str, Any],
        *,
        branch: str | None = None,
        sha: str | None = None,
        label: str | None = None,
    ) -> int:
        """Store one results file; returns its run id. Appending the same run again (same suite, sha and
        created_at) changes nothing and returns the existing id. `sha` and `label` override the file's own."""
        suite = results.get("suite")
        if not isinstance(suite, str) or not suite:
            raise InputError("the results have no suite name; expected an evalgate results file")
        created_at, ts = _normalize_time(results.get("created_at"))
        git = results.get("git") or {}
        sha = sha or git.get("sha") or None
        ref = git.get("ref") or None
        branch = branch or branch_of_ref(ref)
        label = label or results.get("label") or None
        metric_keys = {**(results.get("metric_keys") or {}), **history_keys(results)}
        with self._transaction():
            existing = self._db.execute(
                "SELECT id FROM runs WHERE suite = ? AND IFNULL(sha, '') = ? AND created_at = ?",
                (suite, sha or "", created_at),
            ).fetchone()
            if existing:
                return int(existing[0])
            cursor = self._db.execute(
                "INSERT INTO runs (suite, created_at, ts, sha, ref, branch, label, signature, metric_keys, "
                "appended_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    suite,
                    created_at,
                    ts,
                    sha,
                    ref,
                    branch,
                    label,
                    json.dumps(results.get("signature") or {}, sort_keys=True),
                    json.dumps(metric_keys, sort_keys=True),
                    datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                ),
            )
            assert cursor.lastrowid is not None  # an INSERT sets it
            run_id = cursor.lastrowid
            self._db.executemany(
                "INSERT INTO metrics (run_id, key, category, value, n) VALUES (?, ?, ?, ?, ?)",
                _metric_rows(run_id, results),
            )
            binary = [key for key, spec in metric_keys.items() if spec.get("kind") == "binary"]
            self._insert_cases(run_id, binary, results.get("cases") or [])
        return run_id

    def _insert_cases(self, run_id: int, keys: list[str], cases: list[dict[str, Any]]) -> None:
        try:
            self._db.executemany(
                "INSERT INTO cases (run_id, key, case_id, value) VALUES (?, ?, ?, ?)",
                (
                    (run_id, key, str(case["id"]), float(case["scores"][key]))
                    for case in cases
                    for key in keys
                    if (case.get("scores") or {}).get(key) is not None
                ),
            )
        except sqlite3.IntegrityError:
            raise InputError("the results list a case id twice; expected unique case ids") from None

    # ---- reading

    def suites(self) -> list[str]:
        with self._guard():
            return [row[0] for row in self._db.execute("SELECT DISTINCT suite FROM runs ORDER BY suite")]

    def run_count(self, suite: str) -> int:
        with self._guard():
            return int(self._db.execute("SELECT count(*) FROM runs WHERE suite = ?", (suite,)).fetchone()[0])

    def metric_keys(self, suite: str) -> dict[str, dict[str, Any]]:
        """The metric keys of the latest run (name -> {"kind", "higher_is_better"}), overall keys first."""
        with self._guard():
            row = self._db.execute(
                "SELECT id, metric_keys FROM runs WHERE suite = ? ORDER BY ts DESC, id DESC LIMIT 1", (suite,)
            ).fetchone()
            if row is None:
                return {}
            declared = json.loads(row[1])
            stored = [
                r[0]
                for r in self._db.execute(
                    "SELECT key FROM metrics WHERE run_id = ? AND category IS NULL ORDER BY rowid", (row[0],)
                )
            ]
        return {key: declared.get(key, {}) for key in stored}

    def categories(self, suite: str) -> list[str]:
        with self._guard():
            return [
                r[0]
                for r in self._db.execute(
                    "SELECT DISTINCT m.category FROM metrics m JOIN runs r ON r.id = m.run_id "
                    "WHERE r.suite = ? AND m.category IS NOT NULL ORDER BY m.category",
                    (suite,),
                )
            ]

    def series(
        self,
        suite: str,
        key: str,
        category: str | None = None,
        limit: int | None = None,
        *,
        since: str | None = None,
    ) -> list[Point]:
        """The values of one metric (overall, or in one category) in time order; the last `limit` runs, and only
        runs created at or after `since` (an ISO time) when given."""
        query = (
            "SELECT r.created_at, r.sha, r.label, m.value, m.n FROM metrics m JOIN runs r ON r.id = m.run_id "
            "WHERE r.suite = ? AND m.key = ? AND m.category IS ?"
        )
        params: list[Any] = [suite, key, category]
        if since is not None:
            query += " AND r.ts >= ?"
            params.append(_normalize_time(since, "since")[1])
        query += " ORDER BY r.ts DESC, r.id DESC"
        if limit is not None:
            query += " LIMIT ?"
            params.append(int(limit))
        with self._guard():
            rows = self._db.execute(query, params).fetchall()
        return [Point(*row) for row in reversed(rows)]

    def comparable_since(self, suite: str) -> tuple[str | None, int]:
        """When the latest stretch of comparable runs began (same datasets, metrics, sample and repeats), and how
        many earlier runs differ. Drift and the ratchet look only at that stretch."""
        with self._guard():
            rows = self._db.execute(
                "SELECT created_at, signature FROM runs WHERE suite = ? ORDER BY ts DESC, id DESC", (suite,)
            ).fetchall()
        if not rows:
            return None, 0
        latest = _comparable(rows[0][1])
        start = rows[0][0]
        for index, (created_at, signature) in enumerate(rows):
            if _comparable(signature) != latest:
                return start, len(rows) - index
            start = created_at
        return start, 0

    def window_start(self, suite: str, since: str | None = None) -> str | None:
        """Where a series of `suite` starts: the latest stretch of comparable runs (`comparable_since`), or
        `since` when that is later."""
        start, _ = self.comparable_since(suite)
        if since is not None and (
            start is None or _normalize_time(since, "since")[1] > _normalize_time(start)[1]
        ):
            start = since
        return start

    def case_outcomes(
        self, suite: str, key: str, window: int = 20
    ) -> tuple[list[str], dict[str, list[tuple[int, bool]]]]:
        """The per-case pass/fail of a binary `key` over the last `window` runs of the latest configuration (the
        runs with the latest run's comparable signature and provider): the runs' names, oldest first, and per
        case its outcome in each of those runs it has, oldest first, with the run's position in the names."""
        with self._guard():
            recent = self._db.execute(
                "SELECT id, signature, created_at, sha, label FROM runs WHERE suite = ? "
                "ORDER BY ts DESC, id DESC LIMIT ?",
                (suite, window),
            ).fetchall()
            if not recent:
                return [], {}
            latest = _configuration(recent[0][1])
            runs = []
            for run_id, signature, created_at, sha, label in recent:
                if _configuration(signature) != latest:
                    break
                runs.append((run_id, Point(created_at, sha, label, 0.0, None).name))
            runs.reverse()
            order = {run_id: position for position, (run_id, _) in enumerate(runs)}
            marks = ",".join("?" * len(runs))
            rows = self._db.execute(
                f"SELECT run_id, case_id, value FROM cases WHERE key = ? AND run_id IN ({marks})",
                (key, *order),
            ).fetchall()
        seen: dict[str, list[tuple[int, bool]]] = {}
        for run_id, case_id, value in rows:
            seen.setdefault(case_id, []).append((order[run_id], value >= PASS_AT))
        return [name for _, name in runs], {case_id: sorted(outcomes) for case_id, outcomes in seen.items()}


def branch_of_ref(ref: str | None) -> str | None:
    """The branch a run's git ref names: refs/heads/main -> main, a bare branch name as is; other refs (pull
    requests, tags) are returned whole, so they never equal the history branch; None when unknown."""
    if not ref or ref == "HEAD":
        return None
    return ref.removeprefix("refs/heads/")


def _metric_rows(run_id: int, results: dict[str, Any]) -> Iterator[tuple[Any, ...]]:
    """The values of a run worth keeping: not a value that was not measured (a timing from cached answers'
    recorded timings, `measured: false`), so trends, drift and the ratchet never see one."""
    sections = [(None, {**(results.get("metrics") or {}), **history_aggregates(results)})]
    sections += sorted((results.get("categories") or {}).items())
    for category, aggregates in sections:
        for key, aggregate in aggregates.items():
            if (
                isinstance(aggregate, dict)
                and aggregate.get("value") is not None
                and aggregate.get("measured") is not False
            ):
                yield run_id, key, category, float(aggregate["value"]), aggregate.get("n")


def _comparable(signature_json: str) -> tuple[Any, ...]:
    signature = json.loads(signature_json)
    return tuple(signature.get(field) for field in COMPARABLE_FIELDS)


def _configuration(signature_json: str) -> tuple[Any, ...]:
    """What must stay the same for a case's flips to be flakiness: the comparable fields and the model under
    test (the provider's fingerprint: type, model, prompt, parameters). Thresholds (the config's hash) may
    change."""
    return (*_comparable(signature_json), json.loads(signature_json).get("provider"))


def _normalize_time(text: Any, what: str = "created_at") -> tuple[str, float]:
    """An ISO time -> (UTC text as stored, epoch seconds for ordering). A time without a zone is UTC."""
    if not isinstance(text, str):
        raise InputError(f"{what} must be an ISO 8601 time, got {text!r}")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"{what} {text!r} is not an ISO 8601 time (like 2026-11-26T08:00:00Z)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    stamp = moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if moment.microsecond else "%Y-%m-%dT%H:%M:%SZ")
    return stamp, moment.timestamp()
