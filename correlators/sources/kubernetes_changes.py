"""Kubernetes → ``Change``s: rollouts (ReplicaSet revisions), image swaps, container restarts.

A Deployment keeps its old ReplicaSets (``revisionHistoryLimit``), each annotated with
``deployment.kubernetes.io/revision``: consecutive revisions are the rollout history, the creation time of the new
ReplicaSet is when the rollout started, and the two pod templates say what changed. A revision whose images differ
is a ``rollout`` with ``before``/``after`` images; one with the same images is a ``config_change``. The change is
put on the first pod of the new ReplicaSet (like an image swap on a pod), the workload it serves in ``attrs``.

The ``after`` image is named like the topology names it (``image:sha256:…`` when a pod of the new ReplicaSet reports
its digest), so the change credits the very image entity that ``BUILT_FROM`` leads to a commit;
``attach_commits`` fills ``commit`` and the commit's author and message from the store.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence

from topology.exceptions import UnknownEntityError
from topology.kube import ClusterSnapshot, KubeReplicaSet, image_entity_id
from topology.models import RelationKind
from topology.store import GraphStore

from ..models import Change

log = logging.getLogger(__name__)

SOURCE = "kubernetes"


def _image_of(rs: KubeReplicaSet, snapshot: ClusterSnapshot) -> tuple[str | None, str | None]:
    """(entity id, reference) of the ReplicaSet's first container image, by digest when one of its pods runs it."""
    if not rs.images:
        return None, None
    container, reference = rs.images[0]
    for pod in snapshot.pods:
        if pod.namespace == rs.namespace and pod.owner_kind == "ReplicaSet" and pod.owner_name == rs.name:
            for c in pod.containers:
                if c.name == container and c.image_id and c.image == reference:
                    return image_entity_id(reference, c.image_id), reference
    return image_entity_id(reference), reference


def rollout_changes(snapshot: ClusterSnapshot, workloads: Mapping[str, str]) -> list[Change]:
    by_deployment: dict[tuple[str, str], list[KubeReplicaSet]] = defaultdict(list)
    for rs in snapshot.replicasets:
        if rs.owner_kind == "Deployment" and rs.owner_name and rs.revision is not None and rs.created_at:
            by_deployment[(rs.namespace, rs.owner_name)].append(rs)
    changes: list[Change] = []
    for (namespace, deployment), history in by_deployment.items():
        history.sort(key=lambda r: r.revision or 0)
        workload = workloads.get(f"{namespace}/{deployment}") or f"deployment:{namespace}/{deployment}"
        for old, new in zip(history, history[1:]):
            # The change sits on what changed: the new ReplicaSet's pod (the workload only depends on it), so the
            # workload's own anomalies are explained by it instead of being mistaken for the change.
            pods = sorted(p.id for p in snapshot.pods
                          if p.namespace == namespace and p.owner_kind == "ReplicaSet" and p.owner_name == new.name)
            entity = pods[0] if pods else workload
            before, before_ref = _image_of(old, snapshot)
            after, after_ref = _image_of(new, snapshot)
            images_changed = old.images != new.images
            changes.append(Change(
                entity=entity, kind="rollout" if images_changed else "config_change", at=new.created_at,
                before=before if images_changed else None, after=after if images_changed else None,
                attrs={
                    "deployment": f"{namespace}/{deployment}", "workload": workload, "pods": pods,
                    "revision": new.revision,
                    "previous_revision": old.revision, "replicaset": new.name,
                    "image_before": before_ref, "image_after": after_ref,
                    **({"change_cause": new.annotations["kubernetes.io/change-cause"]}
                       if "kubernetes.io/change-cause" in new.annotations else {}),
                },
                source=SOURCE,
            ))
    return changes


def restart_changes(snapshot: ClusterSnapshot) -> list[Change]:
    """A container restart is a change to the pod (the process state was reset), at its last termination."""
    changes = []
    for pod in snapshot.pods:
        for c in pod.containers:
            if c.restart_count > 0 and c.last_terminated_at is not None:
                changes.append(Change(
                    entity=pod.id, kind="restart", at=c.last_terminated_at,
                    attrs={"container": c.name, "restart_count": c.restart_count,
                           "reason": c.last_terminated_reason, "exit_code": c.last_exit_code},
                    source=SOURCE,
                ))
    return changes


def changes_from_snapshot(snapshot: ClusterSnapshot, workloads: Mapping[str, str] | None = None) -> list[Change]:
    """Rollouts, config changes and restarts the snapshot shows, oldest first."""
    workloads = workloads or {}
    changes = rollout_changes(snapshot, workloads) + restart_changes(snapshot)
    changes.sort(key=lambda c: c.at)
    log.info("kubernetes changes: %d (%d rollouts/config changes, %d restarts)", len(changes),
             sum(c.kind != "restart" for c in changes), sum(c.kind == "restart" for c in changes))
    return changes


def attach_commits(changes: Sequence[Change], store: GraphStore) -> list[Change]:
    """Fill ``commit`` (and its author/message) of changes whose ``after`` image is ``BUILT_FROM`` a known commit."""
    built_from = {r.src: r.dst for r in store.open_relations([RelationKind.BUILT_FROM])}
    out = []
    for change in changes:
        commit = change.commit or (built_from.get(change.after) if change.after else None)
        if commit is None:
            out.append(change)
            continue
        attrs = dict(change.attrs)
        try:
            facts = store.get_entity(commit).attrs
        except UnknownEntityError:
            facts = {}
        for key in ("author", "message", "files_changed", "diff_size"):
            if key in facts and key not in attrs:
                attrs[key] = facts[key]
        out.append(change.model_copy(update={"commit": commit, "attrs": attrs}))
    return out
