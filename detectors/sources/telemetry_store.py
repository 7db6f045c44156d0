"""A bounded embedded store of recent spans and log records: what the OTLP receivers write and the analysis reads.

Why SQLite: it ships with Python (no new service, no new dependency), keeps one file that survives a restart, lets
the receiver append while an analysis reads (WAL: readers never block the writer), and answers the two questions
the analysis asks — *the spans and logs of a time window* and *one trace by id* — from B-tree indexes. DuckDB would
scan large windows faster, but it allows a single process to open a file read-write, its strength is bulk analytics
rather than the many small appends an OTLP receiver makes, and it is a 30 MB dependency; the analysis reads one
incident's window, which SQLite serves in well under a second at the sizes the caps allow.

Bounds, both enforced on write so the file cannot grow without limit:

* **retention** — records older than the newest record seen minus ``retention_s`` are dropped. The clock is the data's
  own (capped at wall-clock now + 5 min, so one record stamped in the far future cannot wipe the store): a replay of
  a recorded incident keeps its window, live data behaves as with a wall-clock horizon.
* **size** — at most ``max_spans`` spans and ``max_logs`` log records, and at most ``max_bytes`` of live pages;
  beyond them the oldest records go first (one tenth more than the excess, so pruning is not paid on every write).

Rows are written in one transaction per export request: an export answered 200 is on disk (``synchronous=NORMAL``
in WAL mode: durable across a process crash, not across a power loss of the host).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opentelemetry.proto.trace.v1.trace_pb2 import Span as SpanMessage

from topology.otlp import Span, SpanEvent, construct, resource_entity
from topology.otlp_proto import any_value_pb, attributes_pb
from topology.problems import SourceProblem

from ..exceptions import TelemetryStoreError
from .otlp_logs import LogRecord, body_text

log = logging.getLogger(__name__)

__all__ = ["StoreCounts", "TelemetryStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS resources (id INTEGER PRIMARY KEY, attrs TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS spans (
    start_ns INTEGER NOT NULL, end_ns INTEGER NOT NULL, trace_id TEXT NOT NULL, span_id TEXT NOT NULL,
    parent_span_id TEXT, resource_id INTEGER NOT NULL, entity TEXT, service TEXT, name TEXT NOT NULL,
    kind TEXT NOT NULL, status TEXT NOT NULL, detail TEXT NOT NULL, trace_key INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS spans_by_start ON spans (start_ns);
CREATE INDEX IF NOT EXISTS spans_by_trace ON spans (trace_key);
CREATE TABLE IF NOT EXISTS logs (
    time_ns INTEGER NOT NULL, resource_id INTEGER NOT NULL, entity TEXT, service TEXT, severity_number INTEGER NOT NULL,
    severity_text TEXT NOT NULL, body TEXT NOT NULL, trace_id TEXT, span_id TEXT, detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS logs_by_time ON logs (time_ns);
"""
FUTURE_SLACK_NS = 300 * 10**9
PRUNE_SLACK = 0.1


@dataclass(frozen=True)
class StoreCounts:
    spans: int
    logs: int
    bytes: int
    newest_ns: int


def _default(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"$bytes": value.hex()}
    if isinstance(value, (tuple, set, frozenset)):
        return list(value)
    return str(value)


def _trace_key(trace_id: str) -> int:
    """The first 15 hex digits of a trace id as an integer: a small index key for trace look-ups (the full id is
    compared after)."""
    return int(trace_id[:15], 16)


_ENCODER = json.JSONEncoder(separators=(",", ":"), default=_default, ensure_ascii=False)


def _resource_names(resource: dict[str, Any]) -> tuple[str | None, str | None]:
    """(entity id, ``service.name``) a stored span or record carries for its resource."""
    service = resource.get("service.name")
    return resource_entity(resource), (str(service) if service else None)


def _dumps(value: Any) -> str:
    return _ENCODER.encode(value)


