"""Versioned schema migrations: ``migrations/<dialect>/NNNN_name.sql``, applied in order, each recorded once.

Why files and a ``schema_migrations`` table rather than ``CREATE TABLE IF NOT EXISTS`` at start-up: a column added in
a later release must reach stores created by an earlier one, on SQLite and on PostgreSQL alike, and a store written by
a *newer* faultline must be refused rather than half-understood. Both dialects have the same numbered files, so the
two stores always hold the same columns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from ..exceptions import StorageError
from .base import Dialect

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

CREATE_TABLE = ("CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


@cache
def migrations(dialect: Dialect) -> tuple[Migration, ...]:
    """Every migration of ``dialect``, oldest first (numbers must run 1, 2, 3, … without gaps)."""
    found = []
    for path in sorted((MIGRATIONS_DIR / dialect).glob("*.sql")):
        match = _NAME.match(path.name)
        if match is None:
            raise StorageError(f"migration file {path.name}: name must look like 0001_what.sql")
        found.append(Migration(int(match.group(1)), match.group(2), path.read_text(encoding="utf-8")))
    if [m.version for m in found] != list(range(1, len(found) + 1)):
        raise StorageError(f"{dialect} migrations are not numbered 1..{len(found)}: {[m.version for m in found]}")
    return tuple(found)


def latest_version(dialect: Dialect) -> int:
    return len(migrations(dialect))


def pending(dialect: Dialect, applied: set[int], where: str) -> list[Migration]:
    """Migrations still to apply; ``StorageError`` when the store was written by a newer faultline."""
    known = latest_version(dialect)
    newer = sorted(v for v in applied if v > known)
    if newer:
        raise StorageError(f"{where}: written by a newer faultline (schema {max(newer)} > {known}); upgrade faultline")
    return [m for m in migrations(dialect) if m.version not in applied]
