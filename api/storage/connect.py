"""Which insight store a configuration means: ``FAULTLINE_DB_URL`` (PostgreSQL, or an SQLite URL) or the SQLite file
``FAULTLINE_DB_PATH`` (the embedded default)."""

from __future__ import annotations

from pathlib import Path

from ..exceptions import StorageError
from .base import SqlDatabase
from .db import Database
from .postgres import PostgresDatabase, redact

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def database_for(url: str | None, path: Path | str) -> SqlDatabase:
    """An unopened store: PostgreSQL for ``postgresql://…``, SQLite for ``sqlite:///path`` or, with no URL, ``path``."""
    if url is None:
        return Database(path)
    if url.startswith(POSTGRES_SCHEMES):
        return PostgresDatabase(url)
    if url.startswith("sqlite:///"):
        return Database(url.removeprefix("sqlite:///") or path)
    raise StorageError(f"insight store URL {redact(url)!r}: use postgresql://user:password@host:5432/db or sqlite:///path")
