"""Insights: the durable queue and the results. A row is written before the API answers 202."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from ..exceptions import NotFoundError
from .db import Database
from .records import InsightListItem, InsightRecord, InsightRequest, dumps, new_id, now_utc, ts

COLUMNS = ("seq, id, incident_id, source, status, stage, request_json, typeof(case_json) != 'null' AS has_case, "
           "result_json, error, attempts, created_at, started_at, finished_at")
"""What a record is read from: everything but the stored inline case (possibly megabytes; ``inline_case_text()``).
``typeof()`` tells whether there is one without reading it (SQLite loads a value in full for ``IS NOT NULL``)."""
LIST_COLUMNS = ("seq, id, incident_id, source, status, stage, request_json, typeof(case_json) != 'null' AS has_case, "
                "json_extract(result_json, '$.candidates[0].entity') AS top_cause, "
                "json_extract(result_json, '$.candidates[0].score') AS top_score, error, created_at, finished_at")
"""What a listing reads: no stored case, and of the result only its top candidate (SQLite's JSON1 picks it out)."""


def _record(row: sqlite3.Row) -> InsightRecord:
    return InsightRecord(
        id=row["id"], seq=row["seq"], incident_id=row["incident_id"], source=row["source"], status=row["status"],
        stage=row["stage"], request=InsightRequest.model_validate_json(row["request_json"]),
        has_inline_case=bool(row["has_case"]),
        result=json.loads(row["result_json"]) if row["result_json"] else None, error=row["error"],
        attempts=row["attempts"], created_at=row["created_at"], started_at=row["started_at"],
        finished_at=row["finished_at"],
    )


def _list_item(row: sqlite3.Row) -> InsightListItem:
    return InsightListItem(
        id=row["id"], seq=row["seq"], incident_id=row["incident_id"], source=row["source"], status=row["status"],
        stage=row["stage"], request=InsightRequest.model_validate_json(row["request_json"]),
        has_inline_case=bool(row["has_case"]), top_cause=row["top_cause"],
        top_score=float(row["top_score"]) if row["top_score"] is not None else None, error=row["error"],
        created_at=row["created_at"], finished_at=row["finished_at"],
    )


class InsightRepository:
    def __init__(self, db: Database) -> None:
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
        rows = self.db.query(f"SELECT {COLUMNS} FROM insights WHERE id=?", (ident,))
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
        rows = self.db.newest_first("insights", LIST_COLUMNS, limit=limit, before_seq=before_seq,
                                    incident_id=incident_id, status=status)
        return [_list_item(r) for r in rows]

    def unfinished(self) -> list[str]:
        """Insights accepted but not finished (queued, or running when the process died), oldest first."""
        return [r["id"] for r in self.db.query(
            "SELECT id FROM insights WHERE status IN ('queued', 'running') ORDER BY seq ASC")]

    def mark_running(self, ident: str) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE insights SET status='running', stage='starting', attempts=attempts+1, started_at=? WHERE id=?",
                (ts(now_utc()), ident),
            )

    def requeue(self, ident: str, stage: str) -> None:
        """Back to ``queued`` (a data source was down); ``stage`` says why and when it runs again."""
        with self.db.transaction() as conn:
            conn.execute("UPDATE insights SET status='queued', stage=? WHERE id=? AND status='running'", (stage[:500], ident))

    def set_stage(self, ident: str, stage: str) -> None:
        with self.db.transaction() as conn:
            conn.execute("UPDATE insights SET stage=? WHERE id=? AND status='running'", (stage, ident))

    def finish(self, ident: str, result: dict[str, Any]) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE insights SET status='done', stage='done', result_json=?, error=NULL, finished_at=? WHERE id=?",
                (dumps(result), ts(now_utc()), ident),
            )

    def fail(self, ident: str, error: str) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE insights SET status='failed', stage='failed', error=?, finished_at=? WHERE id=?",
                (error[:2000], ts(now_utc()), ident),
            )

    def counts(self) -> dict[str, int]:
        return {r["status"]: r["n"] for r in self.db.query("SELECT status, COUNT(*) AS n FROM insights GROUP BY status")}
