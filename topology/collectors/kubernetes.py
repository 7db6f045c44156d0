"""Kubernetes → topology: nodes, GPUs, pods, images and the workloads that run on the pods.

Entities: ``node:<name>``, ``gpu:<node>/<index>``, ``pod:<ns>/<name>``, ``image:sha256:…`` (or ``image:<ref>`` before
the kubelet reported a digest) and one workload entity per pod (``app:``/``llm:``/``vectordb:``, see
``WorkloadMapping``). Relations, all tagged ``attrs.source = "kubernetes"``:

* ``RUNS``          pod → image, from when the container started;
* ``SCHEDULED_ON``  pod → node;
* ``USES``          pod → gpu: from dcgm-exporter's pod labels when Prometheus has them (``attrs.assignment =
  "dcgm"``), else indices assigned first-fit in pod start order (``"first-fit"``: the API does not say which device
  a pod got);
* ``ATTACHED_TO``   gpu → node;
* ``RUNS_ON``       workload → pod.

Re-collecting the same cluster writes nothing new (the store keeps the older ``valid_from`` of an open relation).
Relations this collector opened earlier and no longer sees are closed at the snapshot time — but only for resource
kinds that were read in full and only inside the namespaces that were read.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from ..kube import ClusterSnapshot, KubePod, image_entity_id, split_reference
from ..models import Entity, Relation, RelationKind
from ..store import GraphStore
from ._common import merge_known_attrs

log = logging.getLogger(__name__)

SOURCE = "kubernetes"
OWNED_KINDS = (RelationKind.RUNS, RelationKind.SCHEDULED_ON, RelationKind.USES, RelationKind.ATTACHED_TO,
               RelationKind.RUNS_ON)
REVISION_KEYS = ("org.opencontainers.image.revision", "org.label-schema.vcs-ref")


class WorkloadMapping(BaseModel):
    """How a pod names the service it runs (the entity that ``RUNS_ON`` it).

    Tried in order: the annotation ``entity_annotation`` holding a full id (``llm:deepseek-r1``); the first label of
    ``name_labels`` present, as ``<kind>:<value>`` where kind comes from ``kind_annotation``/``kind_label`` or is
    ``app``; the owning Deployment/StatefulSet/DaemonSet name. A pod matching none runs no workload entity.
    """

    model_config = ConfigDict(frozen=True)

    entity_annotation: str = "faultline.io/entity"
    kind_annotation: str = "faultline.io/kind"
    kind_label: str = "faultline.io/kind"
    name_labels: tuple[str, ...] = ("app.kubernetes.io/name", "app")
    default_kind: str = "app"
    use_owner_name: bool = True

    def workload(self, labels: dict[str, str], annotations: dict[str, str], owner: str | None) -> str | None:
        explicit = annotations.get(self.entity_annotation)
        if explicit and ":" in explicit:
            return explicit
        kind = annotations.get(self.kind_annotation) or labels.get(self.kind_label) or self.default_kind
        for key in self.name_labels:
            if labels.get(key):
                return f"{kind}:{labels[key]}"
        if owner and self.use_owner_name:
            return f"{kind}:{owner}"
        return None


def pod_workload_owner(pod: KubePod, replicaset_owner: dict[tuple[str, str], str]) -> str | None:
    """The Deployment (through its ReplicaSet) or other controller that owns ``pod``."""
    if pod.owner_kind == "ReplicaSet" and pod.owner_name:
        return replicaset_owner.get((pod.namespace, pod.owner_name), _strip_hash(pod.owner_name, pod.labels))
    return pod.owner_name


def _strip_hash(replicaset: str, labels: dict[str, str]) -> str:
    suffix = labels.get("pod-template-hash")
    return replicaset[: -len(suffix) - 1] if suffix and replicaset.endswith("-" + suffix) else replicaset


def image_revision(pod: KubePod, container: str) -> str | None:
    """A commit sha a pod annotation attaches to ``container``'s image (``<key>`` or ``<key>.<container>``)."""
    for key in REVISION_KEYS:
        value = pod.annotations.get(f"{key}.{container}") or pod.annotations.get(key)
        if value:
            return value.strip()
    return None


