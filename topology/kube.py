"""The Kubernetes adapter: read a cluster into a typed ``ClusterSnapshot`` with the official ``kubernetes`` client.

Why a snapshot: three packages read the cluster (topology builds the graph, detectors turn container states and
events into ``Event``s, correlators turn ReplicaSet revisions into ``Change``s). One read, one typed value, no
``V1Pod`` leaking past this module, and every consumer can be tested on a snapshot built by hand.

Each resource kind is listed on its own: a 403 on events or a 500 on ReplicaSets is recorded as a ``SourceProblem``
(and logged) while pods and nodes are still read. ``ClusterSnapshot.complete(kind)`` tells collectors whether a kind
was read in full, so they never close relations on the strength of a list that failed.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from .problems import SourceProblem, report
from .exceptions import CollectorError

log = logging.getLogger(__name__)

GPU_RESOURCE = "nvidia.com/gpu"
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
Resource = Literal["nodes", "pods", "replicasets", "deployments", "events"]
RESOURCES: tuple[Resource, ...] = ("nodes", "pods", "replicasets", "deployments", "events")
_DIGEST = re.compile(r"(sha256:[0-9a-f]{64})")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class KubeContainer(_Frozen):
    name: str
    image: str
    image_id: str | None = None
    ready: bool = False
    restart_count: int = 0
    started_at: datetime | None = None
    waiting_reason: str | None = None
    waiting_message: str | None = None
    terminated_reason: str | None = None
    terminated_at: datetime | None = None
    """When the current state ``terminated`` began (an evicted pod's containers end there)."""
    last_terminated_reason: str | None = None
    last_terminated_at: datetime | None = None
    last_exit_code: int | None = None
    gpu_request: int = 0

    @property
    def digest(self) -> str | None:
        """``sha256:…`` of the image actually running (from ``imageID``), when the kubelet reported it."""
        return image_digest(self.image_id)


class KubePod(_Frozen):
    namespace: str
    name: str
    uid: str = ""
    node: str | None = None
    phase: str | None = None
    reason: str | None = None
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    owner_kind: str | None = None
    owner_name: str | None = None
    created_at: datetime | None = None
    start_time: datetime | None = None
    deleted_at: datetime | None = None
    containers: tuple[KubeContainer, ...] = ()
    disrupted_at: datetime | None = None
    """``DisruptionTarget`` condition's transition (Kubernetes >= 1.26 sets it when it evicts or preempts the pod)."""
    not_ready_at: datetime | None = None
    """When the ``Ready`` condition last turned false, if it is false."""

    @property
    def id(self) -> str:
        return f"pod:{self.namespace}/{self.name}"

    @property
    def gpu_request(self) -> int:
        return sum(c.gpu_request for c in self.containers)


class KubeNode(_Frozen):
    name: str
    labels: dict[str, str] = {}
    gpu_capacity: int = 0
    gpu_product: str | None = None
    ready: bool | None = None
    created_at: datetime | None = None


class KubeReplicaSet(_Frozen):
    namespace: str
    name: str
    revision: int | None = None
    pod_template_hash: str | None = None
    owner_kind: str | None = None
    owner_name: str | None = None
    created_at: datetime | None = None
    replicas: int = 0
    images: tuple[tuple[str, str], ...] = ()
    """(container name, image reference) of the pod template, in template order."""
    template_labels: dict[str, str] = {}
    template_annotations: dict[str, str] = {}
    annotations: dict[str, str] = {}


class KubeDeployment(_Frozen):
    namespace: str
    name: str
    revision: int | None = None
    created_at: datetime | None = None
    images: tuple[tuple[str, str], ...] = ()
    template_labels: dict[str, str] = {}
    template_annotations: dict[str, str] = {}


class KubeEvent(_Frozen):
    namespace: str
    involved_kind: str
    involved_name: str
    reason: str
    message: str = ""
    type: str = "Normal"
    count: int = 1
    first_at: datetime | None = None
    last_at: datetime | None = None


class ClusterSnapshot(_Frozen):
    """The cluster as read at ``taken_at``; ``problems`` lists what could not be read."""

    taken_at: datetime
    namespaces: tuple[str, ...] | None = None
    nodes: tuple[KubeNode, ...] = ()
    pods: tuple[KubePod, ...] = ()
    replicasets: tuple[KubeReplicaSet, ...] = ()
    deployments: tuple[KubeDeployment, ...] = ()
    events: tuple[KubeEvent, ...] = ()
    problems: tuple[SourceProblem, ...] = ()
    failed: frozenset[str] = frozenset()

    def complete(self, resource: Resource) -> bool:
        """True when ``resource`` was listed in full (so its absence of an object means the object is gone)."""
        return resource not in self.failed


# -- identity helpers shared by every consumer of a snapshot ----------------------------------------------------------
def image_digest(image_id: str | None) -> str | None:
    """``sha256:…`` inside a kubelet ``imageID`` (``docker-pullable://repo@sha256:…``, ``repo@sha256:…``, ``sha256:…``)."""
    if not image_id:
        return None
    match = _DIGEST.search(image_id)
    return match.group(1) if match else None


def image_entity_id(reference: str, image_id: str | None = None) -> str:
    """``image:sha256:…`` when the running digest is known (content identity), else ``image:<reference>``."""
    digest = image_digest(image_id) or image_digest(reference if "@" in reference else None)
    return f"image:{digest}" if digest else f"image:{reference}"


def split_reference(reference: str) -> dict[str, str]:
    """``registry/repo:tag@sha256:…`` → repository, tag, digest (those present)."""
    parts: dict[str, str] = {}
    name = reference
    if "@" in name:
        name, parts["digest"] = name.split("@", 1)
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name, parts["tag"] = name.rsplit(":", 1)
    parts["repository"] = name
    return parts


# -- reading ----------------------------------------------------------------------------------------------------------
def api_client_from_config(
    kubeconfig: str | None = None, *, context: str | None = None, in_cluster: bool = False
) -> Any:
    """A ``kubernetes.client.ApiClient`` from a kubeconfig file (or in-cluster service account)."""
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    try:
        if in_cluster:
            configuration = client.Configuration()
            config.load_incluster_config(client_configuration=configuration)
        else:
            configuration = client.Configuration()
            config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=configuration)
    except (ConfigException, OSError, ValueError, TypeError) as exc:
        where = "in-cluster service account" if in_cluster else (kubeconfig or "default kubeconfig")
        raise CollectorError(f"kubernetes: cannot load configuration from {where}: {exc}") from exc
    return client.ApiClient(configuration)


