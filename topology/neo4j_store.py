"""``Neo4jStore``: the fleet-scale ``GraphStore`` on Neo4j 5 over Bolt, with the official ``neo4j`` driver.

Graph layout (what a person sees in Neo4j Browser):

* every entity is a node ``(:Entity {id, kind, attr.<key>...})``; ``id`` is unique (constraint created at start-up),
  ``kind`` is indexed;
* every relation *version* is a relationship whose type is the ``RelationKind`` (``CALLS``, ``RUNS`` ...) with
  ``valid_from_us`` / ``valid_to_us`` in integer microseconds since the Unix epoch (UTC; null = open-ended; exact,
  unlike floats, and compared with plain ``<=`` in the time predicates), ``from_key`` — the start again, with a
  sentinel for "no start", because ``MERGE`` cannot match on a null property — and its attrs;
* attrs are properties ``attr.<key>`` when Neo4j can hold the value (a scalar or a list of one scalar type), else
  ``attrjson.<key>`` holding JSON text (nested maps, nulls, mixed lists). Flat properties let the write statement
  merge attrs with ``SET r += ...`` in the database, and keep them readable and queryable in Cypher.

Why it is written this way:

* Only ``$parameters`` carry values. The two things spliced into query text are never user data: relationship
  types come from the ``RelationKind`` enum, and the hop count is an ``int`` (Cypher cannot parameterise the bounds
  of a variable-length pattern).
* Writes go in batches, one managed transaction (``execute_write``) per batch, one ``UNWIND $rows AS row ... MERGE``
  statement per relation kind that applies the versioning rule inside the database (no read round trip); repeats
  of a key within a batch are folded in Python first. The function is idempotent, so the driver may retry it.
  A batch commits whole or not at all; a call with more rows than ``batch_size`` can commit a prefix of whole
  batches before the store goes away. Both ends of every relation are checked before the first batch, so an unknown entity writes nothing.
* "The k-hop subgraph of X as it was over [since, at]" is one query: a variable-length pattern whose relationships
  must all be live in the window, then the live relationships among the nodes it reached.
* Driver errors never leave this module: a store that is down or goes away becomes ``StoreUnavailableError`` naming
  the URI, the database and the operation; anything else the server refuses becomes ``StoreError``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

import neo4j
from neo4j.exceptions import (
    AuthError,
    DatabaseUnavailable,
    DriverError,
    Neo4jError,
    ServiceUnavailable,
    SessionExpired,
)

from .exceptions import StoreError, StoreUnavailableError, UnknownEntityError
from .models import Entity, Relation, RelationKind, Subgraph
from .store import Direction
from .suggest import closest_ids
from .timeutil import parse_time
from .versioning import plan_relation_writes

T = TypeVar("T")

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)
_ATTR, _ATTR_JSON = "attr.", "attrjson."
_NO_START = -(2**63)  # from_key of a version with valid_from=None; below any datetime Python can hold
_TYPES = "|".join(kind.value for kind in RelationKind)

_SCHEMA = (
    "CREATE CONSTRAINT faultline_entity_id IF NOT EXISTS FOR (e:Entity) REQUIRE e.id IS UNIQUE",
    "CREATE INDEX faultline_entity_kind IF NOT EXISTS FOR (e:Entity) ON (e.kind)",
)

# ``SET e = row.props`` replaces every property (attrs are replaced whole, as the protocol says); labels stay.
_UPSERT_ENTITIES = """
UNWIND $rows AS row
MERGE (e:Entity {id: row.id})
SET e = row.props
"""

_MISSING_IDS = """
UNWIND $ids AS id
OPTIONAL MATCH (e:Entity {id: id})
WITH id, e WHERE e IS NULL
RETURN collect(id) AS missing
"""

# The versioning rule of ``topology.store`` for one relation kind, in one statement. Per row, against the versions
# of (src, kind, dst) already stored: a version with the same start is updated (valid_to when given, attrs merged
# with ``+=``); an open row is dropped while another open version exists; otherwise a version is created. Rows that
# would change nothing are dropped too, so re-collecting the same state writes nothing (the comparisons are
# null-safe: a null in WHERE would silently drop a row that must be written). Rows of one batch never interact
# here: ``plan_relation_writes`` has already folded repeats of a key within the batch.
_MERGE_VERSIONS = """
UNWIND $rows AS row
MATCH (a:Entity {{id: row.src}})
MATCH (b:Entity {{id: row.dst}})
WITH a, b, row, COLLECT {{ MATCH (a)-[v:{kind}]->(b) RETURN v }} AS versions
WITH a, b, row, [v IN versions WHERE v.from_key = row.from_key][0] AS same,
     any(v IN versions WHERE v.valid_to_us IS NULL) AS open_exists
