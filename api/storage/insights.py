"""Insights: the durable queue and the results. A row is written before the API answers 202.

The queue is shared by every process on the store: a process *claims* the oldest runnable insight (``queued`` and due,
or ``running`` under a lease that ran out because its holder died) by writing its name and a lease deadline into the
row, renews the lease while it works, and stores the result only while it still holds the lease — so an insight taken
over from a slow or dead replica is finished once, by its new holder.
"""

from __future__ import annotations

import json
import time
from typing import Any

from ..exceptions import NotFoundError
from .base import Dialect, Row, SqlDatabase
from .records import InsightListItem, InsightRecord, InsightRequest, dumps, new_id, now_utc, ts

_HAS_CASE = {
    # SQLite loads a value in full for ``IS NOT NULL``; ``typeof()`` answers from the record header
    "sqlite": "typeof(case_json) != 'null' AS has_case",
    "postgresql": "(case_json IS NOT NULL) AS has_case",  # the null bitmap: the value is not read
}
_TOP = {
    "sqlite": "json_extract(result_json, '$.candidates[0].entity') AS top_cause, "
              "json_extract(result_json, '$.candidates[0].score') AS top_score",
    "postgresql": "(result_json::json -> 'candidates' -> 0 ->> 'entity') AS top_cause, "
                  "(result_json::json -> 'candidates' -> 0 ->> 'score') AS top_score",
}


def record_columns(dialect: Dialect) -> str:
    """What a record is read from: everything but the stored inline case (possibly megabytes; ``inline_case_text()``)."""
    return (f"seq, id, incident_id, source, status, stage, request_json, {_HAS_CASE[dialect]}, "
            "result_json, error, attempts, created_at, started_at, finished_at")


def list_columns(dialect: Dialect) -> str:
    """What a listing reads: no stored case, and of the result only its top candidate."""
    return (f"seq, id, incident_id, source, status, stage, request_json, {_HAS_CASE[dialect]}, {_TOP[dialect]}, "
            "error, created_at, finished_at")


def _record(row: Row) -> InsightRecord:
    return InsightRecord(
        id=row["id"], seq=row["seq"], incident_id=row["incident_id"], source=row["source"], status=row["status"],
        stage=row["stage"], request=InsightRequest.model_validate_json(row["request_json"]),
        has_inline_case=bool(row["has_case"]),
        result=json.loads(row["result_json"]) if row["result_json"] else None, error=row["error"],
        attempts=row["attempts"], created_at=row["created_at"], started_at=row["started_at"],
        finished_at=row["finished_at"],
    )


def _list_item(row: Row) -> InsightListItem:
    return InsightListItem(
        id=row["id"], seq=row["seq"], incident_id=row["incident_id"], source=row["source"], status=row["status"],
        stage=row["stage"], request=InsightRequest.model_validate_json(row["request_json"]),
        has_inline_case=bool(row["has_case"]), top_cause=row["top_cause"],
        top_score=float(row["top_score"]) if row["top_score"] is not None else None, error=row["error"],
        created_at=row["created_at"], finished_at=row["finished_at"],
    )