def _gpu(resources: Any) -> int:
    if resources is None:
        return 0
    for bag in (resources.limits, resources.requests):
        if bag and GPU_RESOURCE in bag:
            try:
                return int(str(bag[GPU_RESOURCE]))
            except ValueError:
                return 0
    return 0


def _owner(meta: Any) -> tuple[str | None, str | None]:
    for ref in meta.owner_references or ():
        if ref.controller:
            return ref.kind, ref.name
    refs = meta.owner_references or ()
    return (refs[0].kind, refs[0].name) if refs else (None, None)


def _revision(meta: Any) -> int | None:
    value = (meta.annotations or {}).get("deployment.kubernetes.io/revision")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _pod(item: Any) -> KubePod:
    meta, spec, status = item.metadata, item.spec, item.status
    gpu = {c.name: _gpu(c.resources) for c in (spec.containers or ())}
    statuses = {s.name: s for s in (status.container_statuses or ())} if status else {}
    containers = []
    for c in spec.containers or ():
        s = statuses.get(c.name)
        state = s.state if s else None
        last = s.last_state.terminated if s and s.last_state else None
        containers.append(KubeContainer(
            name=c.name,
            image=c.image or "",
            image_id=(s.image_id or None) if s else None,
            ready=bool(s.ready) if s else False,
            restart_count=int(s.restart_count or 0) if s else 0,
            started_at=state.running.started_at if state and state.running else None,
            waiting_reason=state.waiting.reason if state and state.waiting else None,
            waiting_message=state.waiting.message if state and state.waiting else None,
            terminated_reason=state.terminated.reason if state and state.terminated else None,
            terminated_at=state.terminated.finished_at if state and state.terminated else None,
            last_terminated_reason=last.reason if last else None,
            last_terminated_at=last.finished_at if last else None,
            last_exit_code=last.exit_code if last else None,
            gpu_request=gpu.get(c.name, 0),
        ))
    owner_kind, owner_name = _owner(meta)
    disrupted = not_ready = None
    for condition in (status.conditions or ()) if status else ():
        if condition.type == "DisruptionTarget" and condition.status == "True":
            disrupted = condition.last_transition_time
        elif condition.type == "Ready" and condition.status != "True":
            not_ready = condition.last_transition_time
    return KubePod(
        namespace=meta.namespace, name=meta.name, uid=meta.uid or "", node=spec.node_name,
        phase=status.phase if status else None, reason=status.reason if status else None,
        labels=dict(meta.labels or {}), annotations=dict(meta.annotations or {}),
        owner_kind=owner_kind, owner_name=owner_name, created_at=meta.creation_timestamp,
        start_time=status.start_time if status else None, deleted_at=meta.deletion_timestamp,
        containers=tuple(containers), disrupted_at=disrupted, not_ready_at=not_ready,
    )


