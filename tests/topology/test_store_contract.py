"""One contract for every ``GraphStore``: the same tests run on ``MemoryStore`` and on ``Neo4jStore``.

The Neo4j parameter talks to a real Neo4j 5.26 community engine (``tests/servers/neo4j.py``), so it is marked
``integration``. Times are fixed, not "now", so the assertions about "the graph as it was" cannot drift.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.servers.neo4j import Neo4jServer
from topology import Entity, GraphStore, MemoryStore, Relation, RelationKind, StoreUnavailableError, UnknownEntityError
from topology.neo4j_store import Neo4jStore

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=timezone.utc)
SWAP = T0 + timedelta(minutes=58)

OpenStore = Callable[[], GraphStore]


def _entity(entity_id: str, **attrs: object) -> Entity:
    return Entity(id=entity_id, kind=entity_id.split(":", 1)[0], attrs=attrs)


def _rel(src: str, kind: str, dst: str, valid_from: datetime | None = T0, valid_to: datetime | None = None,
         **attrs: object) -> Relation:
    return Relation(src=src, kind=RelationKind(kind), dst=dst, valid_from=valid_from, valid_to=valid_to, attrs=attrs)


CHAIN_ENTITIES = [
    _entity("user:alice"),
    _entity("app:chat", namespace="prod"),
    _entity("llm:deepseek-r1"),
    _entity("vectordb:qdrant"),
    _entity("pod:prod/vllm-0", node="gpu-node-1"),
    _entity("image:sha256:aaa"),
    _entity("image:sha256:bbb"),
    _entity("commit:1111"),
    _entity("commit:2222"),
]
CHAIN_RELATIONS = [
    _rel("user:alice", "CALLS", "app:chat"),
    _rel("app:chat", "CALLS", "llm:deepseek-r1"),
    _rel("app:chat", "QUERIES", "vectordb:qdrant"),
    _rel("llm:deepseek-r1", "RUNS_ON", "pod:prod/vllm-0"),
    _rel("pod:prod/vllm-0", "RUNS", "image:sha256:aaa"),
    _rel("image:sha256:aaa", "BUILT_FROM", "commit:1111"),
    _rel("image:sha256:bbb", "BUILT_FROM", "commit:2222"),
]


def _load_chain(store: GraphStore) -> None:
    store.upsert_entities(CHAIN_ENTITIES)
    store.upsert_relations(CHAIN_RELATIONS)


def _swap_image(store: GraphStore) -> None:
    """The pod switches from image aaa to bbb at SWAP: the old edge is closed, a new one opens."""
    assert store.close_relation("pod:prod/vllm-0", RelationKind.RUNS, "image:sha256:aaa", SWAP)
    store.upsert_relations([_rel("pod:prod/vllm-0", "RUNS", "image:sha256:bbb", valid_from=SWAP)])


def _edges(relations: tuple[Relation, ...] | list[Relation]) -> set[tuple[str, str, str]]:
    return {r.key for r in relations}


@pytest.fixture(params=["memory", pytest.param("neo4j", marks=pytest.mark.integration)])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OpenStore]:
    """A factory: each call opens the *same* backing store again (a restarted process), initially empty."""
    opened: list[GraphStore] = []
    if request.param == "memory":
        path = tmp_path / "graph.json"

        def make() -> GraphStore:
            store = MemoryStore(path)
            opened.append(store)
            return store
    else:
        server: Neo4jServer = request.getfixturevalue("neo4j_empty")

        def make() -> GraphStore:
            store = Neo4jStore(server.uri, server.user, server.password, database=server.database, retry_s=3.0)
            opened.append(store)
            return store

    yield make
    for store in opened:
        try:
            store.close()
        except Exception:  # a fault test may have left the server down; closing must not mask the test result
            pass


@pytest.fixture
def store(open_store: OpenStore) -> GraphStore:
    return open_store()


def test_implements_protocol(store: GraphStore) -> None:
    assert isinstance(store, GraphStore)
    assert store.counts() == (0, 0)


def test_entity_upsert_is_idempotent_and_replaces_attrs(store: GraphStore) -> None:
    assert store.upsert_entities(CHAIN_ENTITIES) == len(CHAIN_ENTITIES)
    assert store.upsert_entities(CHAIN_ENTITIES) == len(CHAIN_ENTITIES)
    assert store.counts() == (len(CHAIN_ENTITIES), 0)
    store.upsert_entities([_entity("app:chat", team="search")])
    assert store.get_entity("app:chat") == _entity("app:chat", team="search")  # replaced whole, not merged
    assert store.get_entity("pod:prod/vllm-0").attrs == {"node": "gpu-node-1"}


def test_recollecting_the_same_state_changes_nothing(store: GraphStore) -> None:
    _load_chain(store)
    before_counts = store.counts()
    before_open = sorted(store.open_relations(), key=lambda r: r.key)
    _load_chain(store)
    # a later collection of the same open edges keeps the original start: the edge has been there since T0
    store.upsert_relations([_rel("app:chat", "CALLS", "llm:deepseek-r1", valid_from=T0 + timedelta(hours=5))])
    assert store.counts() == before_counts == (len(CHAIN_ENTITIES), len(CHAIN_RELATIONS))
    assert sorted(store.open_relations(), key=lambda r: r.key) == before_open
    calls = [r for r in store.open_relations([RelationKind.CALLS]) if r.dst == "llm:deepseek-r1"]
    assert [r.valid_from for r in calls] == [T0]


def test_same_start_updates_the_version_in_place(store: GraphStore) -> None:
    _load_chain(store)
    store.upsert_relations([_rel("app:chat", "QUERIES", "vectordb:qdrant", weight=2)])
    store.upsert_relations([_rel("app:chat", "QUERIES", "vectordb:qdrant", valid_to=SWAP, source="k8s")])
    assert store.counts()[1] == len(CHAIN_RELATIONS)
    sub = store.subgraph("app:chat", hops=1, at=T0 + timedelta(minutes=1))
    (queries,) = [r for r in sub.relations if r.kind is RelationKind.QUERIES]
    assert queries.valid_to == SWAP
    assert queries.attrs == {"weight": 2, "source": "k8s"}


ODD_ATTRS = {
    "text": "x'}) DETACH DELETE n //", "count": 3, "ratio": 0.25, "flag": False, "tags": ["a", "b"],
    "nested": {"gpu": {"xid": [79, 48]}}, "nothing": None, "mixed": [1, "two"], "empty": [], "huge": 2**70,
}


def test_attrs_of_every_shape_round_trip(store: GraphStore) -> None:
    _load_chain(store)
    store.upsert_entities([_entity("gpu:g0", **ODD_ATTRS)])
    store.upsert_relations([_rel("pod:prod/vllm-0", "USES", "gpu:g0", **ODD_ATTRS)])
    assert store.get_entity("gpu:g0").attrs == ODD_ATTRS
    (uses,) = [r for r in store.open_relations([RelationKind.USES])]
    assert uses.attrs == ODD_ATTRS
    # an attr that changes shape (scalar -> map) on the same version is replaced, others are kept
    store.upsert_relations([_rel("pod:prod/vllm-0", "USES", "gpu:g0", count={"now": 4}, text=None)])
    (uses,) = [r for r in store.open_relations([RelationKind.USES])]
    assert uses.attrs == {**ODD_ATTRS, "count": {"now": 4}, "text": None}
    sub = store.subgraph("gpu:g0", hops=1, at=T0, direction="up")
    assert sub.get("gpu:g0") == _entity("gpu:g0", **ODD_ATTRS)
    assert [r.attrs for r in sub.relations] == [uses.attrs]


def test_open_relations_filters_by_kind(store: GraphStore) -> None:
    _load_chain(store)
    runs = store.open_relations([RelationKind.RUNS, RelationKind.BUILT_FROM])
    assert _edges(runs) == {
        ("pod:prod/vllm-0", "RUNS", "image:sha256:aaa"),
        ("image:sha256:aaa", "BUILT_FROM", "commit:1111"),
        ("image:sha256:bbb", "BUILT_FROM", "commit:2222"),
    }
    assert len(store.open_relations()) == len(CHAIN_RELATIONS)


def test_close_keeps_the_version(store: GraphStore) -> None:
    _load_chain(store)
    _swap_image(store)
    assert store.counts() == (len(CHAIN_ENTITIES), len(CHAIN_RELATIONS) + 1)  # closed version still there
    assert ("pod:prod/vllm-0", "RUNS", "image:sha256:aaa") not in _edges(store.open_relations())
    assert not store.close_relation("pod:prod/vllm-0", RelationKind.RUNS, "image:sha256:aaa", SWAP)
    assert not store.close_relation("pod:prod/vllm-0", RelationKind.USES, "image:sha256:aaa", SWAP)


def test_subgraph_at_time_before_and_after_a_swap(store: GraphStore) -> None:
    _load_chain(store)
    _swap_image(store)
    before = store.subgraph("pod:prod/vllm-0", hops=2, at=SWAP - timedelta(seconds=1))
    after = store.subgraph("pod:prod/vllm-0", hops=2, at=SWAP)  # valid_to is exclusive, valid_from inclusive
    assert before.entity_ids() == {"pod:prod/vllm-0", "image:sha256:aaa", "commit:1111"}
    assert after.entity_ids() == {"pod:prod/vllm-0", "image:sha256:bbb", "commit:2222"}
    (old_runs,) = [r for r in before.relations if r.kind is RelationKind.RUNS]
    assert (old_runs.valid_from, old_runs.valid_to) == (T0, SWAP)
    (new_runs,) = [r for r in after.relations if r.kind is RelationKind.RUNS]
    assert (new_runs.valid_from, new_runs.valid_to) == (SWAP, None)
    # before anything existed, the pod stands alone
    assert store.subgraph("pod:prod/vllm-0", hops=3, at=T0 - timedelta(days=1)).entity_ids() == {"pod:prod/vllm-0"}


def test_since_window_shows_old_and_new_runs_edges(store: GraphStore) -> None:
    _load_chain(store)
    _swap_image(store)
    window = store.subgraph("app:chat", hops=5, at=SWAP + timedelta(minutes=4), since=SWAP - timedelta(minutes=60))
    runs = {r.dst: (r.valid_from, r.valid_to) for r in window.relations if r.kind is RelationKind.RUNS}
    assert runs == {"image:sha256:aaa": (T0, SWAP), "image:sha256:bbb": (SWAP, None)}
    assert {"commit:1111", "commit:2222"} <= window.entity_ids()
    # a window that ends before the swap does not see the new image
    early = store.subgraph("app:chat", hops=5, at=SWAP - timedelta(minutes=1), since=T0)
    assert "image:sha256:bbb" not in early.entity_ids()


def test_directions(store: GraphStore) -> None:
    _load_chain(store)
    at = T0 + timedelta(minutes=5)
    down = store.subgraph("app:chat", hops=2, at=at, direction="down")
    assert down.entity_ids() == {"app:chat", "llm:deepseek-r1", "vectordb:qdrant", "pod:prod/vllm-0"}
    assert _edges(down.relations) == {
        ("app:chat", "CALLS", "llm:deepseek-r1"),
        ("app:chat", "QUERIES", "vectordb:qdrant"),
        ("llm:deepseek-r1", "RUNS_ON", "pod:prod/vllm-0"),
    }
    up = store.subgraph("pod:prod/vllm-0", hops=2, at=at, direction="up")
    assert up.entity_ids() == {"pod:prod/vllm-0", "llm:deepseek-r1", "app:chat"}
    both = store.subgraph("llm:deepseek-r1", hops=2, at=at, direction="both")
    assert both.entity_ids() == {
        "llm:deepseek-r1", "app:chat", "pod:prod/vllm-0",  # one hop
        "user:alice", "vectordb:qdrant", "image:sha256:aaa",  # two hops, mixing directions
    }
    assert store.subgraph("app:chat", hops=0, at=at).entity_ids() == {"app:chat"}
    assert store.subgraph("app:chat", hops=0, at=at).relations == ()
    leaf = store.subgraph("commit:1111", hops=3, at=at)
    assert leaf.entity_ids() == {"commit:1111"} and leaf.root == "commit:1111"
    assert leaf.get("commit:1111") == _entity("commit:1111")


def test_unknown_root(store: GraphStore) -> None:
    _load_chain(store)
    with pytest.raises(UnknownEntityError, match="app:nope"):
        store.subgraph("app:nope", hops=2, at=T0)
    with pytest.raises(UnknownEntityError):
        store.get_entity("app:nope")


def test_unknown_id_error_suggests_the_closest_ids(store: GraphStore) -> None:
    """'Did you mean': a typo'd or shortened id names the ids that exist, same kind first."""
    _load_chain(store)
    with pytest.raises(UnknownEntityError) as err:
        store.subgraph("pod:prod/vllm-1", hops=1, at=T0)
    assert err.value.suggestions[0] == "pod:prod/vllm-0"
    assert "did you mean pod:prod/vllm-0" in str(err.value)
    with pytest.raises(UnknownEntityError) as err:
        store.get_entity("llm:deepseek")
    assert err.value.suggestions[0] == "llm:deepseek-r1"


