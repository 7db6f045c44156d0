"""The re-ranking terms on small graphs built to trip a naive ranker: quiet causes under loud dependents, harmless
rollouts, callers that get loud from retries, an old unrelated restart."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from correlators import Change, Incident, correlate
from detectors import Anomaly
from rca import rank
from topology import Entity, Relation, Subgraph

T = datetime(2026, 11, 20, 11, tzinfo=timezone.utc)


def _sub(relations: list[tuple[str, str, str]], extra: tuple[Relation, ...] = ()) -> Subgraph:
    rels = tuple(Relation(src=a, kind=k, dst=b) for a, k, b in relations) + extra
    ids = sorted({r.src for r in rels} | {r.dst for r in rels})
    return Subgraph(root="app:web", entities=tuple(Entity(id=i, kind=i.split(":")[0]) for i in ids), relations=rels)


def _a(entity: str, metric: str, minutes_before: float, score: float, detector: str = "robust_z") -> Anomaly:
    return Anomaly(entity=entity, metric=metric, onset=T - timedelta(minutes=minutes_before), score=score,
                   direction="up", detector=detector)


def _top(sub: Subgraph, anomalies: list[Anomaly], changes: list[Change] = (), metric: str = "latency_p95_s") -> list[str]:
    incident = Incident(symptom="app:web", metric=metric, at=T)
    return [c.entity for c in rank(sub, correlate(sub, anomalies, list(changes)), incident)]


def test_quiet_gpu_under_loud_model_endpoint() -> None:
    sub = _sub([("app:web", "CALLS", "llm:m"), ("llm:m", "RUNS_ON", "pod:vllm-0"), ("pod:vllm-0", "USES", "gpu:g0")])
    anomalies = [
        _a("app:web", "latency_p95_s", 5, 20), _a("llm:m", "ttft_p95_s", 6, 20), _a("llm:m", "queue_len", 6, 15),
        _a("gpu:g0", "xid_errors", 7, 10, detector="step"),
    ]
    assert _top(sub, anomalies)[0] == "gpu:g0"


def test_harmless_rollout_does_not_beat_the_slow_database() -> None:
    sub = _sub(
        [("app:web", "CALLS", "app:rag"), ("app:rag", "QUERIES", "vectordb:v"), ("app:web", "RUNS_ON", "pod:web-0"),
         ("image:new", "BUILT_FROM", "commit:c1")],
        extra=(Relation(src="pod:web-0", kind="RUNS", dst="image:new", valid_from=T - timedelta(minutes=12)),),
    )
    change = Change(entity="pod:web-0", kind="image_swap", at=T - timedelta(minutes=12), after="image:new", commit="commit:c1")
    anomalies = [_a("vectordb:v", "query_latency_p95_s", 8, 20), _a("app:rag", "latency_p95_s", 7, 18),
                 _a("app:web", "latency_p95_s", 6, 15)]
    ranked = _top(sub, anomalies, [change])
    assert ranked[0] == "vectordb:v"
    assert "commit:c1" not in ranked[:2]


def test_bad_rollout_beats_the_service_it_slowed() -> None:
    sub = _sub(
        [("app:web", "CALLS", "llm:m"), ("llm:m", "RUNS_ON", "pod:vllm-0"), ("image:new", "BUILT_FROM", "commit:c1")],
        extra=(Relation(src="pod:vllm-0", kind="RUNS", dst="image:new", valid_from=T - timedelta(minutes=9)),),
    )
    change = Change(entity="pod:vllm-0", kind="image_swap", at=T - timedelta(minutes=9), after="image:new", commit="commit:c1")
    anomalies = [_a("llm:m", "ttft_p95_s", 7, 20), _a("app:web", "latency_p95_s", 6, 15)]
    assert _top(sub, anomalies, [change])[0] in {"image:new", "commit:c1", "pod:vllm-0"}


def test_caller_loud_from_retries_is_not_the_cause() -> None:
    sub = _sub([("app:web", "CALLS", "app:tools"), ("app:web", "RUNS_ON", "pod:web-0")])
    anomalies = [_a("app:tools", "error_rate", 8, 20), _a("app:web", "error_rate", 7, 20),
                 _a("pod:web-0", "cpu_usage", 6, 20)]
    assert _top(sub, anomalies, metric="error_rate")[0] == "app:tools"


def test_old_recovered_restart_is_not_the_cause() -> None:
    sub = _sub([("app:web", "CALLS", "app:api"), ("app:api", "RUNS_ON", "pod:api-0"), ("app:web", "RUNS_ON", "pod:web-0"),
                ("pod:api-0", "SCHEDULED_ON", "node:n1")])
    anomalies = [_a("pod:web-0", "event:BackOff", 50, 8, detector="event"), _a("node:n1", "cpu_usage", 8, 9),
                 _a("app:api", "latency_p95_s", 7, 15), _a("app:web", "latency_p95_s", 6, 12)]
    assert _top(sub, anomalies)[0] == "node:n1"