def _node(item: Any) -> KubeNode:
    meta, status = item.metadata, item.status
    capacity = (status.capacity or {}) if status else {}
    try:
        gpus = int(str(capacity.get(GPU_RESOURCE, "0")))
    except ValueError:
        gpus = 0
    ready = None
    for condition in (status.conditions or ()) if status else ():
        if condition.type == "Ready":
            ready = condition.status == "True"
    labels = dict(meta.labels or {})
    return KubeNode(
        name=meta.name, labels=labels, gpu_capacity=gpus, gpu_product=labels.get(GPU_PRODUCT_LABEL),
        ready=ready, created_at=meta.creation_timestamp,
    )


def _template_images(template: Any) -> tuple[tuple[str, str], ...]:
    spec = template.spec if template else None
    return tuple((c.name, c.image or "") for c in (spec.containers or ())) if spec else ()


def _replicaset(item: Any) -> KubeReplicaSet:
    meta, spec = item.metadata, item.spec
    owner_kind, owner_name = _owner(meta)
    template = spec.template if spec else None
    tmeta = template.metadata if template else None
    return KubeReplicaSet(
        namespace=meta.namespace, name=meta.name, revision=_revision(meta),
        pod_template_hash=(meta.labels or {}).get("pod-template-hash"), owner_kind=owner_kind, owner_name=owner_name,
        created_at=meta.creation_timestamp, replicas=int(spec.replicas or 0) if spec else 0,
        images=_template_images(template),
        template_labels=dict((tmeta.labels or {}) if tmeta else {}),
        template_annotations=dict((tmeta.annotations or {}) if tmeta else {}),
        annotations=dict(meta.annotations or {}),
    )


def _deployment(item: Any) -> KubeDeployment:
    meta, spec = item.metadata, item.spec
    template = spec.template if spec else None
    tmeta = template.metadata if template else None
    return KubeDeployment(
        namespace=meta.namespace, name=meta.name, revision=_revision(meta), created_at=meta.creation_timestamp,
        images=_template_images(template),
        template_labels=dict((tmeta.labels or {}) if tmeta else {}),
        template_annotations=dict((tmeta.annotations or {}) if tmeta else {}),
    )


def _event(item: Any) -> KubeEvent:
    meta, involved = item.metadata, item.involved_object
    series = getattr(item, "series", None)  # events.k8s.io-style repetition: count and last time live here
    first = item.first_timestamp or item.event_time or meta.creation_timestamp
    last = item.last_timestamp or (series.last_observed_time if series else None) or item.event_time or first
    count = int(item.count or (series.count if series and series.count else 0) or 1)
    return KubeEvent(
        namespace=meta.namespace or "", involved_kind=involved.kind or "", involved_name=involved.name or "",
        reason=item.reason or "", message=item.message or "", type=item.type or "Normal",
        count=count, first_at=first, last_at=max(last, first) if first and last else last,
    )