class InsightRepository:
    def __init__(self, db: SqlDatabase) -> None:
        self.db = db

    def create(
        self,
        request: InsightRequest,
        *,
        source: str,
        incident_id: str | None = None,
        inline_case: dict[str, Any] | str | None = None,
    ) -> InsightRecord:
        """Queue an insight; ``inline_case`` is the case to analyse, as documents or already as JSON text."""
        ident = new_id("ins")
        case_json = dumps(inline_case) if isinstance(inline_case, dict) else inline_case
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO insights(id, incident_id, source, status, stage, request_json, case_json, created_at)"
                " VALUES (?, ?, ?, 'queued', 'queued', ?, ?, ?)",
                (ident, incident_id, source, request.model_dump_json(), case_json or None, ts(now_utc())),
            )
            if incident_id is not None:
                conn.execute("UPDATE incidents SET latest_insight=?, updated_at=? WHERE id=?",
                             (ident, ts(now_utc()), incident_id))
        return self.get(ident)

    def get(self, ident: str) -> InsightRecord:
        rows = self.db.query(f"SELECT {record_columns(self.db.dialect)} FROM insights WHERE id=?", (ident,))
        if not rows:
            raise NotFoundError("insight", ident)
        return _record(rows[0])

    def inline_case(self, ident: str) -> dict[str, Any] | None:
        rows = self.db.query("SELECT case_json FROM insights WHERE id=?", (ident,))
        if not rows:
            raise NotFoundError("insight", ident)
        return json.loads(rows[0]["case_json"]) if rows[0]["case_json"] else None

    def inline_case_text(self, ident: str) -> str | None:
        """The stored inline case as JSON text, unparsed (it is parsed in the worker process that analyses it)."""
        rows = self.db.query("SELECT case_json FROM insights WHERE id=?", (ident,))
        if not rows:
            raise NotFoundError("insight", ident)
        return rows[0]["case_json"]

    def page(self, *, limit: int, before_seq: int | None = None, incident_id: str | None = None,
             status: str | None = None) -> list[InsightListItem]:
        """Newest first; ``before_seq`` is the cursor of the previous page."""
        rows = self.db.newest_first("insights", list_columns(self.db.dialect), limit=limit, before_seq=before_seq,
                                    incident_id=incident_id, status=status)
        return [_list_item(r) for r in rows]

    def unfinished(self) -> list[str]:
        """Insights accepted but not finished (queued, or running when the process died), oldest first."""
        return [r["id"] for r in self.db.query(
            "SELECT id FROM insights WHERE status IN ('queued', 'running') ORDER BY seq ASC")]

    # -- the shared queue -------------------------------------------------------------------------------------------
    def claim_next(self, owner: str, lease_s: float, *, now: float | None = None) -> InsightRecord | None:
        """Take the oldest runnable insight for ``owner`` (``running``, attempts + 1, leased for ``lease_s``);
        ``None`` when there is none. Rows another replica is claiming at this instant are skipped, not waited for."""
        moment = time.time() if now is None else now
        with self.db.transaction() as conn:
            row = conn.execute(
                "SELECT id FROM insights WHERE (status='queued' AND run_after <= ?)"
                " OR (status='running' AND (lease_until IS NULL OR lease_until < ?))"
                f" ORDER BY seq LIMIT 1{self.db.skip_locked}",
                (moment, moment),
            ).fetchone()
            if row is None:
                return None
            conn.execute(
                "UPDATE insights SET status='running', stage='starting', attempts=attempts+1, started_at=?,"
                " lease_owner=?, lease_until=? WHERE id=?",
                (ts(now_utc()), owner, moment + lease_s, row["id"]),
            )
            return self.get(row["id"])

    def renew(self, owner: str, lease_s: float) -> int:
        """Extend every lease ``owner`` holds on a running insight; returns how many."""
        with self.db.transaction() as conn:
            return conn.execute("UPDATE insights SET lease_until=? WHERE lease_owner=? AND status='running'",
                                (time.time() + lease_s, owner)).rowcount

    def release_leases(self) -> int:
        """Make every running insight claimable now. Only for a store one process uses (SQLite) at its start-up:
        whoever held those leases is gone."""
        with self.db.transaction() as conn:
            return conn.execute("UPDATE insights SET lease_until=NULL WHERE status='running'").rowcount

    def queued_count(self) -> int:
        return int(self.db.query("SELECT COUNT(*) AS n FROM insights WHERE status='queued'")[0]["n"])

    def runnable_count(self, *, now: float | None = None) -> int:
        moment = time.time() if now is None else now
        return int(self.db.query(
            "SELECT COUNT(*) AS n FROM insights WHERE (status='queued' AND run_after <= ?)"
            " OR (status='running' AND (lease_until IS NULL OR lease_until < ?))", (moment, moment))[0]["n"])

    def mark_running(self, ident: str) -> None:
        """Running with no lease holder (what an insight left by a version without leases looks like)."""
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE insights SET status='running', stage='starting', attempts=attempts+1, started_at=? WHERE id=?",
                (ts(now_utc()), ident),
            )

    def requeue(self, ident: str, stage: str, *, run_after: float = 0.0, owner: str | None = None) -> None:
        """Back to ``queued`` (a data source was down); ``stage`` says why, ``run_after`` (epoch s) when it may run."""
        sql, params = self._held("UPDATE insights SET status='queued', stage=?, run_after=?, lease_owner=NULL,"
                                 " lease_until=NULL WHERE id=? AND status='running'",
                                 [stage[:500], run_after, ident], owner)
        with self.db.transaction() as conn:
            conn.execute(sql, params)

    def set_stage(self, ident: str, stage: str) -> None:
        with self.db.transaction() as conn:
            conn.execute("UPDATE insights SET stage=? WHERE id=? AND status='running'", (stage, ident))

    def finish(self, ident: str, result: dict[str, Any], *, owner: str | None = None) -> bool:
        """Store the result; with ``owner``, only while that owner still holds the lease (``False`` otherwise: the
        insight was taken over and its new holder stores its own result)."""
        sql, params = self._held(
            "UPDATE insights SET status='done', stage='done', result_json=?, error=NULL, finished_at=?,"
            " lease_owner=NULL, lease_until=NULL WHERE id=?", [dumps(result), ts(now_utc()), ident], owner)
        with self.db.transaction() as conn:
            return conn.execute(sql, params).rowcount == 1

    def fail(self, ident: str, error: str, *, owner: str | None = None) -> bool:
        sql, params = self._held(
            "UPDATE insights SET status='failed', stage='failed', error=?, finished_at=?, lease_owner=NULL,"
            " lease_until=NULL WHERE id=?", [error[:2000], ts(now_utc()), ident], owner)
        with self.db.transaction() as conn:
            return conn.execute(sql, params).rowcount == 1

    @staticmethod
    def _held(sql: str, params: list[Any], owner: str | None) -> tuple[str, list[Any]]:
        if owner is None:
            return sql, params
        return sql + " AND lease_owner=? AND status='running'", [*params, owner]

    def counts(self) -> dict[str, int]:
        return {r["status"]: r["n"] for r in self.db.query("SELECT status, COUNT(*) AS n FROM insights GROUP BY status")}
