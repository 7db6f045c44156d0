"""``POST /v1/traces`` on a running ``faultline serve``: the OpenTelemetry SDK's OTLP/JSON exporter posts straight
to it, and the calls show up in ``/v1/topology``."""

from __future__ import annotations

import json
import time

import pytest

from tests.servers.otlp import OtlpReceiver, Services, chat_request
from topology import MemoryStore

pytestmark = pytest.mark.integration


def test_sdk_exporter_posts_to_faultline_and_the_topology_grows(start_faultline, tmp_path):
    graph = tmp_path / "graph.json"
    server = start_faultline(use_demo_case_dir=False, FAULTLINE_GRAPH_FILE=str(graph))
    services = Services(f"{server.base_url}/v1/traces", ["chat", "rag"])
    start = time.time() - 120
    for i in range(5):
        chat_request(services, start_s=start + 10 * i, user="alice")
    services.flush()
    services.shutdown()
    with server.client() as client:
        r = client.get("/v1/topology", params={"around": "app:rag", "hops": 1, "direction": "both"})
    assert r.status_code == 200, r.text
    edges = {(e["src"], e["kind"], e["dst"]) for e in r.json()["relations"]}
    assert {("app:chat", "CALLS", "app:rag"), ("app:rag", "CALLS", "llm:deepseek-r1"),
            ("app:rag", "QUERIES", "vectordb:milvus")} <= edges
    assert ("user:alice", "CALLS", "app:chat") in {r.key for r in MemoryStore(graph).open_relations()}


def test_bad_spans_partial_success_and_bad_bodies(start_faultline, tmp_path, otlp_receiver: OtlpReceiver):
    server = start_faultline(use_demo_case_dir=False, FAULTLINE_GRAPH_FILE=str(tmp_path / "graph.json"))
    services = Services(otlp_receiver.traces_endpoint, ["rag"])
    chat_request_spans = services.span("rag", "chat m", kind="CLIENT", start_ns=10**18, end_ns=10**18 + 10**9,
                                       attributes={"gen_ai.request.model": "m", "gen_ai.operation.name": "chat"})
    assert chat_request_spans is not None
    services.flush()
    services.shutdown()
    document = json.loads(otlp_receiver.bodies[0])
    spans = document["resourceSpans"][0]["scopeSpans"][0]["spans"]
    spans.append({**spans[0], "traceId": "xyz", "name": "broken"})
    with server.client() as client:
        r = client.post("/v1/traces", json=document)
        assert r.status_code == 200, r.text
        partial = r.json()["partialSuccess"]  # OTLP/JSON: int64 as a decimal string
        assert partial["rejectedSpans"] == "1" and "traceId must be 32 hex" in partial["errorMessage"]
        r = client.get("/v1/topology", params={"around": "llm:m", "hops": 1, "direction": "up"})
        assert {(e["src"], e["dst"]) for e in r.json()["relations"]} == {("app:rag", "llm:m")}
        assert client.post("/v1/traces", content=b"\x0a\x01", headers={  # truncated protobuf
            "Content-Type": "application/x-protobuf"}).status_code == 400
        assert client.post("/v1/traces", content=b"{}", headers={"Content-Type": "text/plain"}).status_code == 415
        assert client.post("/v1/traces", content=b"{nope", headers={
            "Content-Type": "application/json"}).status_code == 400
        assert client.post("/v1/traces", json={"resourceSpans": 7}).status_code == 400
        assert client.post("/v1/traces", json=[1, 2]).status_code == 400
