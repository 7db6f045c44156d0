"""The SQLite file that holds insights, incidents, webhook receipts and the outbox: the embedded default.

Why SQLite: it is the embedded default of the design (zero setup), one file survives a restart, and a transaction
commits before the API answers 202 — so what was accepted is on disk even if the process is killed the next instant.
One connection guarded by a lock: writes are tiny, and a single writer avoids ``database is locked`` under bursts.
WAL + ``synchronous=FULL`` so a committed row survives a crash of the process or the machine. One process per file:
replicas share a PostgreSQL store instead (``api/storage/postgres.py``).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..exceptions import StorageError
from .base import Row, SqlDatabase, split_statements
from .migrations import CREATE_TABLE, latest_version, pending
from .records import now_utc, ts

SCHEMA_VERSION = latest_version("sqlite")


class Database(SqlDatabase):
    """A locked SQLite connection with the faultline schema."""

    dialect = "sqlite"
    shared = False

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None

    def __repr__(self) -> str:
        return f"Database(sqlite:{self.path})"

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
            self._migrate(conn)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open insight store {self.path}: {exc}") from exc
        self._conn = conn
        return self

    def _migrate(self, conn: sqlite3.Connection) -> None:
        conn.execute(CREATE_TABLE)
        applied = {int(r[0]) for r in conn.execute("SELECT version FROM schema_migrations")}
        for migration in pending("sqlite", applied, str(self.path)):
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in split_statements(migration.sql):
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_migrations(version, name, applied_at) VALUES (?, ?, ?)",
                             (migration.version, migration.name, ts(now_utc())))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

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

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        with self._lock:
            try:
                return self._require().execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise StorageError(f"insight store {self.path}: {exc}") from exc

    def _require(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StorageError("insight store is closed")
        return self._conn