def test_relation_to_unknown_entity_writes_nothing(store: GraphStore) -> None:
    store.upsert_entities(CHAIN_ENTITIES)
    batch = [*CHAIN_RELATIONS, _rel("pod:prod/vllm-0", "USES", "gpu:ghost-0")]
    with pytest.raises(UnknownEntityError, match="gpu:ghost-0"):
        store.upsert_relations(batch)
    assert store.counts() == (len(CHAIN_ENTITIES), 0)
    assert store.open_relations() == []


def test_store_survives_reopening(open_store: OpenStore) -> None:
    first = open_store()
    _load_chain(first)
    _swap_image(first)
    expected = first.subgraph("app:chat", hops=5, at=SWAP + timedelta(minutes=1), since=T0)
    first.close()
    second = open_store()
    assert second.counts() == (len(CHAIN_ENTITIES), len(CHAIN_RELATIONS) + 1)
    again = second.subgraph("app:chat", hops=5, at=SWAP + timedelta(minutes=1), since=T0)
    assert again.entity_ids() == expected.entity_ids()
    assert _same_relations(again.relations, expected.relations)
    assert second.get_entity("app:chat") == _entity("app:chat", namespace="prod")


def _same_relations(a: tuple[Relation, ...], b: tuple[Relation, ...]) -> bool:
    def key(r: Relation) -> tuple[object, ...]:
        return (r.key, r.valid_from, r.valid_to, sorted(r.attrs.items()))

    return sorted(map(key, a)) == sorted(map(key, b))


