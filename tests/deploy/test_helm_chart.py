"""The Helm chart ``deploy/helm/faultline``: ``helm lint``, ``helm template | kubeconform``, and every rendered object
created on the real kube-apiserver the tests build, with the collector's RBAC exercised for real.

helm and kubeconform are built from the Go module proxy by ``.ci/services/helm.sh`` (cached in
``~/.cache/faultline/bin``). kubeconform's schemas are generated from that kube-apiserver's own ``/openapi/v2``
(``tests/deploy/kube_schemas.py``): its usual download site is unreachable here.

The ServiceMonitor is rendered and checked for shape, but neither validated by kubeconform nor created on the API
server: its CRD (prometheus-operator's ``monitoring.coreos.com``) is not published in any package registry this
machine reaches in a form we may use (the npm ``@kubernetes-models/prometheus-operator`` package ships compiled
validators, not the CRD), so there is no schema to hold it to and no resource type to create it as.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.kube_schemas import write_schemas
from tests.servers.common import unavailable
from tests.servers.kubernetes import K8S_VERSION

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "faultline"
CACHE = Path(os.environ.get("FAULTLINE_CACHE", Path.home() / ".cache" / "faultline")) / "bin"
HELM = CACHE / f"helm-{os.environ.get('FAULTLINE_HELM_VERSION', 'v3.22.0')}"
KUBECONFORM = CACHE / f"kubeconform-{os.environ.get('FAULTLINE_KUBECONFORM_VERSION', 'v0.8.0')}"
NOT_ON_THIS_SERVER = {"ServiceMonitor"}  # no CRD available (module docstring)

FULL = {  # every optional part on: PostgreSQL and 3 replicas, Neo4j, LLM, PagerDuty, Ingress, ServiceMonitor, Secret
    "serve.replicas": "3", "postgresql.enabled": "true", "postgresql.urlSecret.name": "faultline-postgres",
    "neo4j.enabled": "true", "neo4j.uri": "bolt://neo4j.graph:7687", "prometheus.url": "http://prometheus:9090",
    "llm.baseUrl": "http://vllm.llm:8000/v1", "llm.model": "deepseek-r1", "pagerduty.enabled": "true",
    "pagerduty.from": "oncall@example.com", "ingress.enabled": "true", "ingress.className": "nginx",
    "serviceMonitor.enabled": "true", "secrets.create": "true", "secrets.values.tokens\\.json": "[]",
    "collect.namespaces[0]": "prod", "collect.namespaces[1]": "staging",
}
VALUE_SETS = {"defaults": {}, "full": FULL, "no-persistence": {"persistence.enabled": "false", "collect.enabled": "false"}}


def _tool(path: Path) -> str:
    if not (path.exists() and os.access(path, os.X_OK)):
        unavailable(f"{path.name} not built (run .ci/services/helm.sh)")
    return str(path)


def _set_args(values: dict[str, str]) -> list[str]:
    return [arg for key, value in values.items() for arg in ("--set", f"{key}={value}")]


def render(values: dict[str, str], *, release: str = "obs", namespace: str = "observability") -> str:
    done = subprocess.run([_tool(HELM), "template", release, str(CHART), "--namespace", namespace,
                           "--kube-version", K8S_VERSION, *_set_args(values)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def objects(manifest: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(manifest) if doc]


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_helm_lint(name: str) -> None:
    done = subprocess.run([_tool(HELM), "lint", str(CHART), "--strict", "--kube-version", K8S_VERSION,
                           *_set_args(VALUE_SETS[name])], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 chart(s) linted, 0 chart(s) failed" in done.stdout


def test_what_the_chart_renders() -> None:
    full = {(o["kind"], o["metadata"]["name"]): o for o in objects(render(FULL))}
    assert set(k for k, _ in full) == {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Secret", "Service",
                                       "Ingress", "ServiceMonitor", "PersistentVolumeClaim", "Deployment"}
    serve, collect = full[("Deployment", "obs-faultline-serve")], full[("Deployment", "obs-faultline-collect")]
    assert serve["spec"]["replicas"] == 3 and collect["spec"]["replicas"] == 1
    [container] = serve["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e for e in container["env"]}
    for secret_env in ("FAULTLINE_API_TOKENS", "FAULTLINE_DB_URL", "FAULTLINE_PAGERDUTY_API_TOKEN",
                       "FAULTLINE_PAGERDUTY_WEBHOOK_SECRET", "FAULTLINE_LLM_API_KEY", "FAULTLINE_NEO4J_PASSWORD"):
        assert "secretKeyRef" in env[secret_env]["valueFrom"], f"{secret_env} must come from a Secret"
    assert env["FAULTLINE_REPLICA_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"]["path"] == "/healthz"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert serve["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    assert collect["spec"]["template"]["spec"]["containers"][0]["args"][:3] == ["collect", "--watch", "--in-cluster"]
    role = full[("ClusterRole", "obs-faultline-reader")]
    verbs = {v for rule in role["rules"] for v in rule["verbs"]}
    assert verbs == {"get", "list", "watch"}, "the collector's ClusterRole must be read-only"
    granted = {(g, r) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"]}
    assert {("", "pods"), ("", "events"), ("", "nodes"), ("apps", "deployments"), ("apps", "replicasets")} <= granted
    assert not any(r == "secrets" or r == "*" for _, r in granted)
    monitor = full[("ServiceMonitor", "obs-faultline")]
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
    default = {(o["kind"], o["metadata"]["name"]): o for o in objects(render({}))}
    assert ("Ingress", "obs-faultline") not in default and ("ServiceMonitor", "obs-faultline") not in default
    serve_default = default[("Deployment", "obs-faultline-serve")]
    assert serve_default["spec"]["strategy"]["type"] == "Recreate", "one process per SQLite file"


def test_replicas_without_postgresql_are_refused() -> None:
    done = subprocess.run([_tool(HELM), "template", "obs", str(CHART), "--kube-version", K8S_VERSION,
                           "--set", "serve.replicas=2"], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "needs PostgreSQL" in done.stderr


@pytest.fixture(scope="module")
def kube_schemas(kube_cluster: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Strict standalone schemas for every kind the chart renders, from the real API server's /openapi/v2."""
    context = ssl.create_default_context(cafile=str(kube_cluster.ca_file))
    request = urllib.request.Request(f"{kube_cluster.url}/openapi/v2", headers={
        "Authorization": f"Bearer {kube_cluster.admin_token}", "Accept": "application/json"})
    with urllib.request.urlopen(request, context=context, timeout=60) as answer:
        openapi = json.load(answer)
    out = tmp_path_factory.mktemp("kube-schemas")
    kinds = {o["kind"] for values in VALUE_SETS.values() for o in objects(render(values))} | {"Deployment"}
    written = write_schemas(openapi, out, kinds - NOT_ON_THIS_SERVER)
    assert {p.name for p in written} >= {"deployment-apps-v1.json", "clusterrole-rbac-v1.json", "service-v1.json",
                                         "ingress-networking-v1.json", "persistentvolumeclaim-v1.json"}
    return out


