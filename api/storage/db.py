"""The SQLite file that holds insights, incidents, webhook receipts and the outbox.

Why SQLite: it is the embedded default of the design (zero setup), one file survives a restart, and a transaction
commits before the API answers 202 — so what was accepted is on disk even if the process is killed the next instant.
One connection guarded by a lock: writes are tiny, and a single writer avoids ``database is locked`` under bursts.
WAL + ``synchronous=FULL`` so a committed row survives a crash of the process or the machine.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..exceptions import StorageError

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

CREATE TABLE IF NOT EXISTS incidents (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    id             TEXT NOT NULL UNIQUE,
    source         TEXT NOT NULL,
    external_key   TEXT,
    title          TEXT NOT NULL DEFAULT '',
    symptom        TEXT,
    metric         TEXT,
    at             TEXT NOT NULL,
    status         TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    resolved_at    TEXT,
    details_json   TEXT NOT NULL DEFAULT '{}',
    latest_insight TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS incidents_open_key
    ON incidents(source, external_key) WHERE resolved_at IS NULL AND external_key IS NOT NULL;

CREATE TABLE IF NOT EXISTS insights (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT NOT NULL UNIQUE,
    incident_id  TEXT,
    source       TEXT NOT NULL,
    status       TEXT NOT NULL,
    stage        TEXT NOT NULL,
    request_json TEXT NOT NULL,
    case_json    TEXT,
    result_json  TEXT,
    error        TEXT,
    attempts     INTEGER NOT NULL DEFAULT 0,
    created_at   TEXT NOT NULL,
    started_at   TEXT,
    finished_at  TEXT
);
CREATE INDEX IF NOT EXISTS insights_status ON insights(status);
CREATE INDEX IF NOT EXISTS insights_incident ON insights(incident_id);

CREATE TABLE IF NOT EXISTS webhook_events (
    source      TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    received_at TEXT NOT NULL,
    incident_id TEXT,
    PRIMARY KEY (source, event_id)
);

CREATE TABLE IF NOT EXISTS outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    kind            TEXT NOT NULL,
    target          TEXT NOT NULL,
    insight_id      TEXT NOT NULL,
    payload_json    TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    sent_at         TEXT,
    UNIQUE (kind, target, insight_id)
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox(status, next_attempt_at);
"""


class Database:
    """A locked SQLite connection with the faultline schema."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None

    def open(self) -> "Database":
        if self._conn is not None:
            return self
        try:
            if str(self.path) != ":memory:":
                self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None, timeout=30)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.executescript(_SCHEMA)
            row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if row is None:
                conn.execute("INSERT INTO meta(key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            elif int(row["value"]) > SCHEMA_VERSION:
                raise StorageError(f"{self.path}: written by a newer faultline (schema {row['value']} > {SCHEMA_VERSION})")
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open insight store {self.path}: {exc}") from exc
        self._conn = conn
        return self

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic unit of work; committed on exit, rolled back on error. Re-entrant within a thread."""
        with self._lock:
            conn = self._require()
            nested = conn.in_transaction
            try:
                if not nested:
                    conn.execute("BEGIN IMMEDIATE")
                yield conn
                if not nested:
                    conn.execute("COMMIT")
            except sqlite3.Error as exc:
                if not nested and conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise StorageError(f"insight store {self.path}: {exc}") from exc
            except BaseException:
                if not nested and conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def query(self, sql: str, params: tuple | dict = ()) -> list[sqlite3.Row]:
        with self._lock:
            try:
                return self._require().execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise StorageError(f"insight store {self.path}: {exc}") from exc

    def newest_first(self, table: str, columns: str, *, limit: int, before_seq: int | None = None,
                     **equals: object) -> list[sqlite3.Row]:
        """One keyset page of ``table`` (newest first by ``seq``), selecting only ``columns``: rows with
        ``seq < before_seq`` and each ``column = value`` of ``equals`` whose value is not None. ``table`` and column
        names come from code, never from requests; values are bound parameters."""
        where, params = ["1=1"], []
        if before_seq is not None:
            where.append("seq < ?")
            params.append(before_seq)
        for column, value in equals.items():
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        return self.query(
            f"SELECT {columns} FROM {table} WHERE {' AND '.join(where)} ORDER BY seq DESC LIMIT ?", (*params, limit)
        )

    def _require(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StorageError("insight store is closed")
        return self._conn
