"""Kubernetes events and container states → ``Event``s; restart counts → a ``restarts`` series.

Two views of one truth, both kept: the Event API says *when* the kubelet reported ``BackOff`` or ``Unhealthy``
(events expire after an hour by default), container statuses say *what is the case now* (``OOMKilled`` as the last
termination, ``CrashLoopBackOff`` as the waiting reason) and survive event expiry.

Entities: events on a Pod name ``pod:<ns>/<name>``, on a Node ``node:<name>``; events on a Deployment or ReplicaSet
go to the Deployment's workload entity when the snapshot maps one. Other objects are ignored (debug-logged).

Times: a repeating event (a ``BackOff`` every few minutes, counted by the API server) is one ``Event`` at its first
occurrence with ``last_at`` its last one, so an analysis window that only its later occurrences reach still sees it
(the live backend places it at the window's start then). An eviction is dated by the pod's
``DisruptionTarget`` condition, else its containers' termination, else the ``Evicted`` API event, else when the pod
turned not-ready — never by when the pod started.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime

from topology.kube import ClusterSnapshot, KubePod

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
        first = item.first_at or item.last_at
        last = item.last_at or first
        if entity is None or first is None or last is None:
            log.debug("kubernetes events: %s on %s/%s not mapped to an entity", item.reason, item.involved_kind,
                      item.involved_name)
            continue
        repeated = item.count > 1 or last > first
        add(Event(entity=entity, reason=item.reason, at=first, last_at=last if repeated else None,
                  message=f"{item.message} (x{item.count}, last at {last.isoformat()})" if repeated else item.message))

    evicted_events = {(e.namespace, e.involved_name): e.first_at or e.last_at for e in snapshot.events
                      if e.involved_kind == "Pod" and e.reason == "Evicted"}
    for pod in snapshot.pods:
        if pod.reason == "Evicted":
            when, how = eviction_time(pod, evicted_events.get((pod.namespace, pod.name)))
            add(Event(entity=pod.id, reason="Evicted", at=when or snapshot.taken_at,
                      message=f"pod evicted ({how})" if when else "pod evicted (time unknown; seen at collection)"))
        for c in pod.containers:
            if c.last_terminated_reason in TERMINATION_REASONS and c.last_terminated_at is not None:
                add(Event(entity=pod.id, reason=c.last_terminated_reason, at=c.last_terminated_at,
                          message=f"container {c.name} terminated ({c.last_terminated_reason}, exit code "
                                  f"{c.last_exit_code}), restarts {c.restart_count}"))
            if c.waiting_reason in WAITING_REASONS:  # still waiting at the snapshot: it lasts until then
                since = c.last_terminated_at or snapshot.taken_at
                add(Event(entity=pod.id, reason=c.waiting_reason, at=since,
                          last_at=snapshot.taken_at if snapshot.taken_at > since else None,
                          message=f"container {c.name} waiting: {c.waiting_message or c.waiting_reason}"))
    events = sorted(found.values(), key=lambda e: (e.at, e.entity, e.reason))
    log.info("kubernetes events: %d events from %d API events and %d pods", len(events), len(snapshot.events),
             len(snapshot.pods))
    return events


def eviction_time(pod: KubePod, api_event_at: datetime | None = None) -> tuple[datetime | None, str]:
    """When ``pod`` was evicted and from what: the ``DisruptionTarget`` condition, its containers' termination, the
    ``Evicted`` API event, or when it turned not-ready; ``(None, ...)`` when none of them says."""
    if pod.disrupted_at is not None:
        return pod.disrupted_at, "DisruptionTarget condition"
    ended = [c.terminated_at for c in pod.containers if c.terminated_at is not None]
    if ended:
        return max(ended), "containers terminated"
    if api_event_at is not None:
        return api_event_at, "Evicted event"
    if pod.not_ready_at is not None:
        return pod.not_ready_at, "turned not ready"
    return None, "unknown"


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
