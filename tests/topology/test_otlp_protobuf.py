"""The protobuf decoder reads what the SDK's own protobuf encoder writes, span for span the same as the JSON path
reads what the SDK's JSON encoder writes for the same spans."""

from __future__ import annotations

import pytest
from opentelemetry.exporter.otlp.json.common.trace_encoder import encode_spans as encode_json
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as encode_protobuf
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from topology.exceptions import TraceFormatError
from topology.otlp import parse_otlp_json, resource_entity
from topology.otlp_proto import parse_otlp_protobuf


@pytest.fixture(scope="module")
def sdk_spans():
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "cart", "k8s.namespace.name": "shop",
                                                        "k8s.pod.name": "cart-7d9f"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("tests")
    with tracer.start_as_current_span("GET /cart", kind=SpanKind.SERVER, attributes={"http.route": "/cart"}):
        with tracer.start_as_current_span("redis GET", kind=SpanKind.CLIENT,
                                          attributes={"db.system": "redis", "retries": 3, "ratio": 0.5,
                                                      "tags": ["a", "b"], "ok": True}) as child:
            child.add_event("exception", {"exception.type": "TimeoutError", "exception.message": "slow"})
            child.set_status(Status(StatusCode.ERROR, "timed out"))
    return exporter.get_finished_spans()


def test_protobuf_and_json_encodings_decode_to_the_same_spans(sdk_spans):
    from_pb = parse_otlp_protobuf(encode_protobuf(sdk_spans).SerializeToString())
    from_json = parse_otlp_json(encode_json(sdk_spans).to_json())
    assert from_pb.problems == () and from_json.problems == ()
    assert len(from_pb.spans) == 2
    key = lambda s: s.span_id  # noqa: E731
    for a, b in zip(sorted(from_pb.spans, key=key), sorted(from_json.spans, key=key)):
        assert a.model_dump() == b.model_dump()
    child = next(s for s in from_pb.spans if s.name == "redis GET")
    assert child.status == "ERROR" and child.status_message == "timed out" and child.kind == "CLIENT"
    assert child.attributes == {"db.system": "redis", "retries": 3, "ratio": 0.5, "tags": ("a", "b"), "ok": True}
    assert child.events[0].name == "exception" and child.events[0].attributes["exception.type"] == "TimeoutError"
    assert child.parent_span_id == next(s.span_id for s in from_pb.spans if s.name == "GET /cart")
    assert child.entity == "pod:shop/cart-7d9f"


def test_truncated_and_foreign_bytes_are_a_format_error(sdk_spans):
    body = encode_protobuf(sdk_spans).SerializeToString()
    with pytest.raises(TraceFormatError, match="not an OTLP protobuf"):
        parse_otlp_protobuf(body[:-7])
    with pytest.raises(TraceFormatError):
        parse_otlp_protobuf(b"\xff\xff\xff\xff")
    assert parse_otlp_protobuf(b"").spans == ()


def test_resource_entity_rules():
    assert resource_entity({"service.name": "a"}) == "app:a"
    pod = {"service.name": "a", "k8s.namespace.name": "ns", "k8s.pod.name": "a-1"}
    assert resource_entity(pod) == "pod:ns/a-1"
    assert resource_entity(pod, known={"app:a"}) == "app:a"  # the case's topology stops at services
    assert resource_entity({**pod, "faultline.entity": "llm:x"}, known={"app:a"}) == "llm:x"
    assert resource_entity({"k8s.pod.name": "a-1"}) is None
