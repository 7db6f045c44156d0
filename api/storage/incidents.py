"""Incidents: one per firing Alertmanager group, PagerDuty incident, console alert or API request.

At most one *open* incident per ``(source, external_key)`` (a partial unique index), so a re-sent Alertmanager group
or a re-delivered PagerDuty event lands on the incident that is already open instead of opening another.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import Any

from ..exceptions import NotFoundError
from .db import Database
from .records import IncidentRecord, IncidentStatus, dumps, new_id, now_utc, ts


def _record(row: sqlite3.Row) -> IncidentRecord:
    return IncidentRecord(
        id=row["id"], seq=row["seq"], source=row["source"], external_key=row["external_key"], title=row["title"],
        symptom=row["symptom"], metric=row["metric"], at=row["at"], status=row["status"],
        created_at=row["created_at"], updated_at=row["updated_at"], resolved_at=row["resolved_at"],
        details=json.loads(row["details_json"] or "{}"), latest_insight=row["latest_insight"],
    )


class IncidentRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    def open_or_get(
        self,
        *,
        source: str,
        external_key: str | None,
        title: str,
        symptom: str | None,
        metric: str | None,
        at: datetime,
        status: IncidentStatus,
        details: dict[str, Any],
    ) -> tuple[IncidentRecord, bool]:
        """The open incident for ``(source, external_key)``, or a new one. Returns ``(incident, created)``."""
        with self.db.transaction() as conn:
            if external_key is not None:
                row = conn.execute(
                    "SELECT * FROM incidents WHERE source=? AND external_key=? AND resolved_at IS NULL",
                    (source, external_key),
                ).fetchone()
                if row is not None:
                    merged = {**json.loads(row["details_json"] or "{}"), **details}
                    conn.execute("UPDATE incidents SET details_json=?, updated_at=? WHERE id=?",
                                 (dumps(merged), ts(now_utc()), row["id"]))
                    return self.get(row["id"]), False
            ident = new_id("inc")
            stamp = ts(now_utc())
            conn.execute(
                "INSERT INTO incidents(id, source, external_key, title, symptom, metric, at, status, created_at,"
                " updated_at, details_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (ident, source, external_key, title, symptom, metric, ts(at), status, stamp, stamp, dumps(details)),
            )
            return self.get(ident), True

    def resolve(self, *, source: str, external_key: str, at: datetime, details: dict[str, Any]) -> IncidentRecord | None:
        """Close the open incident for the key; ``None`` when nothing was open (a resolve we never saw fire)."""
        with self.db.transaction() as conn:
            row = conn.execute(
                "SELECT * FROM incidents WHERE source=? AND external_key=? AND resolved_at IS NULL", (source, external_key)
            ).fetchone()
            if row is None:
                return None
            merged = {**json.loads(row["details_json"] or "{}"), **details}
            conn.execute(
                "UPDATE incidents SET status='resolved', resolved_at=?, updated_at=?, details_json=? WHERE id=?",
                (ts(at), ts(now_utc()), dumps(merged), row["id"]),
            )
            return self.get(row["id"])

    def get(self, ident: str) -> IncidentRecord:
        rows = self.db.query("SELECT * FROM incidents WHERE id=?", (ident,))
        if not rows:
            raise NotFoundError("incident", ident)
        return _record(rows[0])

    def find_open(self, source: str, external_key: str) -> IncidentRecord | None:
        rows = self.db.query(
            "SELECT * FROM incidents WHERE source=? AND external_key=? AND resolved_at IS NULL", (source, external_key)
        )
        return _record(rows[0]) if rows else None

    def page(self, *, limit: int, before_seq: int | None = None, status: str | None = None) -> list[IncidentRecord]:
        rows = self.db.newest_first("incidents", "*", limit=limit, before_seq=before_seq, status=status)
        return [_record(r) for r in rows]


class WebhookReceipts:
    """Event ids already accepted per source: a re-delivery of the same id is answered but not processed twice."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def first_time(self, source: str, event_id: str) -> bool:
        """Record the id; ``False`` when it was already recorded. Call inside the transaction that acts on it."""
        with self.db.transaction() as conn:
            cur = conn.execute(
                "INSERT OR IGNORE INTO webhook_events(source, event_id, received_at) VALUES (?, ?, ?)",
                (source, event_id, ts(now_utc())),
            )
            return cur.rowcount == 1

    def link(self, source: str, event_id: str, incident_id: str) -> None:
        with self.db.transaction() as conn:
            conn.execute("UPDATE webhook_events SET incident_id=? WHERE source=? AND event_id=?",
                         (incident_id, source, event_id))

    def incident_of(self, source: str, event_id: str) -> str | None:
        rows = self.db.query("SELECT incident_id FROM webhook_events WHERE source=? AND event_id=?", (source, event_id))
        return rows[0]["incident_id"] if rows else None
