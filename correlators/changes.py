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


def rollouts_from_relations(relations: Iterable[Relation], start: datetime, end: datetime) -> list[Change]:
    """Rollouts that replaced pods: a service whose new pods (``RUNS_ON`` opened inside ``[start, end]``) run an
    image none of its earlier pods ran. That is how a Deployment rollout looks in the topology — new ReplicaSet pods
    with new names — and it is a change even when no deploy tool reported it."""
    relations = list(relations)
    built_from = {r.src: r.dst for r in relations if r.kind == RelationKind.BUILT_FROM}
    images: dict[str, list[Relation]] = defaultdict(list)
    for r in relations:
        if r.kind == RelationKind.RUNS:
            images[r.src].append(r)
    by_service: dict[str, list[Relation]] = defaultdict(list)
    for r in relations:
        if r.kind == RelationKind.RUNS_ON:
            by_service[r.src].append(r)
    changes: list[Change] = []
    for service, runs_on in by_service.items():
        new = [r for r in runs_on if r.valid_from is not None and start <= r.valid_from <= end]
        old = [r for r in runs_on if r.valid_from is None or r.valid_from < start]
        if not new or not old:
            continue
        old_images = {i.dst for r in old for i in images.get(r.dst, ())}
        new_images: dict[str, datetime] = {}
        for r in new:
            for i in images.get(r.dst, ()):
                if i.dst not in old_images:
                    new_images[i.dst] = min(new_images.get(i.dst, r.valid_from), r.valid_from)  # type: ignore[type-var]
        for image, at in new_images.items():
            before = sorted(old_images)[0] if len(old_images) == 1 else None
            changes.append(Change(entity=service, kind="rollout", at=at, before=before, after=image,
                                  commit=built_from.get(image), source="topology"))
    return changes


ROLLOUT_MATCH = timedelta(minutes=10)
"""A reported rollout without images takes them from a topology-derived rollout of the same entity this close."""


def merge_changes(reported: Sequence[Change], derived: Sequence[Change], relations: Iterable[Relation]) -> list[Change]:
    """Reported changes win; a derived one is kept only when nothing reported covers it. Missing commits are filled
    from ``BUILT_FROM`` so a rollout record without a commit still leads to the commit."""
    built_from = {r.src: r.dst for r in relations if r.kind == RelationKind.BUILT_FROM}
    merged: list[Change] = []
    derived_rollouts = [d for d in derived if d.kind == "rollout" and d.after]
    for change in reported:
        if change.after is None and change.kind in ("rollout", "deploy", "release", "upgrade"):
            match = min(
                (d for d in derived_rollouts if d.entity == change.entity and abs(d.at - change.at) <= ROLLOUT_MATCH),
                key=lambda d: abs(d.at - change.at), default=None,
            )
            if match is not None:
                change = change.model_copy(update={"before": change.before or match.before, "after": match.after,
                                                   "commit": change.commit or match.commit})
        if change.after is None and isinstance(change.attrs.get("image"), str):
            change = change.model_copy(update={"after": change.attrs["image"],
                                               "commit": change.commit or change.attrs.get("commit")})
        if change.commit is None and change.after in built_from:
            change = change.model_copy(update={"commit": built_from[change.after]})
        merged.append(change)
    for change in derived:
        tolerance = ROLLOUT_MATCH if change.kind == "rollout" else SWAP_TOLERANCE
        covered = any(
            r.entity == change.entity and abs(r.at - change.at) <= tolerance and r.kind in ("image_swap", "rollout", change.kind)
            for r in reported
        )
        if not covered:
            merged.append(change)
    return sorted(merged, key=lambda c: c.at)
