"""The history store's file format: its tables, the mark that says a SQLite file is an evalgate store
(PRAGMA application_id) and the format's version (PRAGMA user_version), created in a blank file and checked when
one is opened."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from evalgate.errors import InputError

SCHEMA_VERSION = 1
APPLICATION_ID = 0x45564731  # "EVG1"

TABLES = """
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    suite TEXT NOT NULL,
    created_at TEXT NOT NULL,
    ts REAL NOT NULL,
    sha TEXT,
    ref TEXT,
    branch TEXT,
    label TEXT,
    signature TEXT NOT NULL,
    metric_keys TEXT NOT NULL,
    appended_at TEXT NOT NULL
);
CREATE UNIQUE INDEX runs_identity ON runs (suite, IFNULL(sha, ''), created_at);
CREATE INDEX runs_time ON runs (suite, ts);
CREATE TABLE metrics (
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    category TEXT,
    value REAL NOT NULL,
    n INTEGER
);
CREATE UNIQUE INDEX metrics_identity ON metrics (run_id, key, IFNULL(category, ''));
CREATE INDEX metrics_key ON metrics (key, category);
CREATE TABLE cases (
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    case_id TEXT NOT NULL,
    value REAL NOT NULL,
    PRIMARY KEY (run_id, key, case_id)
) WITHOUT ROWID;
"""


def is_blank(db: sqlite3.Connection) -> bool:
    """Whether the file is new (nothing in it, no mark, no version)."""
    app_id = db.execute("PRAGMA application_id").fetchone()[0]
    version = db.execute("PRAGMA user_version").fetchone()[0]
    objects = db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    return app_id == 0 and version == 0 and objects == 0


def create(db: sqlite3.Connection) -> None:
    """Create the tables and mark the file (the caller holds the transaction)."""
    for statement in TABLES.split(";"):
        if statement.strip():
            db.execute(statement)
    db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def check(db: sqlite3.Connection, path: Path) -> None:
    """Refuse a file that is not an evalgate store, or one of a version this evalgate cannot read."""
    app_id = db.execute("PRAGMA application_id").fetchone()[0]
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if app_id != APPLICATION_ID:
        raise InputError(
            "this SQLite file is not an evalgate history store; point history.path at an evalgate store "
            "or at a new file",
            file=path,
        )
    if version > SCHEMA_VERSION:
        raise InputError(
            f"the history store has schema version {version}, newer than this evalgate reads "
            f"({SCHEMA_VERSION}); upgrade evalgate",
            file=path,
        )
    if version < 1:
        raise InputError(f"the history store has an invalid schema version {version}", file=path)
