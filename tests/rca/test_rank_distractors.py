"""The ranker on small incidents built to trip a naive ranker: quiet causes under loud dependents, harmless
rollouts, callers that get loud from retries, an old unrelated restart — with real series, through the model."""

from __future__ import annotations

import pytest

from correlators.models import Change
from detectors.models import Event

from .builders import World, services, top


@pytest.mark.xfail(strict=True, reason="known limitation of the fitted model (BENCHMARKS.md, issue 14): a quiet early "
                   "cause under a loud dependent loses to the dependent; generated gpu_fault AC@1 is low")
def test_quiet_gpu_under_loud_model_endpoint() -> None:
    w = World(seed=21)
    w.chain("user:u", "app:web", "llm:m").relate("llm:m", "RUNS_ON", "pod:vllm-0").relate("pod:vllm-0", "USES", "gpu:g0")
    services(w, ["app:web"])
    w.noise("llm:m", "ttft_p95_s", 0.4)
    w.noise("llm:m", "queue_len", 3.0, 0.5)
    w.noise("gpu:g0", "gpu_util", 80.0, 2.0)
    w.series[("gpu:g0", "xid_errors")] = 0.0 * w.times
    w.series[("gpu:g0", "xid_errors")][w.index(149)] = 79.0
    w.events.append(Event(entity="gpu:g0", reason="XidError", at=w.at(149), message="Xid 79: GPU has fallen off the bus"))
    w.step("gpu:g0", "gpu_util", 149, -60.0)
    w.step("llm:m", "ttft_p95_s", 150, 4.0)
    w.step("llm:m", "queue_len", 150, 30.0)
    w.step("app:web", "latency_p95_s", 151, 4.0)
    assert top(w.incident("app:web", "latency_p95_s", 160)) == ["gpu:g0"]


def test_harmless_rollout_does_not_beat_the_slow_database() -> None:
    w = World(seed=22)
    w.chain("user:u", "app:web", "app:rag").relate("app:rag", "QUERIES", "vectordb:v")
    w.relate("app:web", "RUNS_ON", "pod:web-0").relate("pod:web-0", "RUNS", "image:old", end=148)
    w.relate("pod:web-0", "RUNS", "image:new", start=148).relate("image:new", "BUILT_FROM", "commit:c1")
    services(w, ["app:web", "app:rag"])
    w.noise("vectordb:v", "query_latency_p95_s", 0.05)
    w.noise("pod:web-0", "cpu_usage", 0.3)
    w.changes.append(Change(entity="pod:web-0", kind="image_swap", at=w.at(148), before="image:old", after="image:new",
                            commit="commit:c1"))
    w.step("vectordb:v", "query_latency_p95_s", 152, 1.0)
    w.step("app:rag", "latency_p95_s", 153, 1.0)
    w.step("app:web", "latency_p95_s", 154, 1.0)
    ranked = top(w.incident("app:web", "latency_p95_s", 162), 3)
    assert ranked[0] == "vectordb:v"
    assert "commit:c1" not in ranked[:2] and "image:new" not in ranked[:2]


def test_bad_rollout_beats_the_service_it_slowed() -> None:
    w = World(seed=23)
    w.chain("user:u", "app:web", "llm:m").relate("llm:m", "RUNS_ON", "pod:vllm-0")
    w.relate("pod:vllm-0", "RUNS", "image:old", end=151).relate("pod:vllm-0", "RUNS", "image:new", start=151)
    w.relate("image:new", "BUILT_FROM", "commit:c1")
    services(w, ["app:web"])
    w.noise("llm:m", "ttft_p95_s", 0.4)
    w.noise("pod:vllm-0", "cpu_usage", 2.0)
    w.changes.append(Change(entity="pod:vllm-0", kind="image_swap", at=w.at(151), before="image:old",
                            after="image:new", commit="commit:c1"))
    w.step("llm:m", "ttft_p95_s", 153, 3.0)
    w.step("app:web", "latency_p95_s", 154, 3.0)
    assert top(w.incident("app:web", "latency_p95_s", 162))[0] in {"image:new", "commit:c1", "pod:vllm-0", "llm:m"}


def test_caller_loud_from_retries_is_not_the_cause() -> None:
    w = World(seed=24)
    w.chain("user:u", "app:web", "app:tools").relate("app:web", "RUNS_ON", "pod:web-0")
    services(w, ["app:web", "app:tools"])
    w.noise("pod:web-0", "cpu_usage", 0.3)
    w.step("app:tools", "error_rate", 150, 0.3)
    w.step("app:web", "error_rate", 151, 0.3)
    w.step("pod:web-0", "cpu_usage", 153, 0.6)  # retries heat the caller up after the errors began
    assert top(w.incident("app:web", "error_rate", 162)) == ["app:tools"]


def _node_hog_behind_a_throttled_pod() -> World:
    w = World(seed=25)
    w.chain("user:u", "app:web", "app:api").relate("app:api", "RUNS_ON", "pod:api-0").relate("app:web", "RUNS_ON", "pod:web-0")
    w.relate("pod:api-0", "SCHEDULED_ON", "node:n1")
    services(w, ["app:web", "app:api"])
    w.noise("node:n1", "cpu_usage", 0.3)
    w.noise("pod:api-0", "cpu_usage", 0.2)
    w.events.append(Event(entity="pod:web-0", reason="BackOff", at=w.at(112)))
    w.step("node:n1", "cpu_usage", 150, 0.65)
    w.step("pod:api-0", "cpu_usage", 150, -0.1)
    w.step("app:api", "latency_p95_s", 151, 0.8)
    w.step("app:web", "latency_p95_s", 152, 0.8)
    return w


def test_old_recovered_restart_is_not_the_cause() -> None:
    w = _node_hog_behind_a_throttled_pod()
    ranked = top(w.incident("app:web", "latency_p95_s", 162), k=3)
    assert "pod:web-0" not in ranked[:1]  # the BackOff 40 minutes before, long recovered
    assert "node:n1" in ranked  # the node's CPU hog is among the first three …


@pytest.mark.xfail(strict=True, reason="known limitation of the fitted model (BENCHMARKS.md, issue 14): the walk "
                   "follows bad-way trouble, and the only way to the node is a pod whose CPU fell, so the service with "
                   "the alert's metric ranks above the node; generated node_cpu_hog AC@1 is low")
def test_node_hog_behind_a_throttled_pod_ranks_first() -> None:
    w = _node_hog_behind_a_throttled_pod()
    assert top(w.incident("app:web", "latency_p95_s", 162)) == ["node:n1"]  # … but not first