WHERE CASE
        WHEN same IS NOT NULL THEN NOT (
          (row.vt IS NULL OR coalesce(same.valid_to_us = row.vt, false))
          AND all(k IN keys(row.attrs) WHERE
                  CASE WHEN row.attrs[k] IS NULL THEN same[k] IS NULL ELSE coalesce(same[k] = row.attrs[k], false) END))
        ELSE row.vt IS NOT NULL OR NOT open_exists
      END
MERGE (a)-[r:{kind} {{from_key: row.from_key}}]->(b)
ON CREATE SET r.valid_from_us = row.vf, r.valid_to_us = row.vt
ON MATCH SET r.valid_to_us = coalesce(row.vt, r.valid_to_us)
SET r += row.attrs
RETURN count(r) AS written
"""

_CLOSE = """
MATCH (a:Entity {{id: $src}})-[r:{kind}]->(b:Entity {{id: $dst}})
WHERE r.valid_to_us IS NULL
WITH r LIMIT 1
SET r.valid_to_us = $at
RETURN count(r) AS closed
"""

_GET_ENTITY = "MATCH (e:Entity {id: $id}) RETURN properties(e) AS props"
_IDS_OF_KIND = "MATCH (e:Entity) WHERE e.id STARTS WITH $prefix RETURN e.id AS id LIMIT $limit"
SUGGEST_SCAN = 20_000
"""'Did you mean' reads at most this many ids of the unknown id's kind (a fleet has more; the error stays cheap)."""

_OPEN_RELATIONS = f"""
MATCH (a:Entity)-[r:{_TYPES}]->(b:Entity)
WHERE r.valid_to_us IS NULL AND type(r) IN $kinds
RETURN a.id AS src, type(r) AS kind, b.id AS dst, properties(r) AS props
"""

_LIVE = "(r.valid_from_us IS NULL OR r.valid_from_us <= $end) AND (r.valid_to_us IS NULL OR r.valid_to_us > $start)"

_ARROWS: dict[str, tuple[str, str]] = {"down": ("-", "->"), "up": ("<-", "-"), "both": ("-", "-")}


def _subgraph_query(direction: str, hops: int) -> str:
    """The one-round-trip k-hop-at-time query; only the arrow (from a fixed table) and an int enter its text."""
    left, right = _ARROWS[direction]
    return f"""
MATCH (root:Entity {{id: $root}}){left}[rels:{_TYPES}*0..{int(hops)}]{right}(n:Entity)
WHERE all(r IN rels WHERE {_LIVE})
WITH collect(DISTINCT n) AS nodes
UNWIND nodes AS a
OPTIONAL MATCH (a)-[r:{_TYPES}]->(b:Entity)
WHERE b IN nodes AND {_LIVE}
RETURN properties(a) AS props,
       collect(CASE WHEN r IS NULL THEN null ELSE {{kind: type(r), dst: b.id, props: properties(r)}} END) AS out
"""

_COUNTS = (
    "MATCH (e:Entity) RETURN count(e) AS n",
    f"MATCH (:Entity)-[r:{_TYPES}]->(:Entity) RETURN count(r) AS n",
)


