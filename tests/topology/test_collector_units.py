"""Fast unit tests of the collectors' pure parts: naming rules, span classification, chunk merging."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from topology.collectors.kubernetes import WorkloadMapping, build_topology
from topology.genai import calls_from_spans
from topology.kube import ClusterSnapshot, KubeContainer, KubeNode, KubePod, image_digest, image_entity_id, split_reference
from topology.otlp import Span

DIGEST = "sha256:" + "a" * 64
NOW = datetime(2026, 11, 20, 11, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(("image_id", "expected"), [
    (f"docker-pullable://registry/vllm@{DIGEST}", DIGEST), (f"registry/vllm@{DIGEST}", DIGEST), (DIGEST, DIGEST),
    ("", None), (None, None), ("registry/vllm:v2", None),
])
def test_image_digest(image_id, expected):
    assert image_digest(image_id) == expected


def test_image_ids_and_references():
    assert image_entity_id("registry/vllm:v2", f"x@{DIGEST}") == f"image:{DIGEST}"
    assert image_entity_id("registry/vllm:v2") == "image:registry/vllm:v2"
    assert split_reference(f"registry:5000/team/vllm:v2@{DIGEST}") == {
        "digest": DIGEST, "tag": "v2", "repository": "registry:5000/team/vllm"}
    assert split_reference("registry:5000/vllm") == {"repository": "registry:5000/vllm"}


def test_workload_mapping_order():
    mapping = WorkloadMapping()
    assert mapping.workload({"app": "x"}, {"faultline.io/entity": "llm:qwen"}, "dep") == "llm:qwen"
    assert mapping.workload({"app.kubernetes.io/name": "chat", "app": "y"}, {}, "dep") == "app:chat"
    assert mapping.workload({"app": "milvus", "faultline.io/kind": "vectordb"}, {}, None) == "vectordb:milvus"
    assert mapping.workload({}, {}, "rag") == "app:rag"
    assert WorkloadMapping(use_owner_name=False).workload({}, {}, "rag") is None


def _pod(name: str, gpus: int, started_min: int, image_id: str | None = f"r/x@{DIGEST}") -> KubePod:
    return KubePod(namespace="prod", name=name, node="n1", phase="Running",
                   start_time=NOW.replace(minute=started_min),
                   containers=(KubeContainer(name="c", image="r/x:1", image_id=image_id, gpu_request=gpus),))


def test_gpus_are_assigned_first_fit_in_start_order_and_never_beyond_capacity():
    snapshot = ClusterSnapshot(taken_at=NOW, nodes=(KubeNode(name="n1", gpu_capacity=3),), pods=(
        _pod("late", 2, 30), _pod("early", 2, 10), _pod("pending", 0, 40, image_id=None)))
    topo = build_topology(snapshot)
    uses = sorted(k for k in topo.relations if k[1] == "USES")
    assert uses == [("pod:prod/early", "USES", "gpu:n1/0"), ("pod:prod/early", "USES", "gpu:n1/1"),
                    ("pod:prod/late", "USES", "gpu:n1/2")]
    # A pod whose container has not started runs no image yet.
    assert not [k for k in topo.relations if k[0] == "pod:prod/pending" and k[1] == "RUNS"]


def _span(span_id: str, *, start: float, end: float, parent: str | None = "a" * 16, service: str = "rag", **attrs):
    return Span(trace_id="1" * 32, span_id=span_id, parent_span_id=parent, name="chat m", kind="CLIENT",
                start_ns=int(start * 1e9), end_ns=int(end * 1e9), attributes=attrs,
                resource={"service.name": service})


def test_plain_calls_from_one_parent_are_not_merged():
    spans = [_span("b" * 16, start=1, end=2, **{"gen_ai.request.model": "m", "gen_ai.operation.name": "chat"}),
             _span("c" * 16, start=3, end=4, **{"gen_ai.request.model": "m", "gen_ai.operation.name": "chat"})]
    calls, problems = calls_from_spans(spans)
    assert problems == [] and len(calls) == 2 and all(c.ttft_s is None for c in calls)


def test_chunks_with_one_response_id_merge_and_cumulative_usage_is_not_summed():
    attrs = {"gen_ai.request.model": "m", "gen_ai.response.id": "r1", "gen_ai.system": "vllm"}
    spans = [_span("b" * 16, start=10.0, end=10.4, **attrs, **{"gen_ai.usage.output_tokens": 5}),
             _span("c" * 16, start=10.4, end=10.6, **attrs, **{"gen_ai.usage.output_tokens": 9}),
             _span("d" * 16, start=10.6, end=10.9, **attrs, **{"gen_ai.usage.output_tokens": 21})]
    (call,), _ = calls_from_spans(spans)
    assert call.span_ids == ("b" * 16, "c" * 16, "d" * 16)
    assert call.ttft_s == pytest.approx(0.4) and call.duration_s == pytest.approx(0.9)
    assert call.output_tokens == 21 and call.provider == "vllm"  # deprecated gen_ai.system still read
    assert call.tpot_s == pytest.approx(0.5 / 20)


def test_retrieval_and_vector_db_spans_and_agent_spans():
    spans = [_span("b" * 16, start=1, end=2, **{"gen_ai.operation.name": "retrieval", "gen_ai.data_source.id": "kb"}),
             _span("c" * 16, start=1, end=2, **{"db.system": "qdrant"}),
             _span("d" * 16, start=1, end=2, **{"db.system.name": "postgresql"}),
             _span("e" * 16, start=1, end=2, **{"gen_ai.operation.name": "invoke_agent", "gen_ai.request.model": "m"})]
    calls, _ = calls_from_spans(spans)
    assert sorted((c.kind, c.target) for c in calls) == [("vectordb", "vectordb:kb"), ("vectordb", "vectordb:qdrant")]


def test_genai_span_without_service_is_reported():
    span = Span(trace_id="1" * 32, span_id="b" * 16, start_ns=1, end_ns=2, attributes={"gen_ai.request.model": "m"})
    calls, problems = calls_from_spans([span])
    assert calls == [] and "without service.name" in problems[0].reason


def test_span_directory_links_callers_across_export_requests_in_either_order():
    from topology.genai import SpanDirectory

    def server(span_id, parent, service):
        return Span(trace_id="1" * 32, span_id=span_id, parent_span_id=parent, kind="SERVER", start_ns=5, end_ns=9,
                    resource={"service.name": service})

    def client(span_id, service):
        return Span(trace_id="1" * 32, span_id=span_id, kind="CLIENT", start_ns=4, end_ns=10,
                    resource={"service.name": service})

    directory = SpanDirectory()
    # callee first, caller in a later request
    first, _ = calls_from_spans([server("b" * 16, "a" * 16, "rag")], directory=directory)
    assert [(c.caller, c.target, c.link_only) for c in first] == [(None, "app:rag", False)]
    later, _ = calls_from_spans([client("a" * 16, "chat")], directory=directory)
    assert [(c.caller, c.target, c.link_only) for c in later] == [("app:chat", "app:rag", True)]
    # caller first
    calls_from_spans([client("c" * 16, "web")], directory=directory)
    second, _ = calls_from_spans([server("d" * 16, "c" * 16, "chat")], directory=directory)
    assert [(c.caller, c.target) for c in second] == [("app:web", "app:chat")]


def test_dcgm_gpu_assignments_replace_first_fit_and_are_not_handed_out_twice():
    snapshot = ClusterSnapshot(taken_at=NOW, nodes=(KubeNode(name="n1", gpu_capacity=4),), pods=(
        _pod("vllm", 2, 10), _pod("other", 1, 20)))
    topo = build_topology(snapshot, gpu_assignments={"pod:prod/vllm": ["gpu:n1/0", "gpu:n1/3"]})
    uses = {k: topo.relations[k].attrs["assignment"] for k in topo.relations if k[1] == "USES"}
    assert uses == {("pod:prod/vllm", "USES", "gpu:n1/0"): "dcgm", ("pod:prod/vllm", "USES", "gpu:n1/3"): "dcgm",
                    ("pod:prod/other", "USES", "gpu:n1/1"): "first-fit"}
