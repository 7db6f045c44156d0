"""What every insight-store backend offers the repositories: transactions, queries, keyset pages, row locks.

The repositories (insights, incidents, outbox, receipts) are written once, in the SQL both SQLite and PostgreSQL
accept, with ``?`` placeholders; a backend translates what differs: placeholders, ``FOR UPDATE SKIP LOCKED`` (how N
replicas share a queue without taking each other's rows), and a lock on a key (so two replicas receiving the same
alert group at once open one incident, not two). SQLite needs neither lock: its single writer (``BEGIN IMMEDIATE``)
already serialises every transaction.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Literal, Protocol

Dialect = Literal["sqlite", "postgresql"]
Row = Mapping[str, Any]
"""A row by column name (``sqlite3.Row`` or psycopg's ``dict_row``)."""


class Cursor(Protocol):
    rowcount: int

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Tx(Protocol):
    """The connection inside a transaction: ``execute(sql with ? placeholders, params)``."""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor: ...


class SqlDatabase(ABC):
    """One insight store. Subclasses: ``Database`` (SQLite file, the embedded default) and ``PostgresDatabase``."""

    dialect: Dialect
    shared: bool
    """True when several processes may use the store at once (PostgreSQL): leases must then be waited out, never
    broken at start-up."""

    @abstractmethod
    def open(self) -> "SqlDatabase":
        """Connect and bring the schema to the newest migration."""

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def transaction(self) -> AbstractContextManager[Tx]:
        """One atomic unit of work; committed on exit, rolled back on error. Re-entrant within a thread."""

    @abstractmethod
    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Rows of one statement (inside the thread's open transaction when there is one)."""

    @property
    def skip_locked(self) -> str:
        """Suffix for a ``SELECT`` that claims rows: lock them, and pass over rows another replica holds."""
        return ""

    def lock_key(self, tx: Tx, key: str) -> None:
        """Hold a lock on ``key`` until ``tx`` ends (serialises writers of one incident key across replicas)."""

    def newest_first(self, table: str, columns: str, *, limit: int, before_seq: int | None = None,
                     **equals: object) -> list[Row]:
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


def split_statements(script: str) -> Iterator[str]:
    """The statements of a migration file (``;`` at a line end closes one; our DDL has no ``;`` inside literals)."""
    statement: list[str] = []
    for line in script.splitlines():
        if line.strip().startswith("--") and not statement:
            continue
        statement.append(line)
        if line.rstrip().endswith(";"):
            text = "\n".join(statement).strip()
            if text.rstrip(";").strip():
                yield text
            statement = []
    tail = "\n".join(statement).strip()
    if tail:
        yield tail