def test_sub_millisecond_times_are_kept_exactly(open_store: OpenStore) -> None:
    """Two starts 300 µs apart are two versions, and reopening the store gives back every microsecond."""
    first = open_store()
    _load_chain(first)
    start = T0 + timedelta(microseconds=123_456)
    first.upsert_relations([_rel("pod:prod/vllm-0", "RUNS", "image:sha256:bbb", start, start + timedelta(microseconds=500))])
    first.upsert_relations([_rel("pod:prod/vllm-0", "RUNS", "image:sha256:bbb", start + timedelta(microseconds=300))])
    expected = {(start, start + timedelta(microseconds=500)), (start + timedelta(microseconds=300), None)}
    first.close()
    second = open_store()
    window = second.subgraph("pod:prod/vllm-0", hops=1, at=start + timedelta(seconds=1), since=start)
    got = {(r.valid_from, r.valid_to) for r in window.relations if r.dst == "image:sha256:bbb"}
    assert got == expected


HOSTILE_IDS = [
    "app:x'}) DETACH DELETE n //",
    'pod:a"b\\c`d} MATCH (m) DETACH DELETE m',
    "llm:$root ${x} {{hops}} \u2603 \u0000end",
]


def test_hostile_ids_are_stored_verbatim(store: GraphStore) -> None:
    _load_chain(store)
    store.upsert_entities([_entity(i, note=i) for i in HOSTILE_IDS])
    store.upsert_relations([_rel(HOSTILE_IDS[0], "CALLS", HOSTILE_IDS[2]), _rel(HOSTILE_IDS[2], "RUNS_ON", HOSTILE_IDS[1])])
    store.upsert_relations([_rel("app:chat", "CALLS", HOSTILE_IDS[0])])
    assert store.counts() == (len(CHAIN_ENTITIES) + 3, len(CHAIN_RELATIONS) + 3)  # nothing deleted
    for hostile in HOSTILE_IDS:
        assert store.get_entity(hostile) == _entity(hostile, note=hostile)
    sub = store.subgraph(HOSTILE_IDS[0], hops=2, at=T0 + timedelta(minutes=1))
    assert sub.entity_ids() == set(HOSTILE_IDS)
    assert store.close_relation(HOSTILE_IDS[0], RelationKind.CALLS, HOSTILE_IDS[2], SWAP)
    assert store.counts()[0] == len(CHAIN_ENTITIES) + 3


