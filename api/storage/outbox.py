"""The outbox: messages faultline owes to other systems (PagerDuty notes), kept until they are delivered.

A message is written in the same transaction that finishes the insight it reports, so a crash can delay a note but
never lose it; ``(kind, target, insight_id)`` is unique, so a resumed insight does not post the same note twice.
Failed posts are retried with capped exponential backoff, forever: a pending row is visible in ``/metrics``.
"""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any

from .db import Database
from .records import OutboxItem, dumps, now_utc, ts


def _item(row: sqlite3.Row) -> OutboxItem:
    return OutboxItem(
        id=row["id"], kind=row["kind"], target=row["target"], insight_id=row["insight_id"],
        payload=json.loads(row["payload_json"]), status=row["status"], attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"], last_error=row["last_error"], created_at=row["created_at"],
        sent_at=row["sent_at"],
    )


class Outbox:
    def __init__(self, db: Database) -> None:
        self.db = db

    def enqueue(self, *, kind: str, target: str, insight_id: str, payload: dict[str, Any]) -> bool:
        """Add a message; ``False`` when the same (kind, target, insight) is already queued or sent."""
        with self.db.transaction() as conn:
            cur = conn.execute(
                "INSERT OR IGNORE INTO outbox(kind, target, insight_id, payload_json, next_attempt_at, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (kind, target, insight_id, dumps(payload), time.time(), ts(now_utc())),
            )
            return cur.rowcount == 1

    def due(self, *, limit: int = 20, now: float | None = None) -> list[OutboxItem]:
        rows = self.db.query(
            "SELECT * FROM outbox WHERE status='pending' AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?",
            (time.time() if now is None else now, limit),
        )
        return [_item(r) for r in rows]

    def mark_sent(self, item_id: int) -> None:
        with self.db.transaction() as conn:
            conn.execute("UPDATE outbox SET status='sent', attempts=attempts+1, sent_at=?, last_error=NULL WHERE id=?",
                         (ts(now_utc()), item_id))

    def mark_failed(self, item_id: int, error: str, retry_in_s: float) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE outbox SET attempts=attempts+1, last_error=?, next_attempt_at=? WHERE id=?",
                (error[:1000], time.time() + retry_in_s, item_id),
            )

    def items(self, *, insight_id: str | None = None) -> list[OutboxItem]:
        if insight_id is None:
            rows = self.db.query("SELECT * FROM outbox ORDER BY id")
        else:
            rows = self.db.query("SELECT * FROM outbox WHERE insight_id=? ORDER BY id", (insight_id,))
        return [_item(r) for r in rows]

    def pending_count(self) -> int:
        return int(self.db.query("SELECT COUNT(*) AS n FROM outbox WHERE status='pending'")[0]["n"])
