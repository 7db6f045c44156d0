"""Hand-built analyses with known content: the demo incident frozen (for golden prompts) and a huge synthetic one.

Built directly from the ``rca`` models, not through the pipeline, so the golden prompt changes only when the narrator
changes, not when the ranker's scores move.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np

from correlators.models import Change, Evidence, Incident
from detectors.models import Anomaly
from rca.models import Analysis, Candidate, ChainHop, FaultChain, ScoreTerms

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=timezone.utc)
ALERT = datetime(2026, 11, 20, 11, 0, tzinfo=timezone.utc)
BAD_COMMIT = "commit:f7b7890d603b48f4c5b8a4bb19904f703ab972ac"
OLD_IMAGE = "image:vllm/vllm-openai@sha256:2518a2897b3dfc993031c89f53ae6b3db2f5b031b634af46839be871c223356d"
NEW_IMAGE = "image:vllm/vllm-openai@sha256:2f9a9f9d28834a07056e9a1c481548416382d8e933695703716c4e936c4aff12"
COMMIT_MESSAGE = "vllm: lower max_num_seqs to 32 to cut KV-cache memory"
AUTHOR = "dana@example.com"
SYMPTOM = "user:deepseek-chat-users"
CHAIN = (BAD_COMMIT, NEW_IMAGE, "pod:prod/vllm-1", "llm:deepseek-r1@vllm", "app:rag-service", "app:chat-frontend", SYMPTOM)
TERMS = ScoreTerms(walk=1.0, anomaly=0.5, precedence=1.0, change=0.9, distance=0.2)


def _at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def _anomaly(entity: str, metric: str, minute: float, baseline: float, current: float, score: float) -> Anomaly:
    return Anomaly(
        entity=entity, metric=metric, onset=_at(minute), score=score, direction="up" if current > baseline else "down",
        detector="robust_z", baseline=baseline, current=current,
    )


def _anomaly_evidence(a: Anomaly) -> Evidence:
    return Evidence(
        kind="anomaly", entity=a.entity, at=a.onset, weight=a.severity, metric=a.metric, baseline=a.baseline,
        current=a.current,
        summary=f"{a.metric} {a.direction} from {a.baseline:.4g} to {a.current:.4g} (robust z {a.score:.1f}) since {a.onset:%H:%M:%S}",
    )


def demo_like_analysis() -> Analysis:
    """The demo incident (bad vLLM rollout from a commit lowering max_num_seqs), frozen by hand."""
    swap = Change(
        entity="pod:prod/vllm-1", kind="image_swap", at=_at(50.75), before=OLD_IMAGE, after=NEW_IMAGE, commit=BAD_COMMIT,
        attrs={"author": AUTHOR, "message": COMMIT_MESSAGE, "deployment": "prod/vllm"},
    )
    harmless = Change(
        entity="pod:prod/embedder-0", kind="image_swap", at=_at(30), before="image:rag/embedder@sha256:" + "a1" * 32,
        after="image:rag/embedder@sha256:" + "b2" * 32, commit="commit:" + "35acabd0" * 5,
        attrs={"author": AUTHOR, "message": "embedder: log level info"},
    )
    anomalies = (
        _anomaly("pod:prod/vllm-1", "ttft_p95_s", 52, 0.466, 3.16, 20.0),
        _anomaly("pod:prod/vllm-1", "queue_len", 52, 1.977, 39.78, 19.5),
        _anomaly("llm:deepseek-r1@vllm", "ttft_p95_s", 52, 0.4643, 3.051, 20.0),
        _anomaly("app:rag-service", "latency_p95_s", 52.5, 1.35, 4.443, 19.9),
        _anomaly("app:chat-frontend", "latency_p95_s", 52.5, 1.545, 4.753, 19.8),
        _anomaly(SYMPTOM, "latency_p95_s", 52.5, 1.643, 4.941, 19.5),
    )
    change_evidence = Evidence(
        kind="change", entity=BAD_COMMIT, at=swap.at, weight=0.9, change=swap, explains=("pod:prod/vllm-1",),
        summary=(
            f"image_swap on pod:prod/vllm-1 at 10:50:45: {OLD_IMAGE[:42]} → {NEW_IMAGE[:42]} "
            f"(commit:f7b7890d603b \"{COMMIT_MESSAGE}\" by {AUTHOR}); 1.2 min before ttft_p95_s went up on pod:prod/vllm-1"
        ),
    )
    top = Candidate(
        entity=BAD_COMMIT, kind="commit", score=0.688, terms=TERMS, evidence=(change_evidence,),
        chain=FaultChain(hops=tuple(ChainHop(entity=e) for e in CHAIN)),
    )
    pod = Candidate(
        entity="pod:prod/vllm-1", kind="pod", score=0.674, terms=TERMS,
        evidence=(_anomaly_evidence(anomalies[0]), _anomaly_evidence(anomalies[1])),
        chain=FaultChain(hops=tuple(ChainHop(entity=e) for e in CHAIN[2:])),
    )
    return Analysis(
        incident=Incident(symptom=SYMPTOM, metric="latency_p95_s", at=ALERT, title="DeepSeek chat: p95 answer latency above 4 s"),
        candidates=(top, pod), anomalies=anomalies, changes=(harmless, swap),
    )


def large_analysis(n_entities: int = 5000, seed: int = 0) -> Analysis:
    """A 5,000-entity incident: every entity anomalous, hundreds of changes, 50 candidates with long chains."""
    rng = np.random.default_rng(seed)
    pods = [f"pod:prod/svc-{i:04d}" for i in range(n_entities)]
    anomalies = tuple(
        _anomaly(p, "latency_p95_s", float(rng.uniform(5, 55)), 1.0, float(rng.uniform(2, 9)), float(rng.uniform(3, 40)))
        for p in pods
    )
    changes = tuple(
        Change(
            entity=pods[i], kind="rollout", at=_at(float(rng.uniform(0, 55))), commit=f"commit:{rng.integers(16**12):012x}",
            attrs={"author": f"dev{i}@example.com", "message": f"svc-{i}: tune pool size " + "x" * 200},
        )
        for i in range(0, n_entities, 10)
    )
    candidates = []
    for rank in range(50):
        chain = tuple(pods[(rank * 97 + hop) % n_entities] for hop in range(12)) + (SYMPTOM,)
        evidence = tuple(_anomaly_evidence(anomalies[(rank * 13 + k) % n_entities]) for k in range(20))
        candidates.append(
            Candidate(entity=chain[0], kind="pod", score=round(0.9 - rank * 0.01, 3), terms=TERMS, evidence=evidence,
                      chain=FaultChain(hops=tuple(ChainHop(entity=e) for e in chain)))
        )
    return Analysis(
        incident=Incident(symptom=SYMPTOM, metric="latency_p95_s", at=ALERT, title="fleet-wide latency"),
        candidates=tuple(candidates), anomalies=anomalies, changes=changes,
    )