@dataclass
class KubernetesTopology:
    """What one snapshot says the topology is now."""

    entities: dict[str, Entity] = field(default_factory=dict)
    relations: dict[tuple[str, str, str], Relation] = field(default_factory=dict)

    def entity(self, entity_id: str, kind: str, **attrs: object) -> None:
        old = self.entities.get(entity_id)
        merged = {**(old.attrs if old else {}), **{k: v for k, v in attrs.items() if v is not None}}
        self.entities[entity_id] = Entity(id=entity_id, kind=kind, attrs=merged)

    def relate(self, src: str, kind: RelationKind, dst: str, since: datetime | None, **attrs: object) -> None:
        key = (src, kind.value, dst)
        if key not in self.relations:
            self.relations[key] = Relation(
                src=src, kind=kind, dst=dst, valid_from=since, attrs={"source": SOURCE, **attrs}
            )


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def build_topology(
    snapshot: ClusterSnapshot,
    mapping: WorkloadMapping = WorkloadMapping(),
    gpu_assignments: Mapping[str, Sequence[str]] | None = None,
) -> KubernetesTopology:
    """Pure function of the snapshot: the entities and open relations it implies.

    ``gpu_assignments`` (pod id → GPU ids, e.g. from dcgm-exporter's pod labels) replaces the first-fit guess for
    the pods it names; the GPUs it hands out are not given to other pods.
    """
    topo = KubernetesTopology()
    gpu_assignments = gpu_assignments or {}
    claimed = {gpu for gpus in gpu_assignments.values() for gpu in gpus}
    for node in snapshot.nodes:
        topo.entity(f"node:{node.name}", "node", gpu_capacity=node.gpu_capacity, gpu_product=node.gpu_product,
                    ready=node.ready, created_at=_iso(node.created_at))
        for index in range(node.gpu_capacity):
            gpu = f"gpu:{node.name}/{index}"
            topo.entity(gpu, "gpu", node=node.name, index=index, product=node.gpu_product)
            topo.relate(gpu, RelationKind.ATTACHED_TO, f"node:{node.name}", node.created_at)

    rs_owner = {(rs.namespace, rs.name): rs.owner_name for rs in snapshot.replicasets if rs.owner_kind == "Deployment"
                and rs.owner_name}
    gpu_count = {node.name: node.gpu_capacity for node in snapshot.nodes}
    next_gpu: dict[str, int] = defaultdict(int)
    # First-fit GPU assignment in start order, so re-collecting gives the same answer for the same pods.
    ordered = sorted(snapshot.pods, key=lambda p: (p.start_time or p.created_at or snapshot.taken_at, p.id))
    for pod in ordered:
        if pod.phase in ("Succeeded", "Failed") or pod.deleted_at is not None:
            continue  # finished or going away: it no longer serves anything
        since = pod.start_time or pod.created_at
        owner = pod_workload_owner(pod, rs_owner)
        topo.entity(pod.id, "pod", namespace=pod.namespace, node=pod.node, phase=pod.phase, owner=owner,
                    restarts=sum(c.restart_count for c in pod.containers),
                    containers=[c.name for c in pod.containers], created_at=_iso(pod.created_at))
        if pod.node:
            topo.entity(f"node:{pod.node}", "node")
            topo.relate(pod.id, RelationKind.SCHEDULED_ON, f"node:{pod.node}", since)
        for container in pod.containers:
            if not container.image_id:
                continue  # not running yet: which image it will run is not a fact yet
            image = image_entity_id(container.image, container.image_id)
            revision = image_revision(pod, container.name)
            topo.entity(image, "image", reference=container.image, digest=container.digest,
                        revision=revision, **split_reference(container.image))
            topo.relate(pod.id, RelationKind.RUNS, image, container.started_at or since, container=container.name)
        wanted = pod.gpu_request
        if pod.id in gpu_assignments:
            for gpu in gpu_assignments[pod.id]:
                if gpu not in topo.entities:
                    topo.entity(gpu, "gpu")
                topo.relate(pod.id, RelationKind.USES, gpu, since, assignment="dcgm")
        elif wanted and pod.node:
            for _ in range(wanted):
                while f"gpu:{pod.node}/{next_gpu[pod.node]}" in claimed:
                    next_gpu[pod.node] += 1
                index = next_gpu[pod.node]
                if index >= gpu_count.get(pod.node, 0):
                    log.warning("kubernetes: %s requests more GPUs than %s reports; extra request ignored",
                                pod.id, pod.node)
                    break
                next_gpu[pod.node] += 1
                topo.relate(pod.id, RelationKind.USES, f"gpu:{pod.node}/{index}", since, assignment="first-fit")
        workload = mapping.workload(pod.labels, pod.annotations, owner)
        if workload:
            kind = workload.split(":", 1)[0]
            topo.entity(workload, kind, namespace=pod.namespace, deployment=owner)
            topo.relate(workload, RelationKind.RUNS_ON, pod.id, pod.created_at or since)
    return topo


