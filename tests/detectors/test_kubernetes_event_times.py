"""Kubernetes events carry the right times: a repeating BackOff is seen by a window its later occurrences reach, an
eviction is dated when it happened (not when the pod started), and a window never sees the future."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from kubernetes import client

from api.services.backend import window_events
from detectors.models import Event
from detectors.sources import events_from_snapshot
from tests.servers.kube_objects import KubeWriter
from topology.kube import ClusterSnapshot, KubeContainer, KubeEvent, KubePod, read_cluster

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=timezone.utc)


def _pod(name: str, **kw) -> KubePod:
    return KubePod(namespace="prod", name=name, start_time=T0 - timedelta(days=3), **kw)


def test_repeating_event_keeps_first_and_last_occurrence() -> None:
    snapshot = ClusterSnapshot(taken_at=T0 + timedelta(hours=1), events=(
        KubeEvent(namespace="prod", involved_kind="Pod", involved_name="rag-1", reason="BackOff", type="Warning",
                  message="Back-off restarting failed container", count=12, first_at=T0,
                  last_at=T0 + timedelta(minutes=50)),
    ))
    (event,) = events_from_snapshot(snapshot)
    assert (event.at, event.last_at) == (T0, T0 + timedelta(minutes=50))
    assert "x12" in event.message


def test_evictions_are_dated_by_what_the_api_says_not_by_the_pod_start() -> None:
    evicted_at = T0 + timedelta(minutes=40)
    snapshot = ClusterSnapshot(taken_at=T0 + timedelta(hours=1), pods=(
        _pod("a", reason="Evicted", phase="Failed", disrupted_at=evicted_at),
        _pod("b", reason="Evicted", phase="Failed", containers=(
            KubeContainer(name="c", image="x", terminated_reason="Error", terminated_at=evicted_at),)),
        _pod("c", reason="Evicted", phase="Failed"),
        _pod("d", reason="Evicted", phase="Failed"),
    ), events=(
        KubeEvent(namespace="prod", involved_kind="Pod", involved_name="c", reason="Evicted", type="Warning",
                  message="The node was low on resource: memory.", first_at=evicted_at, last_at=evicted_at),
    ))
    by_pod = {e.entity: e for e in events_from_snapshot(snapshot) if e.reason == "Evicted"}
    assert by_pod["pod:prod/a"].at == evicted_at and "DisruptionTarget" in by_pod["pod:prod/a"].message
    assert by_pod["pod:prod/b"].at == evicted_at and "terminated" in by_pod["pod:prod/b"].message
    assert by_pod["pod:prod/c"].at == evicted_at
    assert by_pod["pod:prod/d"].at == snapshot.taken_at and "time unknown" in by_pod["pod:prod/d"].message


def test_window_sees_a_recurring_event_clamped_to_its_start_and_nothing_after_its_end() -> None:
    start, end = T0 + timedelta(minutes=30), T0 + timedelta(minutes=60)
    since = start - timedelta(hours=25)
    events = [
        Event(entity="pod:prod/rag-1", reason="BackOff", at=T0, last_at=T0 + timedelta(minutes=50)),
        Event(entity="pod:prod/rag-1", reason="OOMKilled", at=T0 + timedelta(minutes=10)),  # before: kept as is
        Event(entity="pod:prod/x", reason="BackOff", at=T0 - timedelta(days=3), last_at=T0 - timedelta(days=2)),
        Event(entity="pod:prod/y", reason="Evicted", at=end + timedelta(seconds=1)),  # the future
    ]
    seen = window_events(events, since, start, end)
    assert [(e.reason, e.at) for e in seen] == [("BackOff", start), ("OOMKilled", T0 + timedelta(minutes=10))]


@pytest.mark.integration
def test_times_read_from_a_real_api_server(kube_cluster, kube_namespace) -> None:
    first = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=45)
    last = first + timedelta(minutes=40)
    evicted_at = first + timedelta(minutes=30)
    with kube_cluster.api_client() as api:
        kube = KubeWriter(api, kube_namespace)
        kube.node("node-evt", gpus=0)
        kube.deployment("rag", labels={"app": "rag"}, image="registry.local/rag:3")
        rs = kube.replicaset("rag", revision=1, image="registry.local/rag:3", labels={"app": "rag"})
        kube.pod("rag-0", replicaset=rs, node="node-evt", image="registry.local/rag:3", labels={"app": "rag"},
                 started=first - timedelta(days=2))
        kube.core.patch_namespaced_pod_status("rag-0", kube_namespace, {"status": {
            "phase": "Failed", "reason": "Evicted", "message": "The node was low on resource: memory.",
            "conditions": [{"type": "DisruptionTarget", "status": "True", "reason": "TerminationByKubelet",
                            "lastTransitionTime": evicted_at.strftime("%Y-%m-%dT%H:%M:%SZ")},
                           {"type": "Ready", "status": "False",
                            "lastTransitionTime": (evicted_at + timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%SZ")}],
        }})
        kube.core.create_namespaced_event(kube_namespace, client.CoreV1Event(
            metadata=client.V1ObjectMeta(generate_name="rag-0.", namespace=kube_namespace),
            involved_object=client.V1ObjectReference(kind="Pod", name="rag-0", namespace=kube_namespace),
            reason="BackOff", message="Back-off restarting failed container", type="Warning", count=9,
            first_timestamp=first, last_timestamp=last, source=client.V1EventSource(component="kubelet")))
        snapshot = read_cluster(api, namespaces=[kube_namespace])
    events = {e.reason: e for e in events_from_snapshot(snapshot)}
    assert (events["BackOff"].at, events["BackOff"].last_at) == (first, last)
    assert events["Evicted"].at == evicted_at, "the eviction, not the pod's start two days earlier"
