"""The SQLite store: durable queue, one open incident per key, idempotent outbox and webhook receipts."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from api.storage import Database, IncidentRepository, InsightRepository, InsightRequest, Outbox, WebhookReceipts

AT = datetime(2026, 11, 20, 11, tzinfo=timezone.utc)


def _db(tmp_path: Path) -> Database:
    return Database(tmp_path / "s.sqlite3").open()


def test_queue_survives_reopen_and_orders(tmp_path: Path) -> None:
    db = _db(tmp_path)
    repo = InsightRepository(db)
    ids = [repo.create(InsightRequest(symptom="app:chat", at=AT), source="api").id for _ in range(3)]
    repo.mark_running(ids[0])
    repo.finish(ids[1], {"candidates": []})
    db.close()
    repo = InsightRepository(Database(tmp_path / "s.sqlite3").open())
    assert repo.unfinished() == [ids[0], ids[2]]  # running-at-crash and queued, oldest first
    page = repo.page(limit=2)
    assert [r.id for r in page] == [ids[2], ids[1]]
    assert [r.id for r in repo.page(limit=2, before_seq=page[-1].seq)] == [ids[0]]
    assert repo.get(ids[0]).attempts == 1


def test_one_open_incident_per_key(tmp_path: Path) -> None:
    incidents = IncidentRepository(_db(tmp_path))
    kw = dict(source="alertmanager", external_key="g1", title="t", symptom="app:chat", metric=None, at=AT,
              status="firing")
    a, created_a = incidents.open_or_get(**kw, details={"x": 1})
    b, created_b = incidents.open_or_get(**kw, details={"y": 2})
    assert created_a and not created_b and a.id == b.id
    assert incidents.get(a.id).details == {"x": 1, "y": 2}
    assert incidents.resolve(source="alertmanager", external_key="g1", at=AT, details={}).status == "resolved"
    c, created_c = incidents.open_or_get(**kw, details={})
    assert created_c and c.id != a.id


def test_outbox_and_receipts_are_idempotent(tmp_path: Path) -> None:
    db = _db(tmp_path)
    outbox, receipts = Outbox(db), WebhookReceipts(db)
    assert outbox.enqueue(kind="k", target="P1", insight_id="i1", payload={"content": "x"})
    assert not outbox.enqueue(kind="k", target="P1", insight_id="i1", payload={"content": "x"})
    [item] = outbox.due()
    outbox.mark_failed(item.id, "HTTP 500", retry_in_s=3600)
    assert outbox.due() == [] and outbox.pending_count() == 1
    outbox.mark_sent(item.id)
    assert outbox.pending_count() == 0 and outbox.items()[0].attempts == 2
    assert receipts.first_time("pagerduty", "e1") and not receipts.first_time("pagerduty", "e1")
    assert receipts.first_time("other", "e1")


def test_a_store_from_before_versioned_migrations_is_upgraded(tmp_path: Path) -> None:
    """A file written by faultline 0.1 (schema in a ``meta`` row, no lease columns) opens, gains the new columns and
    keeps its rows; a file from a newer faultline is refused rather than half-understood."""
    import sqlite3

    from api.exceptions import StorageError
    from api.storage.migrations import latest_version, migrations

    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as old:
        old.executescript(migrations("sqlite")[0].sql)
        old.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        old.execute("INSERT INTO meta VALUES ('schema_version', '1')")
        old.execute("INSERT INTO insights(id, source, status, stage, request_json, created_at) VALUES "
                    "('ins_old', 'api', 'running', 'starting', ?, '2026-11-20T11:00:00Z')",
                    (InsightRequest(symptom="app:chat", at=AT).model_dump_json(),))
    db = Database(path).open()
    assert [r["version"] for r in db.query("SELECT version FROM schema_migrations ORDER BY version")] == \
        list(range(1, latest_version("sqlite") + 1))
    claimed = InsightRepository(db).claim_next("me", 30)  # an old 'running' row has no lease: it is claimable
    assert claimed is not None and claimed.id == "ins_old" and claimed.attempts == 1
    db.close()
    with sqlite3.connect(path) as newer:
        newer.execute("INSERT INTO schema_migrations VALUES (99, 'future', '2030-01-01T00:00:00Z')")
    try:
        Database(path).open()
    except StorageError as exc:
        assert "newer faultline (schema 99" in str(exc)
    else:
        raise AssertionError("a store from a newer faultline was opened")


def test_leases_fence_results_and_outbox_marks_in_flight(tmp_path: Path) -> None:
    db = _db(tmp_path)
    repo, outbox = InsightRepository(db), Outbox(db)
    ident = repo.create(InsightRequest(symptom="app:chat", at=AT), source="api").id
    a = repo.claim_next("replica-a", 30, now=1000.0)
    assert a is not None and a.id == ident
    assert repo.claim_next("replica-b", 30, now=1010.0) is None, "a live lease is not taken"
    b = repo.claim_next("replica-b", 30, now=1031.0)  # replica-a's lease ran out: taken over
    assert b is not None and b.id == ident and b.attempts == 2
    assert not repo.finish(ident, {"by": "a"}, owner="replica-a"), "a replica that lost its lease stores nothing"
    assert repo.finish(ident, {"by": "b"}, owner="replica-b")
    assert repo.get(ident).result == {"by": "b"}

    outbox.enqueue(kind="k", target="P1", insight_id=ident, payload={"content": "x"})
    [item] = outbox.claim_due("replica-a", 30)
    assert not item.in_flight and outbox.claim_due("replica-b", 30) == []
    assert outbox.begin_send(item.id, "replica-a", 30)
    assert not outbox.begin_send(item.id, "replica-b", 30)
    outbox.mark_failed(item.id, "no answer", 0, uncertain=True, owner="replica-a")
    [again] = outbox.claim_due("replica-b", 30)
    assert again.in_flight, "a send that got no answer stays uncertain for the next holder"
    outbox.mark_failed(again.id, "HTTP 500", 0, uncertain=False, owner="replica-b")
    [third] = outbox.claim_due("replica-a", 30)
    assert not third.in_flight
