"""A real Kubernetes API for the tests: etcd (Debian ``etcd-server``) + ``kube-apiserver`` built from the pinned
``k8s.io/kubernetes`` Go module by ``.ci/services/kubernetes.sh`` (cached under ``~/.cache/faultline/bin``).

No scheduler, controller-manager or kubelet run: the tests write the cluster state they need (nodes with GPU
capacity, ReplicaSets, pods with their status, events) through the API itself, which stores and serves it exactly as
a live cluster's API does (defaulting, validation, resourceVersions, RBAC). Authentication is by static bearer tokens:

* ``admin``  — in ``system:masters``, may do anything;
* ``nobody`` — authenticated but bound to no role, so every read is a real ``403 Forbidden``.

The session fixture ``kube_cluster`` yields a ``KubeCluster``; ``kube_cluster.configuration()`` is a
``kubernetes.client.Configuration`` pointed at ``https://127.0.0.1:<port>`` verifying the server's own certificate.
``kube_namespace`` gives each test a fresh namespace, deleted afterwards.
"""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.servers.common import free_port, unavailable, wait_for_port

K8S_VERSION = os.environ.get("FAULTLINE_K8S_VERSION", "v1.36.3")
_CACHE = Path(os.environ.get("FAULTLINE_CACHE", Path.home() / ".cache" / "faultline"))
ADMIN_TOKEN = "faultline-admin-" + uuid.uuid4().hex
NOBODY_TOKEN = "faultline-nobody-" + uuid.uuid4().hex


@dataclass
class KubeCluster:
    url: str
    ca_file: Path
    kubeconfig: Path
    admin_token: str
    nobody_token: str
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def configuration(self, token: str | None = None):  # -> kubernetes.client.Configuration
        from kubernetes import client

        config = client.Configuration()
        config.host = self.url
        config.ssl_ca_cert = str(self.ca_file)
        config.verify_ssl = True
        config.api_key = {"authorization": f"Bearer {token or self.admin_token}"}
        return config

    def api_client(self, token: str | None = None):  # -> kubernetes.client.ApiClient
        from kubernetes import client

        return client.ApiClient(self.configuration(token))

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=5)


def _binary() -> str:
    cached = _CACHE / "bin" / f"kube-apiserver-{K8S_VERSION}"
    if cached.is_file() and os.access(cached, os.X_OK):
        return str(cached)
    found = shutil.which("kube-apiserver")
    if found:
        return found
    unavailable(f"kube-apiserver {K8S_VERSION} not built (run .ci/services/kubernetes.sh)")
    raise AssertionError("unreachable")


def _run(args: list[str]) -> None:
    done = subprocess.run(args, capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise AssertionError(f"{args[0]} failed: {done.stderr.strip()}")


def _make_pki(root: Path) -> tuple[Path, Path, Path, Path]:
    """A CA, a serving certificate for 127.0.0.1 signed by it, and the service-account signing key pair."""
    ca_key, ca_crt = root / "ca.key", root / "ca.crt"
    key, csr, crt = root / "apiserver.key", root / "apiserver.csr", root / "apiserver.crt"
    sa_key, sa_pub = root / "sa.key", root / "sa.pub"
    ext = root / "san.ext"
    _run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key), "-out", str(ca_crt),
          "-days", "2", "-subj", "/CN=faultline-test-ca"])
    _run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr),
          "-subj", "/CN=kube-apiserver"])
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n", encoding="utf-8")
    _run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca_crt), "-CAkey", str(ca_key), "-CAcreateserial",
          "-out", str(crt), "-days", "2", "-extfile", str(ext)])
    _run(["openssl", "genrsa", "-out", str(sa_key), "2048"])
    _run(["openssl", "rsa", "-in", str(sa_key), "-pubout", "-out", str(sa_pub)])
    return ca_crt, crt, key, sa_key


def _wait_ready(url: str, ca_file: Path, token: str, process: subprocess.Popen[bytes], timeout_s: float) -> bool:
    context = ssl.create_default_context(cafile=str(ca_file))
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        request = urllib.request.Request(f"{url}/readyz", headers={"Authorization": f"Bearer {token}"})
        try:
            with urllib.request.urlopen(request, context=context, timeout=2) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    return False


def _kubeconfig(path: Path, url: str, ca_file: Path, token: str) -> None:
    path.write_text(
        "\n".join([
            "apiVersion: v1",
            "kind: Config",
            "clusters:",
            "- name: faultline-test",
            "  cluster:",
            f"    server: {url}",
            f"    certificate-authority: {ca_file}",
            "users:",
            "- name: admin",
            "  user:",
            f"    token: {token}",
            "contexts:",
            "- name: faultline-test",
            "  context: {cluster: faultline-test, user: admin}",
            "current-context: faultline-test",
            "",
        ]),
        encoding="utf-8",
    )


