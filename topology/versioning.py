"""The relation versioning rule of ``topology.store`` as one pure function, for backends that cannot apply it in place.

Why it exists: ``MemoryStore`` applies the rule edge by edge on its own graph, but a remote store (Neo4j) sends a
whole batch as one ``UNWIND`` statement, whose rows cannot see each other's writes. ``Neo4jStore`` therefore folds
repeats of a key inside a batch here first (``existing=()``), and its statement applies the rule against what is
stored. Being pure (no I/O), the rule is unit-tested directly and a retried transaction function stays idempotent.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from .models import Relation

RelationKey = tuple[str, str, str]
"""``(src, kind, dst)``: a relation regardless of its validity interval."""


def plan_relation_writes(existing: Iterable[Relation], batch: Sequence[Relation]) -> list[Relation]:
    """The relation versions to write so that the store holds ``existing`` with ``batch`` applied in order.

    Parameters
    ----------
    existing:
        Every stored version of every key that ``batch`` touches (others may be included; they are ignored).
    batch:
        Relations to upsert, applied one after another (a key may appear several times).

    Returns
    -------
    list[Relation]
        The final state of each version that is new or changed, at most one per ``(key, valid_from)``, in first-touch
        order. Versions whose final state equals what is stored are left out, so re-collecting the same state
        writes nothing.

    Notes
    -----
    The rule (``topology.store``): a version with the same ``valid_from`` is updated (``valid_to`` when the new one
    gives it, attrs merged); an open relation is a no-op while an open version of its key exists; otherwise a new
    version is added.
    """
    existing = list(existing)
    if not existing and len({relation.key for relation in batch}) == len(batch):
        return list(batch)  # the common case (a collection, a first load): nothing to fold, nothing stored
    versions: dict[RelationKey, dict[datetime | None, Relation]] = {}
    for relation in existing:
        versions.setdefault(relation.key, {})[relation.valid_from] = relation
    stored = {(key, start): rel for key, by_start in versions.items() for start, rel in by_start.items()}
    touched: dict[tuple[RelationKey, datetime | None], None] = {}
    for relation in batch:
        by_start = versions.setdefault(relation.key, {})
        old = by_start.get(relation.valid_from)
        if old is not None:
            by_start[relation.valid_from] = old.model_copy(
                update={
                    "valid_to": relation.valid_to if relation.valid_to is not None else old.valid_to,
                    "attrs": {**old.attrs, **relation.attrs},
                }
            )
        elif relation.valid_to is None and any(v.valid_to is None for v in by_start.values()):
            continue  # open since earlier: re-collecting the same state changes nothing
        else:
            by_start[relation.valid_from] = relation
        touched[(relation.key, relation.valid_from)] = None
    writes = []
    for key, start in touched:
        final = versions[key][start]
        if stored.get((key, start)) != final:
            writes.append(final)
    return writes
