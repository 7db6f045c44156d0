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