def _us(moment: datetime | None) -> int | None:
    """Exact integer microseconds since the epoch (naive = UTC, as everywhere in faultline)."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = parse_time(moment)
    return (moment - _EPOCH) // _MICROSECOND


def _from_us(value: int | None) -> datetime | None:
    return None if value is None else _EPOCH + value * _MICROSECOND


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _storable(value: object) -> bool:
    """Can Neo4j hold this as a property as is? (a scalar, or a non-empty list of one scalar type)"""
    kind = type(value)
    if kind in (str, bool, float):
        return True
    if kind is int:
        return -(2**63) <= value < 2**63  # type: ignore[operator]
    if kind in (list, tuple) and value:
        kinds = {type(item) for item in value}  # type: ignore[union-attr]
        return len(kinds) == 1 and kinds <= {str, bool, int, float} and all(_storable(i) for i in value)  # type: ignore[union-attr]
    return False


def _attr_props(attrs: dict[str, Any], *, removals: bool) -> dict[str, Any]:
    """``attrs`` as properties: ``attr.<key>`` when Neo4j can hold the value, else ``attrjson.<key>`` (JSON text).

    With ``removals`` the other spelling of each key is set to null, so ``SET r += props`` also drops a value
    stored under the other spelling when an attribute changes type.
    """
    props: dict[str, Any] = {}
    for key, value in attrs.items():
        if _storable(value):
            props[_ATTR + key] = list(value) if isinstance(value, tuple) else value
            if removals:
                props[_ATTR_JSON + key] = None
        else:
            props[_ATTR_JSON + key] = json.dumps(value, sort_keys=True, default=str)
            if removals:
                props[_ATTR + key] = None
    return props


def _attrs_from(props: dict[str, Any]) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    for key, value in props.items():
        if key.startswith(_ATTR):
            attrs[key[len(_ATTR) :]] = value
        elif key.startswith(_ATTR_JSON):
            attrs[key[len(_ATTR_JSON) :]] = json.loads(value)
    return attrs


def _entity(props: dict[str, Any]) -> Entity:
    return Entity(id=props["id"], kind=props["kind"], attrs=_attrs_from(props))


def _relation(src: str, kind: str, dst: str, props: dict[str, Any]) -> Relation:
    return Relation(
        src=src,
        kind=RelationKind(kind),
        dst=dst,
        valid_from=_from_us(props.get("valid_from_us")),
        valid_to=_from_us(props.get("valid_to_us")),
        attrs=_attrs_from(props),
    )


def _relation_row(relation: Relation) -> dict[str, Any]:
    vf = _us(relation.valid_from)
    return {
        "src": relation.src,
        "dst": relation.dst,
        "from_key": _NO_START if vf is None else vf,
        "vf": vf,
        "vt": _us(relation.valid_to),
        "attrs": _attr_props(relation.attrs, removals=True),
    }


class Neo4jStore:
    """``GraphStore`` on a Neo4j 5 database (see the module docstring for the graph layout and guarantees).

    Parameters
    ----------
    uri:
        Bolt or neo4j URI, e.g. ``bolt://127.0.0.1:7687``.
    user, password:
        Basic-auth credentials (ignored by a server with auth disabled).
    database:
        Database to use; ``neo4j`` is the default database of a community server.
    batch_size:
        Rows per write transaction.
    retry_s:
        How long the driver keeps retrying a transaction on transient failures before the call fails.
    connect_timeout_s:
        How long to wait for a connection.

    Raises
    ------
    StoreUnavailableError
        The server cannot be reached at start-up (the constraint and index are created then).
    """

    def __init__(
        self,
        uri: str,
        user: str = "neo4j",
        password: str = "",
        *,
        database: str = "neo4j",
        batch_size: int = 5000,
        retry_s: float = 10.0,
        connect_timeout_s: float = 5.0,
    ) -> None:
        self.uri = uri
        self.database = database
        self.batch_size = batch_size
        with self._translate("connecting"):
            self._driver = neo4j.GraphDatabase.driver(
                uri,
                auth=(user, password),
                max_transaction_retry_time=retry_s,
                connection_timeout=connect_timeout_s,
                connection_acquisition_timeout=2 * connect_timeout_s,
                # an empty or young graph lacks some relationship types; the server would warn on every query
                notifications_disabled_classifications=["UNRECOGNIZED"],
            )
        try:
            with self._translate("connecting"):
                self._driver.verify_connectivity()
            for statement in _SCHEMA:
                self._write(lambda tx, q=statement: tx.run(q).consume(), "creating the entity id constraint")
        except BaseException:
            self._driver.close()
            raise

    def __repr__(self) -> str:
        return f"Neo4jStore(uri={self.uri!r}, database={self.database!r})"

    # -- plumbing -------------------------------------------------------------------------------------------------
    @contextmanager
    def _translate(self, what: str) -> Iterator[None]:
        """Turn driver errors into topology errors that name the URI, database and operation."""
        where = f"Neo4j at {self.uri} (database {self.database!r})"

        def text(exc: object) -> str:  # the driver's messages span lines; errors here are one line
            return " ".join(str(exc).split())

        try:
            yield
        except (ServiceUnavailable, SessionExpired, DatabaseUnavailable) as exc:
            raise StoreUnavailableError(f"{where} unavailable while {what}: {text(exc)}") from exc
        except AuthError as exc:
            raise StoreError(f"{where} refused the credentials while {what}: {text(exc)}") from exc
        except Neo4jError as exc:
            raise StoreError(f"{where} failed while {what}: {exc.code}: {text(exc.message or exc)}") from exc
        except (DriverError, OSError, ValueError) as exc:
            raise StoreError(f"{where} failed while {what}: {text(exc)}") from exc

    def _write(self, work: Callable[[neo4j.ManagedTransaction], T], what: str) -> T:
        with self._translate(what), self._driver.session(database=self.database) as session:
            return session.execute_write(work)

    def _read(self, work: Callable[[neo4j.ManagedTransaction], T], what: str) -> T:
        with self._translate(what), self._driver.session(database=self.database) as session:
            return session.execute_read(work)

    # -- writes ---------------------------------------------------------------------------------------------------
    def upsert_entities(self, entities: Iterable[Entity]) -> int:
        rows = [{"id": e.id, "props": {"id": e.id, "kind": e.kind, **_attr_props(e.attrs, removals=False)}}
                for e in entities]
        for batch in _chunks(rows, self.batch_size):
            self._write(lambda tx, b=batch: tx.run(_UPSERT_ENTITIES, rows=list(b)).consume(), "upserting entities")
        return len(rows)

    def upsert_relations(self, relations: Iterable[Relation]) -> int:
        batch_all = list(relations)
        if not batch_all:
            return 0
        self._require_entities(batch_all)
        for batch in _chunks(batch_all, self.batch_size):
            self._write(lambda tx, b=batch: self._upsert_batch(tx, b), "upserting relations")
        return len(batch_all)

    def _require_entities(self, relations: Sequence[Relation]) -> None:
        """Raise ``UnknownEntityError`` for the first relation end the store does not hold, before any write."""
        ends = list(dict.fromkeys(end for r in relations for end in (r.src, r.dst)))
        missing: set[str] = set()
        for chunk in _chunks(ends, 50_000):
            found = self._read(
                lambda tx, c=chunk: tx.run(_MISSING_IDS, ids=list(c)).single(strict=True)["missing"],
                "checking relation ends",
            )
            missing.update(found)
        for end in ends:
            if end in missing:
                raise UnknownEntityError(end)

    @staticmethod
    def _upsert_batch(tx: neo4j.ManagedTransaction, batch: Sequence[Relation]) -> int:
        """One transaction, one ``UNWIND ... MERGE`` per relation kind; idempotent, so the driver may retry it.

        Repeats of a key inside the batch are folded first (``plan_relation_writes`` against nothing stored), so
        the statement only has to apply the rule against what the store already holds.
        """
        by_kind: dict[RelationKind, list[dict[str, Any]]] = {}
        for relation in plan_relation_writes((), batch):
            by_kind.setdefault(relation.kind, []).append(_relation_row(relation))
        written = 0
        for kind, rows in by_kind.items():
            written += tx.run(_MERGE_VERSIONS.format(kind=kind.value), rows=rows).single(strict=True)["written"]
        return written

    def close_relation(self, src: str, kind: RelationKind, dst: str, at: datetime) -> bool:
        query = _CLOSE.format(kind=RelationKind(kind).value)
        closed = self._write(
            lambda tx: tx.run(query, src=src, dst=dst, at=_us(at)).single(strict=True)["closed"],
            "closing a relation",
        )
        return bool(closed)

    # -- reads ----------------------------------------------------------------------------------------------------
    def get_entity(self, entity_id: str) -> Entity:
        record = self._read(lambda tx: tx.run(_GET_ENTITY, id=entity_id).single(), "reading an entity")
        if record is None:
            raise UnknownEntityError(entity_id, lambda: self._closest(entity_id))
        return _entity(record["props"])

    def _closest(self, entity_id: str) -> tuple[str, ...]:
        """Ids of the same kind closest to an unknown one; none if even that read fails (the error is the news)."""
        prefix = entity_id.partition(":")[0] + ":"
        try:
            ids = self._read(lambda tx: [r["id"] for r in tx.run(_IDS_OF_KIND, prefix=prefix, limit=SUGGEST_SCAN)],
                             "reading ids for suggestions")
        except Exception:  # noqa: BLE001 - best effort (the driver may be closed by now): the unknown id is the news
            return ()
        return closest_ids(entity_id, ids)

    def open_relations(self, kinds: Iterable[RelationKind] | None = None) -> list[Relation]:
        wanted = [RelationKind(k).value for k in (kinds if kinds is not None else RelationKind)]

        def work(tx: neo4j.ManagedTransaction) -> list[Relation]:
            return [
                _relation(rec["src"], rec["kind"], rec["dst"], rec["props"])
                for rec in tx.run(_OPEN_RELATIONS, kinds=wanted)
            ]

        return self._read(work, "reading open relations")

    def subgraph(
        self,
        root: str,
        *,
        hops: int,
        at: datetime,
        since: datetime | None = None,
        direction: Direction = "down",
    ) -> Subgraph:
        if direction not in _ARROWS:
            raise ValueError(f"direction must be one of {sorted(_ARROWS)}, got {direction!r}")
        query = _subgraph_query(direction, max(int(hops), 0))
        end = _us(at)
        start = _us(since) if since is not None else end

        def work(tx: neo4j.ManagedTransaction) -> list[neo4j.Record]:
            return list(tx.run(query, root=root, start=start, end=end))

        records = self._read(work, f"reading the subgraph around {root!r}")
        if not records:
            raise UnknownEntityError(root, lambda: self._closest(root))
        entities = tuple(
            sorted(
                (_entity(rec["props"]) for rec in records),
                key=lambda e: e.id,
            )
        )
        relations = tuple(
            _relation(rec["props"]["id"], out["kind"], out["dst"], out["props"])
            for rec in records
            for out in rec["out"]
        )
        return Subgraph(root=root, entities=entities, relations=relations)

    def counts(self) -> tuple[int, int]:
        def work(tx: neo4j.ManagedTransaction) -> tuple[int, int]:
            entities, relations = (tx.run(q).single(strict=True)["n"] for q in _COUNTS)
            return int(entities), int(relations)

        return self._read(work, "counting")

    def close(self) -> None:
        self._driver.close()


__all__ = ["Neo4jStore"]
