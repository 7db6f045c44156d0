"""Writing realistic cluster state into a real kube-apiserver that runs no controllers or kubelets.

What a scheduler, the Deployment controller and a kubelet would have written is written here through the same API
calls they use: nodes with GPU capacity in their status, ReplicaSets owned by a Deployment with the revision
annotation, pods owned by a ReplicaSet, bound to a node, with container statuses (image digest, restarts, last
termination) set through the ``status`` subresource, and core/v1 events.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timezone

from kubernetes import client


def digest_of(reference: str) -> str:
    return "sha256:" + hashlib.sha256(reference.encode()).hexdigest()


@dataclass
class KubeWriter:
    api: client.ApiClient
    namespace: str
    deployments: dict[str, client.V1Deployment] = field(default_factory=dict)

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api)

    @property
    def apps(self) -> client.AppsV1Api:
        return client.AppsV1Api(self.api)

    def node(self, name: str, *, gpus: int = 0, product: str | None = None) -> None:
        labels = {"kubernetes.io/hostname": name}
        if product:
            labels["nvidia.com/gpu.product"] = product
        self.core.create_node(client.V1Node(metadata=client.V1ObjectMeta(name=name, labels=labels)))
        capacity = {"cpu": "32", "memory": "256Gi", "pods": "110"}
        if gpus:
            capacity["nvidia.com/gpu"] = str(gpus)
        self.core.patch_node_status(name, {"status": {
            "capacity": capacity, "allocatable": capacity,
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "ok",
                            "lastHeartbeatTime": _now(), "lastTransitionTime": _now()}],
        }})

    def deployment(self, name: str, *, labels: dict[str, str], annotations: dict[str, str] | None = None,
                   image: str, gpus: int = 0) -> client.V1Deployment:
        body = client.V1Deployment(
            metadata=client.V1ObjectMeta(name=name, namespace=self.namespace),
            spec=client.V1DeploymentSpec(
                replicas=1, selector=client.V1LabelSelector(match_labels=labels),
                template=self._template(labels, annotations or {}, name, image, gpus),
            ),
        )
        created = self.apps.create_namespaced_deployment(self.namespace, body)
        self.deployments[name] = created
        return created

    def _template(self, labels: dict[str, str], annotations: dict[str, str], container: str, image: str,
                  gpus: int) -> client.V1PodTemplateSpec:
        resources = client.V1ResourceRequirements(limits={"nvidia.com/gpu": str(gpus)}) if gpus else None
        return client.V1PodTemplateSpec(
            metadata=client.V1ObjectMeta(labels=dict(labels), annotations=dict(annotations)),
            spec=client.V1PodSpec(containers=[client.V1Container(name=container, image=image, resources=resources)]),
        )

    def replicaset(self, deployment: str, *, revision: int, image: str, labels: dict[str, str],
                   annotations: dict[str, str] | None = None, gpus: int = 0, replicas: int = 1) -> str:
        owner = self.deployments[deployment]
        pod_hash = hashlib.sha1(f"{deployment}{revision}{image}".encode()).hexdigest()[:10]
        name = f"{deployment}-{pod_hash}"
        selector = {**labels, "pod-template-hash": pod_hash}
        body = client.V1ReplicaSet(
            metadata=client.V1ObjectMeta(
                name=name, namespace=self.namespace, labels=selector,
                annotations={"deployment.kubernetes.io/revision": str(revision)},
                owner_references=[client.V1OwnerReference(api_version="apps/v1", kind="Deployment", name=deployment,
                                                          uid=owner.metadata.uid, controller=True)],
            ),
            spec=client.V1ReplicaSetSpec(
                replicas=replicas, selector=client.V1LabelSelector(match_labels=selector),
                template=self._template(selector, annotations or {}, deployment, image, gpus),
            ),
        )
        self.apps.create_namespaced_replica_set(self.namespace, body)
        return name

    def scale_replicaset(self, name: str, replicas: int) -> None:
        self.apps.patch_namespaced_replica_set(name, self.namespace, {"spec": {"replicas": replicas}})

    def pod(self, name: str, *, replicaset: str, node: str, image: str, labels: dict[str, str],
            annotations: dict[str, str] | None = None, gpus: int = 0, started: datetime | None = None,
            restarts: int = 0, last_termination: tuple[str, int, datetime] | None = None,
            waiting: str | None = None) -> str:
        rs = self.apps.read_namespaced_replica_set(replicaset, self.namespace)
        container = rs.spec.template.spec.containers[0].name
        resources = client.V1ResourceRequirements(limits={"nvidia.com/gpu": str(gpus)}) if gpus else None
        body = client.V1Pod(
            metadata=client.V1ObjectMeta(
                name=name, namespace=self.namespace,
                labels={**labels, "pod-template-hash": rs.metadata.labels["pod-template-hash"]},
                annotations=annotations or {},
                owner_references=[client.V1OwnerReference(api_version="apps/v1", kind="ReplicaSet", name=replicaset,
                                                          uid=rs.metadata.uid, controller=True)],
            ),
            spec=client.V1PodSpec(node_name=node, containers=[
                client.V1Container(name=container, image=image, resources=resources)]),
        )
        self.core.create_namespaced_pod(self.namespace, body)
        started = started or datetime.now(timezone.utc)
        state = ({"waiting": {"reason": waiting, "message": "back-off restarting failed container"}} if waiting
                 else {"running": {"startedAt": _iso(started)}})
        status: dict = {
            "name": container, "image": image, "imageID": f"{image.split(':')[0]}@{digest_of(image)}",
            "ready": waiting is None, "restartCount": restarts, "state": state,
        }
        if last_termination:
            reason, code, finished = last_termination
            status["lastState"] = {"terminated": {"reason": reason, "exitCode": code, "startedAt": _iso(started),
                                                  "finishedAt": _iso(finished)}}
        self.core.patch_namespaced_pod_status(name, self.namespace, {"status": {
            "phase": "Running", "startTime": _iso(started), "containerStatuses": [status],
            "conditions": [{"type": "Ready", "status": "True" if waiting is None else "False"}],
        }})
        return name

    def delete_pod(self, name: str) -> None:
        self.core.delete_namespaced_pod(name, self.namespace, grace_period_seconds=0)

    def event(self, *, kind: str, name: str, reason: str, message: str, at: datetime, type_: str = "Warning",
              count: int = 1) -> None:
        self.core.create_namespaced_event(self.namespace, client.CoreV1Event(
            metadata=client.V1ObjectMeta(generate_name=f"{name}.", namespace=self.namespace),
            involved_object=client.V1ObjectReference(kind=kind, name=name, namespace=self.namespace),
            reason=reason, message=message, type=type_, count=count, first_timestamp=at, last_timestamp=at,
            source=client.V1EventSource(component="kubelet"),
        ))


def _now() -> str:
    return _iso(datetime.now(timezone.utc))


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
