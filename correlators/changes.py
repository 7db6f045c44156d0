"""Changes that the topology itself records: a pod whose ``RUNS`` image was replaced is an image swap even when no
deploy tool reported it, and a pod moved to another node is a reschedule.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from topology.models import Relation, RelationKind

from .models import Change

SWAP_TOLERANCE = timedelta(seconds=120)
"""How far apart the close of the old edge and the open of the new one may be and still be one swap."""

_REPLACEABLE = {RelationKind.RUNS: "image_swap", RelationKind.SCHEDULED_ON: "reschedule"}


def changes_from_relations(relations: Iterable[Relation], start: datetime, end: datetime) -> list[Change]:
    """Replacement pairs (an edge closed and a sibling of the same kind opened) inside ``[start, end]``."""
    relations = list(relations)
    built_from = {r.src: r.dst for r in relations if r.kind == RelationKind.BUILT_FROM}
    by_source: dict[tuple[str, RelationKind], list[Relation]] = defaultdict(list)
    for relation in relations:
        if relation.kind in _REPLACEABLE:
            by_source[(relation.src, relation.kind)].append(relation)
    changes: list[Change] = []
    for (src, kind), versions in by_source.items():
        for old in versions:
            if old.valid_to is None or not (start <= old.valid_to <= end):
                continue
            for new in versions:
                if new is old or new.dst == old.dst or new.valid_from is None:
                    continue
                if abs(new.valid_from - old.valid_to) <= SWAP_TOLERANCE:
                    changes.append(
                        Change(
                            entity=src, kind=_REPLACEABLE[kind], at=new.valid_from, before=old.dst, after=new.dst,
                            commit=built_from.get(new.dst) if kind == RelationKind.RUNS else None, source="topology",
                        )
                    )
    return changes


def merge_changes(reported: Sequence[Change], derived: Sequence[Change], relations: Iterable[Relation]) -> list[Change]:
    """Reported changes win; a derived one is kept only when nothing reported covers it. Missing commits are filled
    from ``BUILT_FROM`` so a rollout record without a commit still leads to the commit."""
    built_from = {r.src: r.dst for r in relations if r.kind == RelationKind.BUILT_FROM}
    merged: list[Change] = []
    for change in reported:
        if change.commit is None and change.after in built_from:
            change = change.model_copy(update={"commit": built_from[change.after]})
        merged.append(change)
    for change in derived:
        covered = any(
            r.entity == change.entity and abs(r.at - change.at) <= SWAP_TOLERANCE and r.kind in ("image_swap", "rollout", change.kind)
            for r in reported
        )
        if not covered:
            merged.append(change)
    return sorted(merged, key=lambda c: c.at)