class _Lister:
    """Pages through one list call; the client's own errors become one ``SourceProblem``."""

    def __init__(self, page_size: int, timeout_s: float) -> None:
        self.page_size = page_size
        self.timeout_s = timeout_s

    def items(self, call: Callable[..., Any], **kwargs: Any) -> list[Any]:
        items: list[Any] = []
        token: str | None = None
        while True:
            page = call(limit=self.page_size, _continue=token, _request_timeout=self.timeout_s, **kwargs)
            items.extend(page.items or ())
            token = page.metadata._continue if page.metadata else None
            if not token:
                return items


def _problem_from(resource: str, exc: Exception) -> SourceProblem:
    from kubernetes.client.exceptions import ApiException

    if isinstance(exc, ApiException):
        reason = (exc.reason or "").strip() or "API error"
        body = (exc.body or "") if isinstance(exc.body, str) else ""
        detail = re.search(r'"message"\s*:\s*"([^"]*)"', body)
        if detail:
            reason = f"{reason}: {detail.group(1)}"
        return SourceProblem(source=f"kubernetes/{resource}", reason=reason, status=exc.status)
    return SourceProblem(source=f"kubernetes/{resource}", reason=f"{type(exc).__name__}: {exc}")


def read_cluster(
    api_client: Any,
    *,
    namespaces: Sequence[str] | None = None,
    resources: Sequence[Resource] = RESOURCES,
    page_size: int = 500,
    timeout_s: float = 30.0,
    now: datetime | None = None,
) -> ClusterSnapshot:
    """List nodes, pods, ReplicaSets, Deployments and events (all namespaces, or only ``namespaces``).

    Never raises for an API answer: each failed resource kind is a ``SourceProblem`` in the snapshot (logged as a
    warning) and is listed in ``failed``.
    """
    import urllib3
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    core, apps = client.CoreV1Api(api_client), client.AppsV1Api(api_client)
    lister = _Lister(page_size, timeout_s)
    taken_at = now or datetime.now(timezone.utc)
    calls: dict[str, tuple[Callable[..., Any], Callable[..., Any], Callable[[Any], Any]]] = {
        "pods": (core.list_pod_for_all_namespaces, core.list_namespaced_pod, _pod),
        "replicasets": (apps.list_replica_set_for_all_namespaces, apps.list_namespaced_replica_set, _replicaset),
        "deployments": (apps.list_deployment_for_all_namespaces, apps.list_namespaced_deployment, _deployment),
        "events": (core.list_event_for_all_namespaces, core.list_namespaced_event, _event),
    }
    read: dict[str, list[Any]] = {}
    problems: list[SourceProblem] = []
    failed: set[str] = set()
    for resource in resources:
        try:
            if resource == "nodes":
                raw = lister.items(core.list_node)
                convert: Callable[[Any], Any] = _node
            else:
                everywhere, namespaced, convert = calls[resource]
                if namespaces:
                    raw = [item for ns in namespaces for item in lister.items(namespaced, namespace=ns)]
                else:
                    raw = lister.items(everywhere)
            read[resource] = [convert(item) for item in raw]
        except (ApiException, urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
            failed.add(resource)
            problems.append(report(log, _problem_from(resource, exc)))
    for resource in RESOURCES:
        if resource not in resources:
            failed.add(resource)  # not asked for: not known to be complete
    log.info(
        "kubernetes: %s",
        ", ".join(f"{len(read.get(r, ()))} {r}" for r in resources if r not in failed) or "nothing read",
    )
    return ClusterSnapshot(
        taken_at=taken_at, namespaces=tuple(namespaces) if namespaces else None,
        nodes=tuple(read.get("nodes", ())), pods=tuple(read.get("pods", ())),
        replicasets=tuple(read.get("replicasets", ())), deployments=tuple(read.get("deployments", ())),
        events=tuple(read.get("events", ())), problems=tuple(problems), failed=frozenset(failed),
    )
