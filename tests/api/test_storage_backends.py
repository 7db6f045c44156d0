"""One storage interface, two backends: every contract below runs on the SQLite file and on a real PostgreSQL.

What N replicas rely on is tested on PostgreSQL with real concurrency: claims from many threads never hand one row to
two holders (``FOR UPDATE SKIP LOCKED``), an expired lease is taken over, a result from a replica that lost its lease
is refused, two processes migrating one empty database at once apply each migration once, and two writers of one
incident key open one incident.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import pytest

from api.exceptions import StorageError
from api.storage import (IncidentRepository, InsightRepository, InsightRequest, Outbox, PostgresDatabase, SqlDatabase,
                         WebhookReceipts, database_for)
from api.storage.migrations import latest_version

AT = datetime(2026, 11, 20, 11, tzinfo=timezone.utc)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlDatabase]:
    if request.param == "sqlite":
        db = database_for(None, tmp_path / "s.sqlite3").open()
    else:
        db = database_for(request.getfixturevalue("postgres_url"), tmp_path / "unused").open()
    yield db
    db.close()


def _insight(db: SqlDatabase, symptom: str = "app:chat", **kw: object) -> str:
    return InsightRepository(db).create(InsightRequest(symptom=symptom, at=AT), source="api", **kw).id  # type: ignore[arg-type]


def test_queue_order_pages_and_listing_columns(store: SqlDatabase) -> None:
    repo = InsightRepository(store)
    ids = [_insight(store, inline_case={"topology": {"entities": []}}) if i == 1 else _insight(store) for i in range(3)]
    assert repo.unfinished() == ids
    page = repo.page(limit=2)
    assert [r.id for r in page] == [ids[2], ids[1]] and page[1].has_inline_case and not page[0].has_inline_case
    assert [r.id for r in repo.page(limit=2, before_seq=page[-1].seq)] == [ids[0]]
    assert repo.inline_case(ids[1]) == {"topology": {"entities": []}}
    assert repo.counts() == {"queued": 3}
    assert store.query("SELECT version FROM schema_migrations ORDER BY version")[-1]["version"] == \
        latest_version(store.dialect)


def test_incidents_receipts_and_outbox(store: SqlDatabase) -> None:
    incidents, receipts, outbox = IncidentRepository(store), WebhookReceipts(store), Outbox(store)
    kw = dict(source="alertmanager", external_key="g1", title="t", symptom="app:chat", metric=None, at=AT,
              status="firing")
    a, created_a = incidents.open_or_get(**kw, details={"x": 1})  # type: ignore[arg-type]
    b, created_b = incidents.open_or_get(**kw, details={"y": 2})  # type: ignore[arg-type]
    assert created_a and not created_b and a.id == b.id and incidents.get(a.id).details == {"x": 1, "y": 2}
    assert [i.id for i in incidents.page(limit=10)] == [a.id]
    assert receipts.first_time("pagerduty", "e1") and not receipts.first_time("pagerduty", "e1")
    receipts.link("pagerduty", "e1", a.id)
    assert receipts.incident_of("pagerduty", "e1") == a.id
    assert outbox.enqueue(kind="k", target="P1", insight_id="i1", payload={"content": "x"})
    assert not outbox.enqueue(kind="k", target="P1", insight_id="i1", payload={"content": "x"})
    [item] = outbox.claim_due("me", 30)
    assert outbox.begin_send(item.id, "me", 30)
    outbox.mark_sent(item.id)
    assert outbox.pending_count() == 0 and outbox.items()[0].status == "sent"


def test_a_transaction_is_all_or_nothing(store: SqlDatabase) -> None:
    repo = InsightRepository(store)
    with pytest.raises(RuntimeError):
        with store.transaction():
            _insight(store)
            raise RuntimeError("crash between two writes")
    assert repo.unfinished() == []
    with pytest.raises(StorageError):
        with store.transaction() as tx:
            tx.execute("INSERT INTO no_such_table VALUES (1)")


def test_leases_take_over_and_fence(store: SqlDatabase) -> None:
    repo = InsightRepository(store)
    ident = _insight(store)
    first = repo.claim_next("a", 30, now=1000.0)
    assert first is not None and repo.claim_next("b", 30, now=1020.0) is None
    taken = repo.claim_next("b", 30, now=1031.0)
    assert taken is not None and taken.id == ident and taken.attempts == 2
    assert not repo.finish(ident, {"by": "a"}, owner="a") and repo.finish(ident, {"by": "b"}, owner="b")
    assert repo.get(ident).result == {"by": "b"} and repo.claim_next("c", 30) is None


# -- PostgreSQL under real concurrency ----------------------------------------------------------------------------------

@pytest.mark.integration
def test_concurrent_claims_never_share_a_row(postgres_url: str, tmp_path: Path) -> None:
    setup = database_for(postgres_url, tmp_path).open()
    ids = [_insight(setup, f"app:s{i}") for i in range(60)]
    setup.close()
    stores = [PostgresDatabase(postgres_url, max_size=4).open() for _ in range(3)]  # three "replicas"
    claimed: dict[str, list[str]] = {}
    lock = threading.Lock()

    def drain(index: int) -> None:
        repo = InsightRepository(stores[index % 3])
        while (record := repo.claim_next(f"replica-{index}", 30)) is not None:
            with lock:
                claimed.setdefault(record.id, []).append(f"replica-{index}")
            repo.finish(record.id, {"ok": True}, owner=f"replica-{index}")

    with ThreadPoolExecutor(max_workers=9) as pool:
        list(pool.map(drain, range(9)))
    for db in stores:
        db.close()
    assert sorted(claimed) == sorted(ids)
    assert all(len(holders) == 1 for holders in claimed.values()), {k: v for k, v in claimed.items() if len(v) > 1}
    assert len({h[0] for h in claimed.values()}) > 1, "one thread took everything: the test proved nothing"


@pytest.mark.integration
def test_replicas_migrating_at_once_apply_each_migration_once(postgres_url: str) -> None:
    barrier = threading.Barrier(4)

    def open_one(_: int) -> int:
        barrier.wait()
        db = PostgresDatabase(postgres_url, max_size=2).open()
        try:
            return len(db.query("SELECT version FROM schema_migrations"))
        finally:
            db.close()

    with ThreadPoolExecutor(max_workers=4) as pool:
        counts = list(pool.map(open_one, range(4)))
    assert counts == [latest_version("postgresql")] * 4


@pytest.mark.integration
def test_two_writers_of_one_incident_key_open_one_incident(postgres_url: str) -> None:
    stores = [PostgresDatabase(postgres_url, max_size=4).open() for _ in range(2)]
    barrier = threading.Barrier(8)

    def open_it(index: int) -> str:
        barrier.wait()
        incident, _ = IncidentRepository(stores[index % 2]).open_or_get(
            source="alertmanager", external_key="same-group", title="t", symptom="app:chat", metric=None, at=AT,
            status="firing", details={f"k{index}": index})
        return incident.id

    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = set(pool.map(open_it, range(8)))
    details = IncidentRepository(stores[0]).get(ids.pop()).details
    for db in stores:
        db.close()
    assert not ids, "two incidents were opened for one key"
    assert details == {f"k{i}": i for i in range(8)}, "a concurrent writer's details were lost"


@pytest.mark.integration
def test_bad_urls_and_passwords_are_clear_errors(postgres_url: str, tmp_path: Path) -> None:
    wrong = postgres_url.replace("faultline:", "faultline:not-the-password-", 1)
    with pytest.raises(StorageError) as caught:
        PostgresDatabase(wrong, timeout_s=3).open()
    assert "not-the-password" not in str(caught.value) and "***" in str(caught.value)
    with pytest.raises(StorageError, match="use postgresql://"):
        database_for("mysql://x@y/z", tmp_path)


@pytest.mark.integration
def test_read_merge_write_of_one_incident_is_serialised_across_replicas(postgres_url: str) -> None:
    """What the Alertmanager intake does — read the open incident, merge its alert list, write it back — from two
    replicas at once: no replica's alerts are lost."""
    stores = [PostgresDatabase(postgres_url, max_size=4).open() for _ in range(2)]
    kw = dict(source="alertmanager", external_key="g", title="t", symptom="app:chat", metric=None, at=AT,
              status="firing")
    IncidentRepository(stores[0]).open_or_get(**kw, details={"alerts": {}})  # type: ignore[arg-type]
    barrier = threading.Barrier(6)

    def add_alert(index: int) -> None:
        db = stores[index % 2]
        incidents = IncidentRepository(db)
        barrier.wait()
        with db.transaction():
            existing = incidents.find_open("alertmanager", "g")
            assert existing is not None
            alerts = {**existing.details["alerts"], f"a{index}": index}
            incidents.open_or_get(**kw, details={"alerts": alerts})  # type: ignore[arg-type]

    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(add_alert, range(6)))
    found = IncidentRepository(stores[0]).find_open("alertmanager", "g")
    for db in stores:
        db.close()
    assert found is not None and found.details["alerts"] == {f"a{i}": i for i in range(6)}