@pytest.mark.integration
def test_results_agree_between_backends(neo4j_empty: Neo4jServer, tmp_path: Path) -> None:
    """Belt and braces over the shared tests: a randomised history read back at many times gives equal answers."""
    import random

    rng = random.Random(7)
    entities = [_entity(f"{kind}:{i}") for kind in ("app", "llm", "pod", "image") for i in range(12)]
    ids = [e.id for e in entities]
    batches = []
    for step in range(6):
        batch = []
        for _ in range(25):
            src, dst = rng.sample(ids, 2)
            start = T0 + timedelta(minutes=rng.choice([0, 10, 20, 30]))
            end = rng.choice([None, None, start + timedelta(minutes=rng.randint(1, 40))])
            batch.append(_rel(src, rng.choice(["CALLS", "RUNS_ON", "RUNS"]), dst, start, end, step=step))
        batches.append(batch)
    memory = MemoryStore(tmp_path / "g.json")
    neo = Neo4jStore(neo4j_empty.uri, neo4j_empty.user, neo4j_empty.password, batch_size=7)
    try:
        for backend in (memory, neo):
            backend.upsert_entities(entities)
            for i, batch in enumerate(batches):
                backend.upsert_relations(batch)
                if i == 3:
                    for rel in sorted(backend.open_relations(), key=lambda r: r.key)[:5]:
                        backend.close_relation(rel.src, rel.kind, rel.dst, T0 + timedelta(minutes=35))
        assert memory.counts() == neo.counts()
        assert _same_relations(tuple(memory.open_relations()), tuple(neo.open_relations()))
        for root in ("app:0", "llm:3", "pod:5"):
            for minutes in (0, 15, 36, 80):
                for direction in ("down", "up", "both"):
                    kwargs = dict(hops=2, at=T0 + timedelta(minutes=minutes), direction=direction)
                    a, b = memory.subgraph(root, **kwargs), neo.subgraph(root, **kwargs)
                    assert a.entity_ids() == b.entity_ids(), (root, minutes, direction)
                    assert _same_relations(a.relations, b.relations), (root, minutes, direction)
    finally:
        neo.close()