@pytest.fixture(scope="session")
def kube_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeCluster]:
    apiserver = _binary()
    etcd = shutil.which("etcd")
    if not etcd:
        unavailable("etcd not installed (run .ci/services/kubernetes.sh)")
    if not shutil.which("openssl"):
        unavailable("openssl not installed")
    root = tmp_path_factory.mktemp("kube")
    ca_crt, crt, key, sa_key = _make_pki(root)
    (root / "tokens.csv").write_text(
        f'{ADMIN_TOKEN},admin,uid-admin,"system:masters"\n{NOBODY_TOKEN},nobody,uid-nobody\n', encoding="utf-8"
    )
    etcd_port, peer_port, api_port = free_port(), free_port(), free_port()
    logs = root / "logs"
    logs.mkdir()
    cluster = KubeCluster(
        url=f"https://127.0.0.1:{api_port}", ca_file=ca_crt, kubeconfig=root / "kubeconfig",
        admin_token=ADMIN_TOKEN, nobody_token=NOBODY_TOKEN,
    )
    with (logs / "etcd.log").open("wb") as log:
        cluster.processes.append(subprocess.Popen(
            [etcd, "--name", "faultline", "--data-dir", str(root / "etcd"),
             "--listen-client-urls", f"http://127.0.0.1:{etcd_port}",
             "--advertise-client-urls", f"http://127.0.0.1:{etcd_port}",
             "--listen-peer-urls", f"http://127.0.0.1:{peer_port}",
             "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer_port}",
             "--initial-cluster", f"faultline=http://127.0.0.1:{peer_port}",
             "--unsafe-no-fsync", "--log-level", "warn"],
            stdout=log, stderr=subprocess.STDOUT,
        ))
    try:
        if not wait_for_port(etcd_port, 30):
            unavailable(f"etcd did not listen on {etcd_port}: {(logs / 'etcd.log').read_text(errors='replace')[-1500:]}")
        with (logs / "kube-apiserver.log").open("wb") as log:
            process = subprocess.Popen(
                [apiserver,
                 f"--etcd-servers=http://127.0.0.1:{etcd_port}",
                 "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", f"--secure-port={api_port}",
                 f"--tls-cert-file={crt}", f"--tls-private-key-file={key}", f"--client-ca-file={ca_crt}",
                 f"--token-auth-file={root / 'tokens.csv'}",
                 "--authorization-mode=RBAC",
                 "--service-account-issuer=https://kubernetes.default.svc",
                 f"--service-account-key-file={sa_key}", f"--service-account-signing-key-file={sa_key}",
                 "--service-cluster-ip-range=10.96.0.0/24",
                 # No controller-manager creates the "default" ServiceAccount, so pods would be refused without it.
                 "--disable-admission-plugins=ServiceAccount",
                 f"--cert-dir={root / 'certs'}",
                 "--event-ttl=24h",
                 "--profiling=false", "--v=1"],
                stdout=log, stderr=subprocess.STDOUT,
            )
        cluster.processes.append(process)
        if not _wait_ready(cluster.url, ca_crt, ADMIN_TOKEN, process, timeout_s=120):
            tail = (logs / "kube-apiserver.log").read_text(errors="replace")[-3000:]
            unavailable(f"kube-apiserver did not become ready on {api_port}: {tail}")
        _kubeconfig(cluster.kubeconfig, cluster.url, ca_crt, ADMIN_TOKEN)
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def kube_namespace(kube_cluster: KubeCluster) -> Iterator[str]:
    """A fresh namespace for one test (name ``t-<hex>``), deleted at teardown."""
    from kubernetes import client

    name = "t-" + uuid.uuid4().hex[:10]
    with kube_cluster.api_client() as api:
        core = client.CoreV1Api(api)
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
        try:
            yield name
        finally:
            try:
                core.delete_namespace(name)
            except client.ApiException:
                pass


@dataclass
class FaultProxy:
    """Plain-HTTP proxy on 127.0.0.1 in front of the real API server that answers chosen paths with an error."""

    url: str
    upstream: KubeCluster
    failures: dict[str, int]
    server: object

    def configuration(self, token: str | None = None):  # -> kubernetes.client.Configuration
        config = self.upstream.configuration(token)
        config.host = self.url
        return config

    def api_client(self, token: str | None = None):
        from kubernetes import client

        return client.ApiClient(self.configuration(token))


@pytest.fixture
def kube_fault_proxy(kube_cluster: KubeCluster) -> Iterator[Callable[[dict[str, int]], FaultProxy]]:
    """``kube_fault_proxy({"/events": 500})``: requests whose path contains a key get that status (a Kubernetes
    ``Status`` body, as the API server sends); every other request is forwarded to the real API server."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    servers: list[ThreadingHTTPServer] = []
    context = ssl.create_default_context(cafile=str(kube_cluster.ca_file))

    def start(failures: dict[str, int]) -> FaultProxy:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server API
                for fragment, status in failures.items():
                    if fragment in self.path:
                        body = json.dumps({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                           "message": f"injected failure for {self.path}", "code": status,
                                           "reason": "InternalError" if status >= 500 else "Forbidden"}).encode()
                        self.send_response(status)
                        self.send_header("Content-Type", "application/json")
                        self.send_header("Content-Length", str(len(body)))
                        self.end_headers()
                        self.wfile.write(body)
                        return
                request = urllib.request.Request(kube_cluster.url + self.path, headers={
                    "Authorization": self.headers.get("Authorization", ""), "Accept": "application/json"})
                try:
                    with urllib.request.urlopen(request, context=context, timeout=30) as response:
                        status, body = response.status, response.read()
                except urllib.error.HTTPError as exc:
                    status, body = exc.code, exc.read()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                return

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return FaultProxy(url=f"http://127.0.0.1:{server.server_address[1]}", upstream=kube_cluster,
                          failures=failures, server=server)

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