def _kubeconform(manifest: str, schemas: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([_tool(KUBECONFORM), "-strict", "-summary", "-output", "json",
                           "-schema-location", str(schemas / "{{ .ResourceKind }}{{ .KindSuffix }}.json"),
                           "-skip", ",".join(sorted(NOT_ON_THIS_SERVER))],
                          input=manifest, capture_output=True, text=True, timeout=120)


@pytest.mark.integration
@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_rendered_chart_passes_kubeconform(name: str, kube_schemas: Path) -> None:
    manifest = render(VALUE_SETS[name])
    done = _kubeconform(manifest, kube_schemas)
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads(done.stdout)["summary"]
    expected = len([o for o in objects(manifest) if o["kind"] not in NOT_ON_THIS_SERVER])
    assert summary["valid"] == expected and summary["invalid"] == 0 and summary["errors"] == 0, summary


@pytest.mark.integration
def test_kubeconform_with_these_schemas_rejects_a_broken_object(kube_schemas: Path) -> None:
    """The generated schemas are live: a misspelt field and a wrong type are caught."""
    deployment = next(o for o in objects(render({})) if o["metadata"]["name"].endswith("-serve"))
    deployment["spec"]["replica"] = 2  # misspelt
    deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "http"
    done = _kubeconform(yaml.safe_dump(deployment), kube_schemas)
    assert done.returncode != 0, done.stdout
    assert "replica" in done.stdout and "containerPort" in done.stdout, done.stdout


@pytest.mark.integration
def test_rendered_objects_are_accepted_by_the_real_api_server(kube_cluster: Any, kube_namespace: str) -> None:
    """Every rendered object (but the ServiceMonitor) is created for real; then the collector's own code reads the
    cluster as the chart's ServiceAccount: everything it needs is allowed, writing and reading Secrets is not."""
    from kubernetes import client, dynamic

    from topology.kube import read_cluster

    release = "t" + kube_namespace[-8:]  # ClusterRole names are cluster-wide: one per test namespace
    rendered = objects(render(FULL, release=release, namespace=kube_namespace))
    created = []
    with kube_cluster.api_client() as api:
        dyn = dynamic.DynamicClient(api)
        try:
            for obj in rendered:
                if obj["kind"] in NOT_ON_THIS_SERVER:
                    continue
                resource = dyn.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
                kwargs = {"namespace": kube_namespace} if resource.namespaced else {}
                resource.create(body=obj, **kwargs)
                created.append((resource, obj["metadata"]["name"], kwargs))
            assert len(created) == len(rendered) - 1
            stored = client.AppsV1Api(api).read_namespaced_deployment(f"{release}-faultline-serve", kube_namespace)
            assert stored.spec.replicas == 3 and stored.spec.template.spec.service_account_name == f"{release}-faultline"

            sa = f"{release}-faultline"
            token = client.CoreV1Api(api).create_namespaced_service_account_token(
                sa, kube_namespace, client.AuthenticationV1TokenRequest(
                    spec=client.V1TokenRequestSpec(audiences=["https://kubernetes.default.svc"],
                                                   expiration_seconds=600))).status.token
            with kube_cluster.api_client(token) as as_sa:
                snapshot = read_cluster(as_sa)
                assert not snapshot.failed, snapshot.problems
                with pytest.raises(client.ApiException) as denied:
                    client.CoreV1Api(as_sa).create_namespaced_config_map(
                        kube_namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="x")))
                assert denied.value.status == 403
                with pytest.raises(client.ApiException) as secret:
                    client.CoreV1Api(as_sa).list_namespaced_secret(kube_namespace)
                assert secret.value.status == 403
                with pytest.raises(client.ApiException) as scale:
                    client.AppsV1Api(as_sa).delete_namespaced_deployment(f"{release}-faultline-serve", kube_namespace)
                assert scale.value.status == 403
            with kube_cluster.api_client(kube_cluster.nobody_token) as nobody:  # the same read fails without the role
                assert read_cluster(nobody).failed
        finally:
            for resource, name, kwargs in reversed(created):
                if not resource.namespaced:
                    resource.delete(name=name, **kwargs)
