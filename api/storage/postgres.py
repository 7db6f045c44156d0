"""The PostgreSQL insight store: one database shared by N ``faultline serve`` replicas.

Why PostgreSQL past one machine: the SQLite file lives in one process on one node; replicas behind a Service need one
queue they all see, row locks that let each take a different insight (``FOR UPDATE SKIP LOCKED``), and a store that
outlives the node. The repositories are the SQLite ones; this class only translates ``?`` placeholders to psycopg's
``%s``, hands each thread its own pooled connection for the length of a transaction, and takes advisory locks.

Connections come from a ``psycopg_pool.ConnectionPool`` in autocommit mode; ``transaction()`` opens an explicit
transaction on the thread's connection, and a nested ``transaction()`` or ``query()`` in the same thread joins it (the
repositories read back what they just wrote). Migrations run under an advisory lock, so replicas starting together
apply each one once.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..exceptions import StorageError
from .base import Cursor, Row, SqlDatabase
from .migrations import CREATE_TABLE, pending
from .records import now_utc, ts

MIGRATION_LOCK = 0x6661756C  # "faul": the advisory lock id every replica takes while migrating
_PLACEHOLDER = re.compile(r"\?")


def redact(url: str) -> str:
    """The URL without its password, for errors and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def to_psycopg(sql: str) -> str:
    """``?`` placeholders (the repositories' SQL) -> ``%s``; a literal ``%`` is doubled first."""
    return _PLACEHOLDER.sub("%s", sql.replace("%", "%%"))


class _Tx:
    """The thread's connection inside a transaction, speaking the repositories' ``?`` SQL."""

    def __init__(self, conn: Any, where: str) -> None:
        self.conn = conn
        self.where = where

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        import psycopg

        try:
            return self.conn.execute(to_psycopg(sql), tuple(params))
        except psycopg.Error as exc:
            raise StorageError(f"insight store {self.where}: {exc}".strip()) from exc


class PostgresDatabase(SqlDatabase):
    """A pool of connections to one PostgreSQL database, with the faultline schema."""

    dialect = "postgresql"
    shared = True

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 10, timeout_s: float = 30.0) -> None:
        self.url = url
        self.where = redact(url)
        self.min_size = min_size
        self.max_size = max_size
        self.timeout_s = timeout_s
        self._pool: Any = None
        self._local = threading.local()

    def __repr__(self) -> str:
        return f"PostgresDatabase({self.where})"

    def open(self) -> "PostgresDatabase":
        if self._pool is not None:
            return self
        try:
            from psycopg.rows import dict_row
            from psycopg_pool import ConnectionPool
        except ImportError as exc:  # pragma: no cover - psycopg is a runtime dependency
            raise StorageError("PostgreSQL store needs psycopg 3: pip install 'psycopg[binary,pool]'") from exc
        pool = ConnectionPool(self.url, min_size=self.min_size, max_size=self.max_size, timeout=self.timeout_s,
                              kwargs={"autocommit": True, "row_factory": dict_row}, open=False,
                              name="faultline-store")
        try:
            pool.open(wait=True, timeout=self.timeout_s)
        except Exception as exc:  # psycopg.Error, or the pool's PoolTimeout (not a psycopg.Error)
            pool.close()
            raise StorageError(f"cannot open insight store {self.where}: {exc}") from exc
        self._pool = pool
        try:
            self._migrate()
        except BaseException:
            self.close()
            raise
        return self

    def _migrate(self) -> None:
        with self.transaction() as tx:
            tx.execute("SELECT pg_advisory_xact_lock(?)", (MIGRATION_LOCK,))
            tx.execute(CREATE_TABLE)
            applied = {int(r["version"]) for r in tx.execute("SELECT version FROM schema_migrations").fetchall()}
            for migration in pending("postgresql", applied, self.where):
                self._script(tx, migration.sql)
                tx.execute("INSERT INTO schema_migrations(version, name, applied_at) VALUES (?, ?, ?)",
                           (migration.version, migration.name, ts(now_utc())))

    @staticmethod
    def _script(tx: _Tx, sql: str) -> None:
        """A whole migration file as one simple-protocol query (several statements, no parameters)."""
        import psycopg

        try:
            tx.conn.execute(sql)
        except psycopg.Error as exc:
            raise StorageError(f"insight store {tx.where}: migration failed: {exc}") from exc

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    @contextmanager
    def transaction(self) -> Iterator[_Tx]:
        current: _Tx | None = getattr(self._local, "tx", None)
        if current is not None:  # nested: join the thread's open transaction
            yield current
            return
        import psycopg

        pool = self._require()
        try:
            with pool.connection() as conn, conn.transaction():
                tx = _Tx(conn, self.where)
                self._local.tx = tx
                try:
                    yield tx
                finally:
                    self._local.tx = None
        except psycopg.Error as exc:
            raise StorageError(f"insight store {self.where}: {exc}".strip()) from exc
        except StorageError:
            raise
        except Exception as exc:
            from psycopg_pool import PoolTimeout

            if isinstance(exc, PoolTimeout):
                raise StorageError(f"insight store {self.where}: no connection within {self.timeout_s:g} s") from exc
            raise

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        with self.transaction() as tx:
            return list(tx.execute(sql, params).fetchall())

    @property
    def skip_locked(self) -> str:
        return " FOR UPDATE SKIP LOCKED"

    def lock_key(self, tx: Any, key: str) -> None:
        tx.execute("SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", (key,))

    def _require(self) -> Any:
        if self._pool is None:
            raise StorageError("insight store is closed")
        return self._pool