@pytest.mark.integration
def test_neo4j_stopped_mid_use_is_a_clear_error(neo4j_empty: Neo4jServer) -> None:
    store = Neo4jStore(neo4j_empty.uri, neo4j_empty.user, neo4j_empty.password, retry_s=2.0)
    try:
        _load_chain(store)
        neo4j_empty.stop()
        with pytest.raises(StoreUnavailableError) as caught:
            store.subgraph("app:chat", hops=2, at=T0)
        message = str(caught.value)
        assert neo4j_empty.uri in message and "subgraph" in message
        with pytest.raises(StoreUnavailableError, match="upserting relations|checking relation ends"):
            store.upsert_relations(CHAIN_RELATIONS)
        neo4j_empty.start()
        # the same store object reconnects, and the data survived the restart
        assert store.counts() == (len(CHAIN_ENTITIES), len(CHAIN_RELATIONS))
    finally:
        store.close()


def test_neo4j_unreachable_at_start() -> None:
    """No server needed: nothing listens on a fresh free port."""
    from tests.servers.common import free_port

    uri = f"bolt://127.0.0.1:{free_port()}"
    with pytest.raises(StoreUnavailableError, match=uri):
        Neo4jStore(uri, retry_s=1.0, connect_timeout_s=1.0)


def _wait_until_blocked(server: Neo4jServer, timeout_s: float) -> bool:
    """Poll ``SHOW TRANSACTIONS`` until the batch's MERGE waits on the lock we hold: the moment to pull the plug."""
    import neo4j

    deadline = time.monotonic() + timeout_s
    with neo4j.GraphDatabase.driver(server.uri, auth=(server.user, server.password)) as driver:
        while time.monotonic() < deadline:
            records, _, _ = driver.execute_query("SHOW TRANSACTIONS YIELD currentQuery, status RETURN currentQuery, status")
            if any("MERGE (a)-[r:" in (r["currentQuery"] or "") and r["status"].startswith("Blocked") for r in records):
                return True
            time.sleep(0.05)
    return False


