"""The Kubernetes collector against a real kube-apiserver (etcd-backed), then the same snapshot through the
detectors' event source and the correlators' change source."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from correlators.sources import changes_from_snapshot
from detectors.sources import events_from_snapshot, restart_samples
from tests.servers.kube_objects import KubeWriter, digest_of
from topology import MemoryStore
from topology.collectors import collect_kubernetes, image_hints, workloads
from topology.kube import read_cluster

pytestmark = pytest.mark.integration

LLM_LABELS = {"app.kubernetes.io/name": "vllm"}
LLM_ANNOTATIONS = {"faultline.io/entity": "llm:deepseek-r1"}


@pytest.fixture
def world(kube_cluster, kube_namespace):
    """Node with 4 GPUs, a vLLM Deployment rolled from v1 to v2, one crash-looping RAG pod, events."""
    suffix = uuid.uuid4().hex[:6]
    node = f"gpu-node-{suffix}"
    with kube_cluster.api_client() as api:
        kube = KubeWriter(api, kube_namespace)
        kube.node(node, gpus=4, product="NVIDIA-H100-80GB-HBM3")
        kube.deployment("vllm", labels=LLM_LABELS, annotations=LLM_ANNOTATIONS, image="registry.local/vllm:v1", gpus=2)
        rs1 = kube.replicaset("vllm", revision=1, image="registry.local/vllm:v1", labels=LLM_LABELS,
                              annotations=LLM_ANNOTATIONS, gpus=2)
        started = datetime.now(timezone.utc) - timedelta(minutes=30)
        kube.pod("vllm-old", replicaset=rs1, node=node, image="registry.local/vllm:v1", labels=LLM_LABELS,
                 annotations=LLM_ANNOTATIONS, gpus=2, started=started)
        kube.deployment("rag", labels={"app": "rag"}, image="registry.local/rag:3")
        rag_rs = kube.replicaset("rag", revision=1, image="registry.local/rag:3", labels={"app": "rag"})
        oom_at = datetime.now(timezone.utc) - timedelta(minutes=2)
        kube.pod("rag-1", replicaset=rag_rs, node=node, image="registry.local/rag:3", labels={"app": "rag"},
                 started=started, restarts=3, last_termination=("OOMKilled", 137, oom_at), waiting="CrashLoopBackOff")
        kube.event(kind="Pod", name="rag-1", reason="BackOff", message="Back-off restarting failed container",
                   at=oom_at + timedelta(seconds=20), count=4)
        kube.event(kind="Pod", name="vllm-old", reason="Unhealthy", message="Readiness probe failed: 503",
                   at=oom_at, count=2)
        yield kube_cluster, kube, node, rs1


def test_collects_pods_nodes_gpus_images_and_workloads(world, kube_namespace):
    cluster, kube, node, _ = world
    store = MemoryStore()
    with cluster.api_client() as api:
        snapshot = read_cluster(api, namespaces=[kube_namespace])
    assert snapshot.problems == ()
    result = collect_kubernetes(snapshot, store)
    pod = f"pod:{kube_namespace}/vllm-old"
    image = f"image:{digest_of('registry.local/vllm:v1')}"
    assert store.get_entity(pod).attrs["node"] == node
    assert store.get_entity(f"node:{node}").attrs["gpu_product"] == "NVIDIA-H100-80GB-HBM3"
    assert store.get_entity(image).attrs["reference"] == "registry.local/vllm:v1"
    open_edges = {r.key for r in store.open_relations()}
    assert (pod, "RUNS", image) in open_edges
    assert (pod, "SCHEDULED_ON", f"node:{node}") in open_edges
    assert ("llm:deepseek-r1", "RUNS_ON", pod) in open_edges
    assert ("app:rag", "RUNS_ON", f"pod:{kube_namespace}/rag-1") in open_edges
    assert {(pod, "USES", f"gpu:{node}/0"), (pod, "USES", f"gpu:{node}/1")} <= open_edges
    assert all((f"gpu:{node}/{i}", "ATTACHED_TO", f"node:{node}") in open_edges for i in range(4))
    assert result.closed == 0

    # Idempotent: the same cluster collected again writes no new relation version.
    before = store.counts()
    with cluster.api_client() as api:
        again = collect_kubernetes(read_cluster(api, namespaces=[kube_namespace]), store)
    assert store.counts() == before
    assert again.closed == 0
    # All namespaces (the default): our pods are among everything the cluster holds.
    with cluster.api_client() as api:
        everywhere = read_cluster(api)
    assert everywhere.problems == () and everywhere.namespaces is None
    assert {f"{kube_namespace}/vllm-old", f"{kube_namespace}/rag-1"} <= {f"{p.namespace}/{p.name}" for p in everywhere.pods}


def test_rollout_closes_old_relations_and_becomes_a_change(world, kube_namespace):
    cluster, kube, node, rs1 = world
    store = MemoryStore()
    with cluster.api_client() as api:
        collect_kubernetes(read_cluster(api, namespaces=[kube_namespace]), store)
        rs2 = kube.replicaset("vllm", revision=2, image="registry.local/vllm:v2", labels=LLM_LABELS,
                              annotations=LLM_ANNOTATIONS, gpus=2)
        kube.scale_replicaset(rs1, 0)
        kube.delete_pod("vllm-old")
        kube.pod("vllm-new", replicaset=rs2, node=node, image="registry.local/vllm:v2", labels=LLM_LABELS,
                 annotations={**LLM_ANNOTATIONS, "org.opencontainers.image.revision": "abc123"}, gpus=2)
        snapshot = read_cluster(api, namespaces=[kube_namespace])
    result = collect_kubernetes(snapshot, store)
    old, new = f"pod:{kube_namespace}/vllm-old", f"pod:{kube_namespace}/vllm-new"
    open_edges = {r.key for r in store.open_relations()}
    assert ("llm:deepseek-r1", "RUNS_ON", new) in open_edges
    assert ("llm:deepseek-r1", "RUNS_ON", old) not in open_edges
    assert result.closed >= 4  # RUNS_ON, RUNS, SCHEDULED_ON, 2x USES of the old pod
    # The old edge is kept, closed: the graph as it was before the rollout can still be read.
    past = store.subgraph("llm:deepseek-r1", hops=1, at=snapshot.taken_at - timedelta(milliseconds=1))
    assert old in past.entity_ids()
    new_image = f"image:{digest_of('registry.local/vllm:v2')}"
    assert image_hints(snapshot)[new_image]["revision"] == "abc123"

    changes = changes_from_snapshot(snapshot, workloads(snapshot))
    rollout = [c for c in changes if c.kind == "rollout"]
    assert len(rollout) == 1
    assert rollout[0].entity == new and rollout[0].attrs["workload"] == "llm:deepseek-r1"
    assert rollout[0].before == "image:registry.local/vllm:v1"  # no pod runs v1 any more: known by reference
    assert rollout[0].after == new_image
    assert rollout[0].attrs["revision"] == 2


def test_events_and_container_states(world, kube_namespace):
    cluster, *_ = world
    with cluster.api_client() as api:
        snapshot = read_cluster(api, namespaces=[kube_namespace])
    events = events_from_snapshot(snapshot, workloads(snapshot))
    rag = f"pod:{kube_namespace}/rag-1"
    reasons = {(e.entity, e.reason) for e in events}
    assert {(rag, "OOMKilled"), (rag, "CrashLoopBackOff"), (rag, "BackOff"),
            (f"pod:{kube_namespace}/vllm-old", "Unhealthy")} <= reasons
    oom = next(e for e in events if e.reason == "OOMKilled")
    assert "exit code 137" in oom.message
    samples = restart_samples(snapshot)
    restarts = dict(zip(samples.entities.tolist(), samples.values.tolist()))
    assert restarts[rag] == 3.0
    changes = changes_from_snapshot(snapshot)
    assert any(c.kind == "restart" and c.entity == rag and c.attrs["reason"] == "OOMKilled" for c in changes)


def test_forbidden_resources_are_reported_and_nothing_is_closed(world, kube_namespace, caplog):
    cluster, *_ = world
    store = MemoryStore()
    with cluster.api_client() as api:
        collect_kubernetes(read_cluster(api, namespaces=[kube_namespace]), store)
    edges_before = {r.key for r in store.open_relations()}
    caplog.set_level(logging.WARNING)
    with cluster.api_client(cluster.nobody_token) as api:
        snapshot = read_cluster(api, namespaces=[kube_namespace])
    assert snapshot.failed == {"nodes", "pods", "replicasets", "deployments", "events"}
    assert {p.status for p in snapshot.problems} == {403}
    assert all("forbidden" in p.reason.lower() for p in snapshot.problems)
    assert "kubernetes/pods" in caplog.text and "403" in caplog.text
    result = collect_kubernetes(snapshot, store)
    assert result.closed == 0  # a list we could not read says nothing about what disappeared
    assert {r.key for r in store.open_relations()} == edges_before


def test_a_500_on_one_resource_loses_nothing_else(world, kube_namespace, kube_fault_proxy, caplog):
    cluster, kube, node, rs1 = world
    store = MemoryStore()
    with cluster.api_client() as api:
        collect_kubernetes(read_cluster(api, namespaces=[kube_namespace]), store)
        kube.delete_pod("vllm-old")  # gone, but the collector below cannot know it: its pod list fails
    proxy = kube_fault_proxy({"/events": 500, "/pods": 500})
    caplog.set_level(logging.WARNING)
    with proxy.api_client() as api:
        snapshot = read_cluster(api, namespaces=[kube_namespace])
    assert snapshot.failed == {"events", "pods"}
    assert {(p.source, p.status) for p in snapshot.problems} == {("kubernetes/events", 500), ("kubernetes/pods", 500)}
    assert "injected failure" in caplog.text
    assert {n.name for n in snapshot.nodes} >= {node}
    assert {r.name for r in snapshot.replicasets} >= {rs1}
    result = collect_kubernetes(snapshot, store)
    assert result.closed == 0
    assert ("llm:deepseek-r1", "RUNS_ON", f"pod:{kube_namespace}/vllm-old") in {r.key for r in store.open_relations()}