@dataclass(frozen=True)
class KubernetesCollection:
    """Counts of one collection, for the log line and the tests."""

    entities: int
    relations: int
    closed: int
    images: tuple[str, ...]


def _in_scope(relation: Relation, snapshot: ClusterSnapshot) -> bool:
    """May this collector close ``relation`` based on ``snapshot``? Only when the lists behind it were complete."""
    if relation.attrs.get("source") != SOURCE:
        return False
    if relation.kind == RelationKind.ATTACHED_TO:
        return snapshot.complete("nodes")
    if not snapshot.complete("pods"):
        return False
    pod = relation.dst if relation.kind == RelationKind.RUNS_ON else relation.src
    if snapshot.namespaces is not None:
        namespace = pod.removeprefix("pod:").split("/", 1)[0]
        return namespace in snapshot.namespaces
    return True


def collect_kubernetes(
    snapshot: ClusterSnapshot,
    store: GraphStore,
    *,
    mapping: WorkloadMapping = WorkloadMapping(),
    gpu_assignments: Mapping[str, Sequence[str]] | None = None,
) -> KubernetesCollection:
    """Write the snapshot's topology to ``store`` and close what disappeared since the last collection."""
    topo = build_topology(snapshot, mapping, gpu_assignments)
    store.upsert_entities(merge_known_attrs(store, topo.entities.values()))
    store.upsert_relations(topo.relations.values())
    seen = set(topo.relations)
    closed = 0
    for relation in store.open_relations(OWNED_KINDS):
        if relation.key in seen or not _in_scope(relation, snapshot):
            continue
        if store.close_relation(relation.src, relation.kind, relation.dst, snapshot.taken_at):
            closed += 1
    images = tuple(sorted(e for e in topo.entities if e.startswith("image:")))
    log.info("kubernetes: %d entities, %d relations, %d closed", len(topo.entities), len(topo.relations), closed)
    return KubernetesCollection(len(topo.entities), len(topo.relations), closed, images)


def image_hints(snapshot: ClusterSnapshot) -> dict[str, dict[str, str | None]]:
    """Per image entity id: the reference and the revision a pod annotation gave (input of the git collector)."""
    hints: dict[str, dict[str, str | None]] = {}
    for pod in snapshot.pods:
        for container in pod.containers:
            if container.image_id:
                image = image_entity_id(container.image, container.image_id)
                hint = hints.setdefault(image, {"reference": container.image, "revision": None})
                hint["revision"] = hint["revision"] or image_revision(pod, container.name)
    return hints


def workloads(snapshot: ClusterSnapshot, mapping: WorkloadMapping = WorkloadMapping()) -> dict[str, str]:
    """Deployment ``<ns>/<name>`` → workload entity id, from the Deployment's (or ReplicaSets') pod template."""
    found: dict[str, str] = {}
    templates: Iterable[tuple[str, str, dict[str, str], dict[str, str]]] = [
        *((d.namespace, d.name, d.template_labels, d.template_annotations) for d in snapshot.deployments),
        *((r.namespace, r.owner_name, r.template_labels, r.template_annotations) for r in snapshot.replicasets
          if r.owner_kind == "Deployment" and r.owner_name),
    ]
    for namespace, name, labels, notes in templates:
        entity = mapping.workload(labels, notes, name)
        if entity:
            found.setdefault(f"{namespace}/{name}", entity)
    return found
