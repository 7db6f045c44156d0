"""Acceptance: the demo's world built for real — objects in a real Kubernetes API, a git repository, spans from the
OpenTelemetry SDK, series in a real Prometheus — then ``faultline collect`` (the CLI, in a subprocess) twice around
a bad rollout, then an analysis of the user-facing symptom. The top cause must be the rolled-out image's commit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import git
import pytest

from api.collect import analyze_collected, load_collected
from correlators.models import Incident
from tests.servers.exporter import HistorySeries, openmetrics_history
from tests.servers.kube_objects import KubeWriter, digest_of
from tests.servers.otlp import Services, chat_request
from topology import MemoryStore

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MODEL = "deepseek-r1"
LLM = {"labels": {"app.kubernetes.io/name": "vllm"}, "annotations": {"faultline.io/entity": f"llm:{MODEL}"}}


def _repo(root: Path) -> tuple[str, str, str]:
    repository = git.Repo.init(root / "serving")
    with repository.config_writer() as config:
        config.set_value("user", "name", "Ana")
        config.set_value("user", "email", "ana@example.com")
    path = root / "serving" / "vllm.yaml"
    path.write_text("max_num_seqs: 256\ngpu_memory_utilization: 0.9\n")
    repository.index.add(["vllm.yaml"])
    good = repository.index.commit("serve deepseek-r1 on vLLM").hexsha
    path.write_text("max_num_seqs: 8\ngpu_memory_utilization: 0.9\n")
    repository.index.add(["vllm.yaml"])
    bad = repository.index.commit("lower max_num_seqs to save memory").hexsha
    return repository.working_dir, good, bad


def _collect(*args: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAULTLINE_")}
    done = subprocess.run([sys.executable, "-m", "api.cli", "-v", "collect", "--json", *args],
                          capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, f"collect failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_collect_then_analyze_finds_the_rolled_out_commit(
    tmp_path, kube_cluster, kube_namespace, prometheus_factory, metrics_exporter, otlp_receiver
):
    ns = kube_namespace
    node = f"gpu-node-{uuid.uuid4().hex[:6]}"
    repo, good, bad = _repo(tmp_path)
    graph, out = tmp_path / "graph.json", tmp_path / "collected"
    common = ["--kubeconfig", str(kube_cluster.kubeconfig), "--namespace", ns, "--git-repo", repo,
              "--graph", str(graph), "--out", str(out)]

    # -- the cluster before the rollout: chat -> rag -> vLLM (deepseek-r1 on 2 GPUs), milvus ---------------------------
    t0 = time.time()
    with kube_cluster.api_client() as api:
        kube = KubeWriter(api, ns)
        kube.node(node, gpus=4, product="NVIDIA-H100-80GB-HBM3")
        for name, labels, notes, image in (
            ("chat", {"app.kubernetes.io/name": "chat"}, {}, "registry.local/chat:1.4"),
            ("rag", {"app.kubernetes.io/name": "rag"}, {}, "registry.local/rag:2.0"),
            ("milvus", {"app.kubernetes.io/name": "milvus"}, {"faultline.io/entity": "vectordb:milvus"},
             "milvusdb/milvus:v2.4.4"),
        ):
            kube.deployment(name, labels=labels, annotations=notes, image=image)
            rs = kube.replicaset(name, revision=1, image=image, labels=labels, annotations=notes)
            kube.pod(f"{name}-0", replicaset=rs, node=node, image=image, labels=labels, annotations=notes,
                     started=datetime.now(timezone.utc) - timedelta(hours=2))
        kube.deployment("vllm", image="registry.local/vllm:v1", gpus=2, **LLM)
        rs1 = kube.replicaset("vllm", revision=1, image="registry.local/vllm:v1", gpus=2, **LLM)
        kube.pod("vllm-a", replicaset=rs1, node=node, image="registry.local/vllm:v1", gpus=2,
                 labels=LLM["labels"], annotations={**LLM["annotations"], "org.opencontainers.image.revision": good},
                 started=datetime.now(timezone.utc) - timedelta(hours=2))
    first = _collect(*common)
    assert all(s["ok"] for s in first["sources"]), first

    # -- Prometheus: 30 min of healthy vLLM history, then the live exporter (same series) ------------------------------
    # Scraped as Kubernetes targets are: the target's own pod label turns dcgm-exporter's "pod" into "exported_pod".
    exporter_pod = {"pod": "dcgm-exporter-7xk2p", "namespace": "gpu-operator"}
    target = {"instance": metrics_exporter.address, "job": "exporter", **exporter_pod}
    vllm = {**target, "model_name": MODEL}
    history = [t0 - 1800 + 5 * i for i in range(358)]
    prom = prometheus_factory({metrics_exporter.address: exporter_pod}, backfill=openmetrics_history([
        HistorySeries("vllm:num_requests_waiting", vllm, [(t, 1.0 + (i % 3)) for i, t in enumerate(history)]),
        HistorySeries("vllm:kv_cache_usage_perc", vllm, [(t, 0.5 + 0.01 * (i % 4)) for i, t in enumerate(history)]),
        *(HistorySeries("DCGM_FI_DEV_GPU_UTIL", {**target, "gpu": gpu, "UUID": f"GPU-{gpu}", "Hostname": node,
                                                  "exported_pod": "vllm-a", "exported_namespace": ns},
                        [(t, 60.0 + (i % 5)) for i, t in enumerate(history)]) for gpu in ("2", "3")),
    ]))
    metrics_exporter.set_gauge("vllm:num_requests_waiting", {"model_name": MODEL}, 2)
    metrics_exporter.set_gauge("vllm:kv_cache_usage_perc", {"model_name": MODEL}, 0.52)
    for gpu in ("2", "3"):  # the device plugin gave vllm-a GPUs 2 and 3 (not the first-fit guess 0 and 1)
        metrics_exporter.set_gauge("DCGM_FI_DEV_GPU_UTIL", {"gpu": gpu, "UUID": f"GPU-{gpu}", "Hostname": node,
                                                            "pod": "vllm-a", "namespace": ns}, 62)
    prom.wait_for("vllm:num_requests_waiting")

    # -- the rollout: revision 2 runs the image built from the bad commit ---------------------------------------------
    with kube_cluster.api_client() as api:
        kube = KubeWriter(api, ns)
        kube.deployments["vllm"] = kube.apps.read_namespaced_deployment("vllm", ns)
        rs2 = kube.replicaset("vllm", revision=2, image="registry.local/vllm:v2", gpus=2, **LLM)
        rollout_at = time.time()
        kube.scale_replicaset(rs1, 0)
        kube.delete_pod("vllm-a")
        kube.pod("vllm-b", replicaset=rs2, node=node, image="registry.local/vllm:v2", gpus=2,
                 labels=LLM["labels"], annotations={**LLM["annotations"], "org.opencontainers.image.revision": bad})
        kube.event(kind="Pod", name="vllm-b", reason="Unhealthy", message="Readiness probe failed: queue full",
                   at=datetime.now(timezone.utc) + timedelta(seconds=8))
    # max_num_seqs 8: requests queue up, KV cache fills; the GPU itself is fine.
    metrics_exporter.set_gauge("vllm:num_requests_waiting", {"model_name": MODEL}, 45)
    metrics_exporter.set_gauge("vllm:kv_cache_usage_perc", {"model_name": MODEL}, 0.98)
    metrics_exporter.clear("DCGM_FI_DEV_GPU_UTIL")
    for gpu in ("2", "3"):
        metrics_exporter.set_gauge("DCGM_FI_DEV_GPU_UTIL", {"gpu": gpu, "UUID": f"GPU-{gpu}", "Hostname": node,
                                                            "pod": "vllm-b", "namespace": ns}, 63)

    # -- traces: users -> chat -> rag -> milvus + streamed deepseek-r1; TTFT goes from 0.3 s to 2.5 s ------------------
    services = Services(otlp_receiver.traces_endpoint, ["chat", "rag"])
    # Same traffic before and after (one chat turn every 2 s): only the serving config changes.
    for i, start in enumerate(range(int(t0) - 1200, int(rollout_at), 2)):
        chat_request(services, start_s=start, user=f"user-{i % 4}", model=MODEL, ttft_s=0.3 + 0.02 * (i % 3))
    for i in range(14):
        chat_request(services, start_s=rollout_at + 1 + 2 * i, user=f"user-{i % 4}", model=MODEL,
                     ttft_s=2.5 + 0.1 * (i % 3))
    deadline = rollout_at + 32
    while time.time() < deadline:  # live scrapes of the degraded vLLM
        time.sleep(0.5)
    services.flush()
    services.shutdown()
    traces = tmp_path / "traces.jsonl"
    otlp_receiver.write_jsonl(traces)

    second = _collect(*common, "--prometheus", prom.url, "--step", "5", "--lookback", "40m",
                      "--traces", str(traces), "--trace-step", "5")
    by_source = {s["source"]: s for s in second["sources"]}
    assert set(by_source) == {"kubernetes", "traces", "git", "prometheus"}
    assert all(s["ok"] for s in second["sources"]), second
    assert by_source["kubernetes"]["counts"]["closed"] >= 4  # the old pod's relations
    assert by_source["git"]["counts"]["linked"] >= 1
    assert by_source["traces"]["counts"]["calls"] > 0 and not by_source["traces"]["skipped"]

    # -- analysis of the symptom: chat latency ----------------------------------------------------------------------
    store = MemoryStore(graph)
    new_image = f"image:{digest_of('registry.local/vllm:v2')}"
    assert {("llm:" + MODEL, "RUNS_ON", f"pod:{ns}/vllm-b"), (f"pod:{ns}/vllm-b", "RUNS", new_image),
            (new_image, "BUILT_FROM", f"commit:{bad}"), ("app:rag", "CALLS", f"llm:{MODEL}"),
            ("app:chat", "CALLS", "app:rag"), ("app:rag", "QUERIES", "vectordb:milvus")} <= {
        r.key for r in store.open_relations()}
    uses = {r.key: r.attrs.get("assignment") for r in store.open_relations() if r.kind.value == "USES"}
    assert uses == {(f"pod:{ns}/vllm-b", "USES", f"gpu:{node}/2"): "dcgm",
                    (f"pod:{ns}/vllm-b", "USES", f"gpu:{node}/3"): "dcgm"}, uses
    state = load_collected(out)
    rollout = [c for c in state.changes if c.kind == "rollout"]
    assert len(rollout) == 1 and rollout[0].commit == f"commit:{bad}"
    assert rollout[0].attrs["message"] == "lower max_num_seqs to save memory"

    incident = Incident(symptom="app:chat", metric="latency_p95_s",
                        at=datetime.fromtimestamp(rollout_at + 29, timezone.utc), lookback=timedelta(minutes=15),
                        title="chat p95 latency above 3 s")
    analysis = analyze_collected(store, out, incident, step_s=5)
    ranked = [c.entity for c in analysis.candidates]
    anomalous = {(a.entity, a.metric) for a in analysis.anomalies}
    assert ("app:chat", "latency_p95_s") in anomalous, anomalous
    assert (f"llm:{MODEL}", "ttft_p95_s") in anomalous, anomalous
    assert (f"llm:{MODEL}", "queue_len") in anomalous, anomalous
    assert ranked[0] == f"commit:{bad}", [(c.entity, round(c.score, 3)) for c in analysis.candidates[:5]]
    top = analysis.candidates[0]
    chain = top.chain.entities
    assert chain[:5] == [f"commit:{bad}", new_image, f"pod:{ns}/vllm-b", f"llm:{MODEL}", "app:rag"], chain
    assert "app:chat" in chain
    assert any(e.kind == "change" for e in top.evidence)
