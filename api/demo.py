"""The bundled demo: a DeepSeek-style chatbot with RAG where a vLLM image rollout goes wrong.

World: users → chat frontend → RAG service → LLM endpoint (two vLLM pods on two GPUs of one node) plus a vector DB and
an embedding service. At 10:50 the vLLM pods roll out an image built from a real git commit (made here with GitPython
in a temporary repository) that lowers ``max_num_seqs``; requests queue up, TTFT rises, and chat latency follows.
Distractors: a harmless rollout of the embedding service 20 minutes earlier and a noisy, spiky vector-DB CPU series.

The world is written in the case format, so the demo runs exactly the code path of ``faultline analyze``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
from git import Actor, Repo

from topology.timeutil import iso

START = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)
ALERT_AT = datetime(2026, 11, 20, 11, 0, tzinfo=timezone.utc)
ROLLOUT_AT = datetime(2026, 11, 20, 10, 50, tzinfo=timezone.utc)
HARMLESS_ROLLOUT_AT = datetime(2026, 11, 20, 10, 30, tzinfo=timezone.utc)
STEP_S = 30
SYMPTOM = "user:deepseek-chat-users"
AUTHOR = Actor("Dana Dev", "dana@example.com")


@dataclass(frozen=True)
class DemoWorld:
    """Ids and times of the demo, for tests and collectors that rebuild the same world elsewhere."""

    case_dir: Path
    repo_dir: Path
    good_commit: str
    bad_commit: str
    old_image: str
    new_image: str
    symptom: str = SYMPTOM


def _commit(repo: Repo, path: str, text: str, message: str, when: datetime) -> str:
    file = Path(repo.working_tree_dir) / path
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(text)
    repo.index.add([path])
    stamp = when.strftime("%Y-%m-%dT%H:%M:%S+0000")
    return repo.index.commit(message, author=AUTHOR, committer=AUTHOR, author_date=stamp, commit_date=stamp).hexsha


def make_repo(repo_dir: Path) -> tuple[str, str, str]:
    """A real git history for the vLLM deployment and the embedder: returns (good, bad, embedder) shas."""
    repo = Repo.init(repo_dir)
    values = "model: deepseek-ai/DeepSeek-R1-Distill-Qwen-7B\nmax_num_seqs: {n}\ngpu_memory_utilization: 0.90\n"
    good = _commit(repo, "deploy/vllm/values.yaml", values.format(n=256), "vllm: pin 0.6.3, max_num_seqs 256",
                   START - timedelta(days=2))
    embedder = _commit(repo, "deploy/embedder/values.yaml", "replicas: 2\nlog_level: info\n",
                       "embedder: log level info", HARMLESS_ROLLOUT_AT - timedelta(minutes=15))
    bad = _commit(repo, "deploy/vllm/values.yaml", values.format(n=32),
                  "vllm: lower max_num_seqs to 32 to cut KV-cache memory", ROLLOUT_AT - timedelta(minutes=12))
    return good, bad, embedder


def _image(name: str, commit: str) -> str:
    return f"image:{name}@sha256:{hashlib.sha256(commit.encode()).hexdigest()}"


def build_demo_case(directory: str | Path, seed: int = 7) -> DemoWorld:
    """Write the demo world (git repo + case files) under ``directory``."""
    root = Path(directory)
    case_dir, repo_dir = root / "case", root / "repo"
    case_dir.mkdir(parents=True, exist_ok=True)
    good, bad, embedder_commit = make_repo(repo_dir)
    old_vllm, new_vllm = _image("vllm/vllm-openai", good), _image("vllm/vllm-openai", bad)
    emb_old, emb_new = _image("rag/embedder", good + "emb"), _image("rag/embedder", embedder_commit)
    app_images = {name: _image(f"chat/{name}", good + name) for name in ("chat-frontend", "rag-service", "milvus")}

    entities: list[dict] = []

    def entity(eid: str, **attrs: object) -> str:
        entities.append({"id": eid, "kind": eid.split(":", 1)[0], "attrs": attrs})
        return eid

    relations: list[dict] = []

    def rel(src: str, kind: str, dst: str, valid_from: datetime | None = START - timedelta(days=1),
            valid_to: datetime | None = None) -> None:
        relations.append({"src": src, "kind": kind, "dst": dst, "valid_from": iso(valid_from), "valid_to": iso(valid_to)})

    users = entity(SYMPTOM, description="DeepSeek chat users (web + app)")
    chat = entity("app:chat-frontend", namespace="prod")
    rag = entity("app:rag-service", namespace="prod")
    embedder = entity("app:embedder", namespace="prod")
    llm = entity("llm:deepseek-r1@vllm", model="deepseek-ai/DeepSeek-R1-Distill-Qwen-7B", engine="vllm")
    vdb = entity("vectordb:milvus", engine="milvus")
    gpu_node = entity("node:gpu-node-1", gpu_product="NVIDIA-A100-SXM4-80GB")
    cpu_node = entity("node:cpu-node-1")
    pods = {name: entity(f"pod:prod/{name}", namespace="prod") for name in
            ("chat-frontend-0", "rag-service-0", "embedder-0", "milvus-0", "vllm-0", "vllm-1")}
    gpus = [entity(f"gpu:gpu-node-1/{i}", uuid=f"GPU-{i:08x}-demo", model="A100") for i in range(2)]
    for image, commit in ((old_vllm, good), (new_vllm, bad), (emb_old, good), (emb_new, embedder_commit),
                          *((img, good) for img in app_images.values())):
        if not any(e["id"] == image for e in entities):
            entity(image)
        if not any(e["id"] == f"commit:{commit}" for e in entities):
            entity(f"commit:{commit}", repo=str(repo_dir))
        rel(image, "BUILT_FROM", f"commit:{commit}")

    rel(users, "CALLS", chat)
    rel(chat, "CALLS", rag)
    rel(rag, "CALLS", llm)
    rel(rag, "CALLS", embedder)
    rel(rag, "QUERIES", vdb)
    for app, pod in ((chat, "chat-frontend-0"), (rag, "rag-service-0"), (embedder, "embedder-0"), (vdb, "milvus-0")):
        rel(app, "RUNS_ON", pods[pod])
        rel(pods[pod], "SCHEDULED_ON", cpu_node)
    for name in ("chat-frontend", "rag-service", "milvus"):
        rel(pods[f"{name}-0"], "RUNS", app_images[name])
    rel(pods["embedder-0"], "RUNS", emb_old, valid_to=HARMLESS_ROLLOUT_AT)
    rel(pods["embedder-0"], "RUNS", emb_new, valid_from=HARMLESS_ROLLOUT_AT)
    swap_times = {"vllm-0": ROLLOUT_AT, "vllm-1": ROLLOUT_AT + timedelta(seconds=45)}
    for i, name in enumerate(("vllm-0", "vllm-1")):
        rel(llm, "RUNS_ON", pods[name])
        rel(pods[name], "SCHEDULED_ON", gpu_node)
        rel(pods[name], "USES", gpus[i])
        rel(gpus[i], "ATTACHED_TO", gpu_node)
        rel(pods[name], "RUNS", old_vllm, valid_to=swap_times[name])
        rel(pods[name], "RUNS", new_vllm, valid_from=swap_times[name])

    (case_dir / "topology.json").write_text(json.dumps({"entities": entities, "relations": relations}, indent=1))
    _write_metrics(case_dir / "metrics.csv", seed, pods, gpus, swap_times)
    bad_message = "vllm: lower max_num_seqs to 32 to cut KV-cache memory"
    changes = [
        {"entity": pods[name], "kind": "image_swap", "at": iso(at), "before": old_vllm, "after": new_vllm,
         "commit": f"commit:{bad}", "attrs": {"author": AUTHOR.email, "message": bad_message, "deployment": "prod/vllm"}}
        for name, at in swap_times.items()
    ] + [
        {"entity": pods["embedder-0"], "kind": "image_swap", "at": iso(HARMLESS_ROLLOUT_AT), "before": emb_old,
         "after": emb_new, "commit": f"commit:{embedder_commit}",
         "attrs": {"author": AUTHOR.email, "message": "embedder: log level info", "deployment": "prod/embedder"}},
    ]
    (case_dir / "changes.json").write_text(json.dumps(changes, indent=1))
    events = [
        {"entity": pods["vllm-0"], "reason": "Unhealthy", "at": iso(ROLLOUT_AT + timedelta(minutes=4)),
         "message": "Readiness probe failed: HTTP probe failed with statuscode: 503"},
        {"entity": pods["embedder-0"], "reason": "Killing", "at": iso(HARMLESS_ROLLOUT_AT),
         "message": "Stopping container embedder"},
    ]
    (case_dir / "events.json").write_text(json.dumps(events, indent=1))
    incident = {"symptom": SYMPTOM, "metric": "latency_p95_s", "at": iso(ALERT_AT), "lookback": "60m",
                "title": "DeepSeek chat: p95 answer latency above 4 s"}
    (case_dir / "incident.json").write_text(json.dumps(incident, indent=1))
    return DemoWorld(case_dir=case_dir, repo_dir=repo_dir, good_commit=good, bad_commit=bad,
                     old_image=old_vllm, new_image=new_vllm)


def _write_metrics(path: Path, seed: int, pods: dict[str, str], gpus: list[str],
                   swap_times: dict[str, datetime]) -> None:
    rng = np.random.default_rng(seed)
    times = START.timestamp() + STEP_S * np.arange(int((ALERT_AT - START).total_seconds() // STEP_S) + 1)
    daily = 1 + 0.05 * np.sin(2 * np.pi * (times - times[0]) / 7200)

    def after(moment: datetime, lag_s: float, ramp_s: float = 120.0) -> np.ndarray:
        """0 before the effect, ramping to 1 over ``ramp_s``."""
        return np.clip((times - moment.timestamp() - lag_s) / ramp_s, 0, 1)

    rows: list[tuple[str, str, np.ndarray]] = []

    def series(entity: str, metric: str, base: float, noise: float, effect: np.ndarray | float = 0.0) -> None:
        values = base * daily + rng.normal(0, noise, times.size) + effect
        rows.append((entity, metric, np.maximum(values, 0)))

    fault = after(ROLLOUT_AT, 60)
    series(SYMPTOM, "latency_p95_s", 1.6, 0.08, 3.4 * after(ROLLOUT_AT, 120))
    series(SYMPTOM, "error_rate", 0.002, 0.001, 0.01 * after(ROLLOUT_AT, 150))
    series("app:chat-frontend", "latency_p95_s", 1.5, 0.08, 3.3 * after(ROLLOUT_AT, 110))
    series("app:chat-frontend", "rps", 42, 2.0)
    series("app:chat-frontend", "cpu_usage", 0.35, 0.03)
    series("app:rag-service", "latency_p95_s", 1.3, 0.07, 3.2 * after(ROLLOUT_AT, 95))
    series("app:rag-service", "cpu_usage", 0.4, 0.03, 0.05 * after(ROLLOUT_AT, 100))
    series("app:embedder", "latency_p95_s", 0.05, 0.004)
    series("vectordb:milvus", "query_latency_p95_s", 0.08, 0.006)
    spikes = (rng.random(times.size) < 0.04) * rng.uniform(0.3, 0.5, times.size)
    series(pods["milvus-0"], "cpu_usage", 0.3, 0.08, spikes)
    series("llm:deepseek-r1@vllm", "ttft_p95_s", 0.45, 0.03, 2.6 * after(ROLLOUT_AT, 75))
    series("llm:deepseek-r1@vllm", "tpot_p95_s", 0.032, 0.002, 0.004 * fault)
    series("llm:deepseek-r1@vllm", "tokens_per_s", 2400, 60, -700 * after(ROLLOUT_AT, 75))
    for name, at in swap_times.items():
        pod_fault = after(at, 45)
        series(pods[name], "queue_len", 2, 0.8, 38 * pod_fault)
        series(pods[name], "ttft_p95_s", 0.45, 0.03, 2.7 * pod_fault)
        series(pods[name], "kv_cache_usage", 0.62, 0.03, -0.3 * pod_fault)
        series(pods[name], "restarts", 0, 0)
    for gpu in gpus:
        series(gpu, "gpu_util", 0.78, 0.04, -0.25 * fault)
        series(gpu, "gpu_temp_c", 66, 1.2)
        series(gpu, "xid_errors", 0, 0)
    series("node:gpu-node-1", "cpu_usage", 0.22, 0.03)
    series("node:cpu-node-1", "cpu_usage", 0.5, 0.04)
    with path.open("w", encoding="utf-8") as handle:
        handle.write("timestamp,entity,metric,value\n")
        stamps = [iso(datetime.fromtimestamp(t, tz=timezone.utc)) for t in times]
        for entity_id, metric, values in rows:
            handle.writelines(f"{s},{entity_id},{metric},{v:.6g}\n" for s, v in zip(stamps, values))