class TelemetryStore:
    """Spans and log records in one SQLite file (or in memory with ``path=None``), bounded in time and size.

    Thread-safe: writes are serialised by a lock; reads of a file-backed store use their own connection.
    """

    def __init__(self, path: str | Path | None = None, *, retention_s: float = 6 * 3600.0,
                 max_spans: int = 2_000_000, max_logs: int = 5_000_000, max_bytes: int = 1 << 30) -> None:
        self.path = Path(path) if path is not None else None
        self.retention_s = retention_s
        self.max_spans = max_spans
        self.max_logs = max_logs
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._resources: dict[str, int] = {}
        try:
            if self.path is not None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(self.path) if self.path else ":memory:", check_same_thread=False,
                                       isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA cache_size=-65536")  # 64 MiB: the indexes' hot pages stay in memory
            self._db.execute("PRAGMA wal_autocheckpoint=4000")
            self._db.executescript(_SCHEMA)
            self._spans = self._db.execute("SELECT COUNT(*) FROM spans").fetchone()[0]
            self._logs = self._db.execute("SELECT COUNT(*) FROM logs").fetchone()[0]
            newest = self._db.execute(
                "SELECT MAX(t) FROM (SELECT MAX(start_ns) AS t FROM spans UNION ALL SELECT MAX(time_ns) FROM logs)"
            ).fetchone()[0]
        except sqlite3.Error as exc:
            raise TelemetryStoreError(f"telemetry store {self.path or ':memory:'}: {exc}") from exc
        self._newest = int(newest or 0)
        self._writes = 0
        self._pruned_to = 0

    # -- writing ---------------------------------------------------------------------------------------------------
    def _resource_ids(self, resources: Iterable[dict[str, Any]]) -> dict[int, int]:
        """``id(resource dict) → row id``; the dicts of one export request are shared by their spans."""
        out: dict[int, int] = {}
        for resource in resources:
            key = id(resource)
            if key in out:
                continue
            text = _dumps(resource)
            rid = self._resources.get(text)
            if rid is None:
                row = self._db.execute("SELECT id FROM resources WHERE attrs = ?", (text,)).fetchone()
                rid = row[0] if row else self._db.execute("INSERT INTO resources (attrs) VALUES (?)", (text,)).lastrowid
                if len(self._resources) > 100_000:
                    self._resources.clear()
                self._resources[text] = rid
            out[key] = rid
        return out

    def add_spans(self, spans: Sequence[Span]) -> int:
        """Store ``spans`` (one transaction); returns how many were written."""
        if not spans:
            return 0
        with self._writing(f"{len(spans)} spans"):
            rids = self._resource_ids(s.resource for s in spans)
            entities: dict[int, tuple[str | None, str | None]] = {}
            rows = []
            for s in spans:
                key = id(s.resource)
                names = entities.get(key)
                if names is None:
                    names = entities[key] = _resource_names(s.resource)
                detail: dict[str, Any] = {"a": s.attributes}
                if s.events:
                    detail["e"] = [[e.name, e.time_ns, e.attributes] for e in s.events]
                if s.status_message:
                    detail["m"] = s.status_message
                if s.scope:
                    detail["s"] = s.scope
                rows.append((s.start_ns, s.end_ns, s.trace_id, s.span_id, s.parent_span_id, rids[key], names[0],
                             names[1], s.name, s.kind, s.status, _dumps(detail), _trace_key(s.trace_id)))
            self._insert_locked("spans", rows, max(s.start_ns for s in spans))
        return len(spans)

    def add_logs(self, records: Sequence[LogRecord]) -> int:
        """Store log ``records`` (one transaction); returns how many were written."""
        if not records:
            return 0
        with self._writing(f"{len(records)} log records"):
            rids = self._resource_ids(r.resource for r in records)
            entities: dict[int, tuple[str | None, str | None]] = {}
            rows = []
            for r in records:
                key = id(r.resource)
                names = entities.get(key)
                if names is None:
                    names = entities[key] = _resource_names(r.resource)
                detail = _dumps({"a": r.attributes, "s": r.scope}) if (r.attributes or r.scope) else "{}"
                rows.append((r.time_ns, rids[key], names[0], names[1], r.severity_number, r.severity_text, r.body,
                             r.trace_id, r.span_id, detail))
            self._insert_locked("logs", rows, max(r.time_ns for r in records))
        return len(records)

    def add_span_rows(self, blocks: Sequence[tuple[dict[str, Any], list[tuple]]]) -> int:
        """Store spans already reduced to rows, per resource: ``(start_ns, end_ns, trace_id, span_id, parent_span_id,
        name, kind, status, detail)``, ``detail`` the span's own protobuf encoding (bytes) or the JSON ``add_spans``
        writes. The OTLP protobuf receiver's path: no ``Span`` object per span (``OtlpIngest.traces``)."""
        with self._writing("spans"):
            rows = []
            newest = 0
            for resource, spans in blocks:
                if not spans:
                    continue
                rid = self._resource_ids([resource])[id(resource)]
                entity, service = _resource_names(resource)
                for start, end, trace, span, parent, name, kind, status, detail in spans:
                    rows.append((start, end, trace, span, parent, rid, entity, service, name, kind, status, detail,
                                 int(trace[:15], 16)))
                    if start > newest:
                        newest = start
            self._insert_locked("spans", rows, newest)
        return len(rows)

    def add_logs_request(self, message: Any, source: str = "request") -> tuple[int, list[SourceProblem]]:
        """Store the log records of a decoded protobuf ``ExportLogsServiceRequest`` straight from the message.

        Why a second path beside ``add_logs``: the receiver only stores log records, so building a ``LogRecord``
        object per record first would double the work of the busiest path (50,000 records a second is the target).
        The checks are ``records_from_request``'s: a record with no time or a bad id is skipped and reported.
        """
        problems: list[SourceProblem] = []
        with self._writing("log records"):
            rows = []
            newest = 0
            for r, block in enumerate(message.resource_logs):
                resource = attributes_pb(block.resource.attributes)
                rid = self._resource_ids([resource])[id(resource)]
                entity, service = _resource_names(resource)
                for s, scope_block in enumerate(block.scope_logs):
                    scope = scope_block.scope.name
                    plain = _dumps({"s": scope}) if scope else "{}"
                    for i, rec in enumerate(scope_block.log_records):
                        t = rec.time_unix_nano or rec.observed_time_unix_nano
                        trace, span = rec.trace_id, rec.span_id
                        if t <= 0 or (trace and len(trace) != 16) or (span and len(span) != 8):
                            reason = ("neither timeUnixNano nor observedTimeUnixNano is set" if t <= 0 else
                                      f"traceId must be 16 bytes, got {len(trace)}" if trace and len(trace) != 16
                                      else f"spanId must be 8 bytes, got {len(span)}")
                            problems.append(SourceProblem(
                                source="otlp-logs", reason=reason,
                                where=f"{source} resourceLogs[{r}].scopeLogs[{s}].logRecords[{i}]"))
                            continue
                        body = rec.body
                        kind = body.WhichOneof("value")
                        if kind == "string_value":
                            text = body.string_value
                        else:
                            text = body_text(any_value_pb(body)) if kind is not None else ""
                        detail = _dumps({"a": attributes_pb(rec.attributes), "s": scope}) if rec.attributes else plain
                        rows.append((t, rid, entity, service, rec.severity_number, rec.severity_text, text,
                                     trace.hex() if trace and any(trace) else None,
                                     span.hex() if span and any(span) else None, detail))
                        if t > newest:
                            newest = t
            self._insert_locked("logs", rows, newest)
        for p in problems[:20]:
            log.warning("%s", p)
        return len(rows), problems

    @contextmanager
    def _writing(self, what: str) -> Iterator[None]:
        """One write transaction under the lock, committed whole or rolled back whole: a storage error becomes a
        ``TelemetryStoreError`` naming ``what``; bad data or an interrupt is raised again after the rollback, so the
        transaction is never left open."""
        with self._lock:
            try:
                self._db.execute("BEGIN")
                yield
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise TelemetryStoreError(f"telemetry store: writing {what} failed: {exc}") from exc
            except BaseException:
                self._rollback()
                raise

    def _insert_locked(self, table: str, rows: list[tuple], newest_ns: int) -> None:
        """Append ``rows`` to ``spans`` or ``logs`` inside ``_writing``, then keep the counts, the newest time and the
        retention and size bounds."""
        if not rows:
            return
        self._db.executemany(f"INSERT INTO {table} VALUES ({','.join('?' * len(rows[0]))})", rows)
        if table == "spans":
            self._spans += len(rows)
        else:
            self._logs += len(rows)
        self._note_newest(newest_ns)
        self._prune_locked()

    def _rollback(self) -> None:
        try:
            self._db.execute("ROLLBACK")
        except sqlite3.Error:
            pass
        self._spans = self._db.execute("SELECT COUNT(*) FROM spans").fetchone()[0]
        self._logs = self._db.execute("SELECT COUNT(*) FROM logs").fetchone()[0]

    def _note_newest(self, t_ns: int) -> None:
        ceiling = time.time_ns() + FUTURE_SLACK_NS
        self._newest = max(self._newest, min(t_ns, ceiling))

    def _prune_locked(self) -> None:
        horizon = self._newest - int(self.retention_s * 1e9)
        self._writes += 1
        # a range delete when the horizon moved by a sixteenth of the retention since the last one, not on every write
        if horizon > self._pruned_to + int(self.retention_s * 1e9 / 16):
            self._spans -= self._db.execute("DELETE FROM spans WHERE start_ns < ?", (horizon,)).rowcount
            self._logs -= self._db.execute("DELETE FROM logs WHERE time_ns < ?", (horizon,)).rowcount
            self._pruned_to = horizon
        if self._spans > self.max_spans:
            self._drop_oldest("spans", "start_ns", self._spans - self.max_spans)
        if self._logs > self.max_logs:
            self._drop_oldest("logs", "time_ns", self._logs - self.max_logs)
        if self._writes % 64 == 1 and self._live_bytes() > self.max_bytes:
            self._drop_oldest("spans", "start_ns", int(self._spans * PRUNE_SLACK))
            self._drop_oldest("logs", "time_ns", int(self._logs * PRUNE_SLACK))

    def _drop_oldest(self, table: str, column: str, excess: int) -> None:
        n = excess + int(PRUNE_SLACK * (self.max_spans if table == "spans" else self.max_logs))
        if n <= 0:
            return
        deleted = self._db.execute(
            f"DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table} ORDER BY {column} LIMIT ?)", (n,)
        ).rowcount
        if table == "spans":
            self._spans -= deleted
        else:
            self._logs -= deleted
        log.info("telemetry store: dropped the %d oldest %s (size cap)", deleted, table)

    def _live_bytes(self) -> int:
        pages = self._db.execute("PRAGMA page_count").fetchone()[0] - self._db.execute("PRAGMA freelist_count").fetchone()[0]
        return pages * self._db.execute("PRAGMA page_size").fetchone()[0]

    # -- reading ---------------------------------------------------------------------------------------------------
    def _reader(self) -> tuple[sqlite3.Connection, bool]:
        if self.path is None:
            return self._db, True
        return sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False), False

    def _query(self, sql: str, params: Sequence[Any]) -> list[tuple]:
        db, shared = self._reader()
        try:
            if shared:
                with self._lock:
                    return db.execute(sql, params).fetchall()
            return db.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise TelemetryStoreError(f"telemetry store: reading failed: {exc}") from exc
        finally:
            if not shared:
                db.close()

    def _resource_map(self, ids: Iterable[int]) -> dict[int, dict[str, Any]]:
        wanted = sorted(set(ids))
        out: dict[int, dict[str, Any]] = {}
        for i in range(0, len(wanted), 500):
            chunk = wanted[i:i + 500]
            rows = self._query(f"SELECT id, attrs FROM resources WHERE id IN ({','.join('?' * len(chunk))})", chunk)
            out.update({rid: json.loads(attrs) for rid, attrs in rows})
        return out

    def _spans_from_rows(self, rows: list[tuple]) -> list[Span]:
        resources = self._resource_map(r[5] for r in rows)
        out = []
        for start, end, trace, span, parent, rid, _, _, name, kind, status, detail, _ in rows:
            if isinstance(detail, bytes):  # the span's own protobuf encoding (the protobuf receiver's rows)
                raw = SpanMessage()
                raw.ParseFromString(detail)
                attributes = attributes_pb(raw.attributes)
                message = raw.status.message
                events = tuple(construct(SpanEvent, {"name": e.name, "time_ns": e.time_unix_nano or start,
                                                     "attributes": attributes_pb(e.attributes)}) for e in raw.events)
                scope = ""
            else:
                d = json.loads(detail)
                attributes, message, scope = d.get("a", {}), d.get("m", ""), d.get("s", "")
                events = tuple(construct(SpanEvent, {"name": n, "time_ns": t, "attributes": a})
                               for n, t, a in d.get("e", ()))
            out.append(construct(Span, {
                "trace_id": trace, "span_id": span, "parent_span_id": parent, "name": name, "kind": kind,
                "start_ns": start, "end_ns": end, "status": status, "status_message": message,
                "attributes": attributes, "resource": resources.get(rid, {}), "scope": scope, "events": events}))
        return out

    def spans(self, start_ns: int, end_ns: int, *, limit: int | None = None) -> list[Span]:
        """Spans that started in ``[start_ns, end_ns]``, oldest first."""
        sql = "SELECT * FROM spans WHERE start_ns >= ? AND start_ns <= ? ORDER BY start_ns"
        params: list[Any] = [start_ns, end_ns]
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return self._spans_from_rows(self._query(sql, params))

    def trace(self, trace_id: str) -> list[Span]:
        """Every stored span of one trace, by start time (the console's waterfall)."""
        return self._spans_from_rows(self._query(
            "SELECT * FROM spans WHERE trace_key = ? AND trace_id = ? ORDER BY start_ns",
            (_trace_key(trace_id.lower()), trace_id.lower())))

    def logs(self, start_ns: int, end_ns: int, *, entities: Iterable[str] | None = None,
             limit: int | None = None) -> list[LogRecord]:
        """Log records timed in ``[start_ns, end_ns]``, oldest first; with ``entities``, only theirs (matched on the
        resource's entity or, for ``app:<name>``, its ``service.name``)."""
        sql = "SELECT * FROM logs WHERE time_ns >= ? AND time_ns <= ?"
        params: list[Any] = [start_ns, end_ns]
        if entities is not None:
            wanted = sorted(set(entities))
            services = [e.removeprefix("app:") for e in wanted if e.startswith("app:")]
            marks = ",".join("?" * len(wanted)) or "NULL"
            smarks = ",".join("?" * len(services)) or "NULL"
            sql += f" AND (entity IN ({marks}) OR service IN ({smarks}))"
            params += wanted + services
        sql += " ORDER BY time_ns"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        rows = self._query(sql, params)
        resources = self._resource_map(r[1] for r in rows)
        out = []
        for t, rid, _, _, number, text, body, trace, span, detail in rows:
            d = json.loads(detail)
            out.append(LogRecord.model_construct(
                time_ns=t, body=body, severity_number=number, severity_text=text, trace_id=trace, span_id=span,
                attributes=d.get("a", {}), resource=resources.get(rid, {}), scope=d.get("s", "")))
        return out

    def counts(self) -> StoreCounts:
        with self._lock:
            try:
                size = self._live_bytes()
            except sqlite3.Error as exc:
                raise TelemetryStoreError(f"telemetry store: {exc}") from exc
            return StoreCounts(spans=self._spans, logs=self._logs, bytes=size, newest_ns=self._newest)

    def close(self) -> None:
        with self._lock:
            try:
                self._db.close()
            except sqlite3.Error:
                pass

    def __enter__(self) -> "TelemetryStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
