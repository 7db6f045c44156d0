"""Kubernetes events and container states → ``Event``s; restart counts → a ``restarts`` series.

Two views of one truth, both kept: the Event API says *when* the kubelet reported ``BackOff`` or ``Unhealthy``
(events expire after an hour by default), container statuses say *what is the case now* (``OOMKilled`` as the last
termination, ``CrashLoopBackOff`` as the waiting reason) and survive event expiry.

Entities: events on a Pod name ``pod:<ns>/<name>``, on a Node ``node:<name>``; events on a Deployment or ReplicaSet
go to the Deployment's workload entity when the snapshot maps one. Other objects are ignored (debug-logged).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from topology.kube import ClusterSnapshot

from ..models import Event
from .samples import Samples

log = logging.getLogger(__name__)

EVENT_REASONS = frozenset({
    "OOMKilled", "OOMKilling", "CrashLoopBackOff", "BackOff", "FailedScheduling", "Unhealthy", "Killing", "Evicted",
    "Failed", "FailedMount", "FailedCreatePodSandBox", "NodeNotReady", "Preempting", "ErrImagePull",
    "ImagePullBackOff", "SystemOOM", "FailedKillPod", "NetworkNotReady",
})
WAITING_REASONS = frozenset({"CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "CreateContainerConfigError",
                             "CreateContainerError", "RunContainerError"})
TERMINATION_REASONS = frozenset({"OOMKilled", "Error", "ContainerCannotRun", "DeadlineExceeded"})


def events_from_snapshot(
    snapshot: ClusterSnapshot, workloads: Mapping[str, str] | None = None, *, all_warnings: bool = True
) -> list[Event]:
    """Events worth scoring: the listed reasons, plus any ``Warning`` event when ``all_warnings``.

    ``workloads`` maps ``<ns>/<deployment>`` to the workload entity (``topology.collectors.workloads``).
    """
    workloads = workloads or {}
    rs_owner = {(r.namespace, r.name): r.owner_name for r in snapshot.replicasets if r.owner_name}
    found: dict[tuple[str, str, str], Event] = {}

    def add(event: Event) -> None:
        found.setdefault((event.entity, event.reason, event.at.isoformat()), event)

    for item in snapshot.events:
        if item.reason not in EVENT_REASONS and not (all_warnings and item.type == "Warning"):
            continue
        entity = None
        if item.involved_kind == "Pod":
            entity = f"pod:{item.namespace}/{item.involved_name}"
        elif item.involved_kind == "Node":
            entity = f"node:{item.involved_name}"
        elif item.involved_kind == "Deployment":
            entity = workloads.get(f"{item.namespace}/{item.involved_name}")
        elif item.involved_kind == "ReplicaSet":
            owner = rs_owner.get((item.namespace, item.involved_name))
            entity = workloads.get(f"{item.namespace}/{owner}") if owner else None
        when = item.last_at or item.first_at
        if entity is None or when is None:
            log.debug("kubernetes events: %s on %s/%s not mapped to an entity", item.reason, item.involved_kind,
                      item.involved_name)
            continue
        # The first occurrence is the onset that matters; a repeated event keeps its first time too.
        add(Event(entity=entity, reason=item.reason, at=item.first_at or when,
                  message=f"{item.message} (x{item.count})" if item.count > 1 else item.message))

    for pod in snapshot.pods:
        if pod.reason == "Evicted":
            add(Event(entity=pod.id, reason="Evicted", at=pod.start_time or snapshot.taken_at,
                      message="pod evicted"))
        for c in pod.containers:
            if c.last_terminated_reason in TERMINATION_REASONS and c.last_terminated_at is not None:
                add(Event(entity=pod.id, reason=c.last_terminated_reason, at=c.last_terminated_at,
                          message=f"container {c.name} terminated ({c.last_terminated_reason}, exit code "
                                  f"{c.last_exit_code}), restarts {c.restart_count}"))
            if c.waiting_reason in WAITING_REASONS:
                add(Event(entity=pod.id, reason=c.waiting_reason, at=c.last_terminated_at or snapshot.taken_at,
                          message=f"container {c.name} waiting: {c.waiting_message or c.waiting_reason}"))
    events = sorted(found.values(), key=lambda e: (e.at, e.entity, e.reason))
    log.info("kubernetes events: %d events from %d API events and %d pods", len(events), len(snapshot.events),
             len(snapshot.pods))
    return events


def restart_samples(snapshot: ClusterSnapshot) -> Samples:
    """One ``restarts`` sample per pod at the snapshot time (container restart counts summed).

    Collected on an interval (``faultline collect --watch``) these become the ``restarts`` series.
    """
    pods = [p for p in snapshot.pods if p.containers]
    if not pods:
        return Samples.empty()
    import numpy as np

    at = snapshot.taken_at.timestamp()
    return Samples(
        np.full(len(pods), at), np.array([p.id for p in pods], dtype=object),
        np.full(len(pods), "restarts", dtype=object),
        np.array([float(sum(c.restart_count for c in p.containers)) for p in pods]),
    )
