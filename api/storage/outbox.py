"""The outbox: messages faultline owes to other systems (PagerDuty notes), kept until they are delivered.

A message is written in the same transaction that finishes the insight it reports, so a crash can delay a note but
never lose it; ``(kind, target, insight_id)`` is unique, so a resumed insight does not queue the same note twice.
Failed posts are retried with capped exponential backoff, forever: a pending row is visible in ``/metrics``.

Delivery is leased like insights (``claim_due``), so among N replicas one holds a row at a time, and a dead
replica's rows are taken over when its lease runs out. Before a note is POSTed the row is marked ``in_flight`` and
committed (``begin_send``); an answer from PagerDuty clears it. A row met again with ``in_flight`` set — the process
died mid-POST, or the connection dropped before an answer — may or may not be on the incident already: PagerDuty's
REST API has no idempotency key, so the sender looks for the note on the incident before sending it again.
"""

from __future__ import annotations

import json
import time
from typing import Any

from .base import Row, SqlDatabase
from .records import OutboxItem, dumps, now_utc, ts


def _item(row: Row) -> OutboxItem:
    return OutboxItem(
        id=row["id"], kind=row["kind"], target=row["target"], insight_id=row["insight_id"],
        payload=json.loads(row["payload_json"]), status=row["status"], attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"], last_error=row["last_error"], created_at=row["created_at"],
        sent_at=row["sent_at"], in_flight=bool(row["in_flight"]),
    )


class Outbox:
    def __init__(self, db: SqlDatabase) -> None:
        self.db = db

    def enqueue(self, *, kind: str, target: str, insight_id: str, payload: dict[str, Any]) -> bool:
        """Add a message; ``False`` when the same (kind, target, insight) is already queued or sent."""
        with self.db.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO outbox(kind, target, insight_id, payload_json, next_attempt_at, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (kind, target, insight_id, dumps(payload), time.time(), ts(now_utc())),
            )
            return cur.rowcount == 1

    def due(self, *, limit: int = 20, now: float | None = None) -> list[OutboxItem]:
        """Pending messages whose next attempt is due and that nobody holds (read only; ``claim_due`` takes them)."""
        moment = time.time() if now is None else now
        rows = self.db.query(
            "SELECT * FROM outbox WHERE status='pending' AND next_attempt_at <= ?"
            " AND (lease_until IS NULL OR lease_until < ?) ORDER BY next_attempt_at, id LIMIT ?",
            (moment, moment, limit),
        )
        return [_item(r) for r in rows]

    def claim_due(self, owner: str, lease_s: float, *, limit: int = 20, now: float | None = None) -> list[OutboxItem]:
        """Lease up to ``limit`` due messages to ``owner`` for ``lease_s``; rows other replicas are claiming at this
        instant are skipped."""
        moment = time.time() if now is None else now
        with self.db.transaction() as conn:
            ids = [r["id"] for r in conn.execute(
                "SELECT id FROM outbox WHERE status='pending' AND next_attempt_at <= ?"
                " AND (lease_until IS NULL OR lease_until < ?)"
                f" ORDER BY next_attempt_at, id LIMIT ?{self.db.skip_locked}",
                (moment, moment, limit),
            ).fetchall()]
            items = []
            for ident in ids:
                conn.execute("UPDATE outbox SET lease_owner=?, lease_until=? WHERE id=?", (owner, moment + lease_s, ident))
                items.append(_item(conn.execute("SELECT * FROM outbox WHERE id=?", (ident,)).fetchone()))
            return items

    def begin_send(self, item_id: int, owner: str, lease_s: float) -> bool:
        """Mark the row in flight, durably, right before it is sent, with a fresh lease to cover the send; ``False``
        when ``owner`` no longer holds a live lease on it (another replica may be taking it over)."""
        moment = time.time()
        with self.db.transaction() as conn:
            return conn.execute(
                "UPDATE outbox SET in_flight=1, lease_until=? WHERE id=? AND lease_owner=? AND lease_until > ?"
                " AND status='pending'", (moment + lease_s, item_id, owner, moment)).rowcount == 1

    def mark_sent(self, item_id: int) -> None:
        with self.db.transaction() as conn:
            conn.execute("UPDATE outbox SET status='sent', attempts=attempts+1, sent_at=?, last_error=NULL,"
                         " in_flight=0, lease_owner=NULL, lease_until=NULL WHERE id=?", (ts(now_utc()), item_id))

    def mark_failed(self, item_id: int, error: str, retry_in_s: float, *, uncertain: bool | None = None,
                    owner: str | None = None) -> None:
        """Schedule the next attempt. ``uncertain``: True when the message may have arrived (no answer came), False
        when the receiver answered that it did not take it, None to leave the flag as it was. With ``owner``, only
        while that owner holds the row."""
        sql = ("UPDATE outbox SET attempts=attempts+1, last_error=?, next_attempt_at=?, lease_owner=NULL,"
               " lease_until=NULL")
        params: list[Any] = [error[:1000], time.time() + retry_in_s]
        if uncertain is not None:
            sql += ", in_flight=?"
            params.append(1 if uncertain else 0)
        sql += " WHERE id=? AND status='pending'"
        params.append(item_id)
        if owner is not None:
            sql += " AND lease_owner=?"
            params.append(owner)
        with self.db.transaction() as conn:
            conn.execute(sql, params)

    def renew(self, owner: str, lease_s: float) -> int:
        with self.db.transaction() as conn:
            return conn.execute("UPDATE outbox SET lease_until=? WHERE lease_owner=? AND status='pending'",
                                (time.time() + lease_s, owner)).rowcount

    def release_leases(self) -> int:
        """Free every held row now (a store one process uses, at that process's start: the holder is gone)."""
        with self.db.transaction() as conn:
            return conn.execute("UPDATE outbox SET lease_owner=NULL, lease_until=NULL WHERE lease_owner IS NOT NULL"
                                ).rowcount

    def items(self, *, insight_id: str | None = None) -> list[OutboxItem]:
        if insight_id is None:
            rows = self.db.query("SELECT * FROM outbox ORDER BY id")
        else:
            rows = self.db.query("SELECT * FROM outbox WHERE insight_id=? ORDER BY id", (insight_id,))
        return [_item(r) for r in rows]

    def pending_count(self) -> int:
        return int(self.db.query("SELECT COUNT(*) AS n FROM outbox WHERE status='pending'")[0]["n"])