@pytest.mark.integration
def test_neo4j_killed_mid_batch_leaves_no_half_batch(neo4j_empty: Neo4jServer) -> None:
    """A batch is half done (blocked on a lock near its end) when the engine dies: after restart none of it is there.

    Why the lock: it freezes the transaction after it has created ~all of its relationships, without guessing at
    timings, so the kill lands mid-batch every time.
    """
    import neo4j

    n = 5_000
    entities = [_entity(f"pod:p{i}") for i in range(n)]
    relations = [_rel(f"pod:p{i}", "SCHEDULED_ON", f"pod:p{(i + 1) % n}") for i in range(n)]
    store = Neo4jStore(neo4j_empty.uri, neo4j_empty.user, neo4j_empty.password, batch_size=n, retry_s=1.0)
    store.upsert_entities(entities)
    holder = neo4j.GraphDatabase.driver(neo4j_empty.uri, auth=(neo4j_empty.user, neo4j_empty.password))
    lock_session = holder.session(database=neo4j_empty.database)
    lock_tx = lock_session.begin_transaction()
    lock_tx.run("MATCH (e:Entity {id: $id}) SET e.locked_by_test = true", id=f"pod:p{n - 2}").consume()
    outcome: list[BaseException | None] = []

    def write() -> None:
        try:
            store.upsert_relations(relations)
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            outcome.append(exc)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        assert _wait_until_blocked(neo4j_empty, timeout_s=120), "the relation MERGE never blocked on the held lock"
        neo4j_empty.kill()
        writer.join(timeout=120)
    finally:
        for closing in (lock_session.close, holder.close, store.close):
            try:
                closing()
            except Exception:  # the server is gone; these connections are dead anyway
                pass
    assert outcome, "writer thread did not finish"
    assert isinstance(outcome[0], StoreUnavailableError), repr(outcome[0])
    assert neo4j_empty.uri in str(outcome[0])
    neo4j_empty.start()
    reopened = Neo4jStore(neo4j_empty.uri, neo4j_empty.user, neo4j_empty.password)
    try:
        assert reopened.counts() == (n, 0), "a half-written batch survived the crash"
        reopened.upsert_relations(relations)  # and the same batch goes through once the store is back
        assert reopened.counts() == (n, n)
    finally:
        reopened.close()
