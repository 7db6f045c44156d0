"""``POST /v1/traces`` and ``POST /v1/logs`` on a running ``faultline serve``, fed by the OpenTelemetry Python SDK's
own exporters — protobuf (``opentelemetry-exporter-otlp-proto-http``, the SDK's default) and JSON
(``opentelemetry-exporter-otlp-json-http``), gzip on and off — then hostile bodies. What arrived is read back from
the server's telemetry store file, not from its answers."""

from __future__ import annotations

import gzip
import json
import time

import httpx
import pytest
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from detectors.sources.telemetry_store import TelemetryStore
from tests.servers.otlp import LogServices, Services, chat_request

pytestmark = pytest.mark.integration

ENCODINGS = [("protobuf", False), ("protobuf", True), ("json", False), ("json", True)]


@pytest.fixture(scope="module")
def server(tmp_path_factory, demo_case_dir):
    from tests.servers.faultline import _launcher

    directory = tmp_path_factory.mktemp("otlp")
    start, servers = _launcher(directory, demo_case_dir)
    telemetry = directory / "telemetry.sqlite3"
    yield start(use_demo_case_dir=False, FAULTLINE_GRAPH_FILE=str(directory / "graph.json"),
                FAULTLINE_TELEMETRY_DB=str(telemetry), FAULTLINE_OTLP_MAX_ITEMS="5000",
                FAULTLINE_OTLP_MAX_DECOMPRESSED_BYTES=str(8 * 1024 * 1024)), telemetry
    for s in servers:
        s.kill()


def _stored_spans(path, service):
    with TelemetryStore(path) as store:
        return [s for s in store.spans(0, 2**63 - 1) if s.service == service]


def _stored_logs(path, service):
    with TelemetryStore(path) as store:
        return [r for r in store.logs(0, 2**63 - 1) if r.service == service]


@pytest.mark.parametrize("encoding, compressed", ENCODINGS)
def test_sdk_span_exporters_deliver_every_span(server, encoding, compressed):
    srv, telemetry = server
    tag = f"{encoding}-{'gzip' if compressed else 'plain'}"
    services = Services(f"{srv.base_url}/v1/traces", [f"chat-{tag}", f"rag-{tag}"], encoding=encoding,
                        gzip=compressed)
    start = time.time() - 300
    for i in range(6):
        chat_request_for(services, tag, start + 10 * i)
    assert services.flush(), "the SDK exporter reported a failed export"
    services.shutdown()
    chat = _stored_spans(telemetry, f"chat-{tag}")
    rag = _stored_spans(telemetry, f"rag-{tag}")
    assert len(chat) == 6 * 2 and len(rag) == 6 * 6  # root + client; server + retrieval + 4 chunks
    chunk = next(s for s in rag if s.name.startswith("chat "))
    assert chunk.attributes["gen_ai.request.stream"] is True and chunk.kind == "CLIENT"
    assert isinstance(chunk.attributes["gen_ai.usage.output_tokens"], int)
    with srv.client() as client:
        r = client.get("/v1/topology", params={"around": f"app:rag-{tag}", "hops": 1, "direction": "both"})
    assert r.status_code == 200, r.text
    edges = {(e["src"], e["kind"], e["dst"]) for e in r.json()["relations"]}
    assert (f"app:chat-{tag}", "CALLS", f"app:rag-{tag}") in edges
    assert (f"app:rag-{tag}", "CALLS", "llm:deepseek-r1") in edges


def chat_request_for(services, tag, start_s):
    """``chat_request`` with the services renamed for this encoding."""
    renamed = _Renamed(services, {"chat": f"chat-{tag}", "rag": f"rag-{tag}"})
    chat_request(renamed, start_s=start_s, user="alice")


class _Renamed:
    def __init__(self, services, names):
        self.services, self.names = services, names

    def span(self, service, *args, **kwargs):
        return self.services.span(self.names[service], *args, **kwargs)


@pytest.mark.parametrize("encoding, compressed", ENCODINGS)
def test_sdk_log_exporters_deliver_every_record(server, encoding, compressed):
    srv, telemetry = server
    name = f"shop-{encoding}-{'gzip' if compressed else 'plain'}"
    logs = LogServices(f"{srv.base_url}/v1/logs", [name], encoding=encoding, gzip=compressed,
                       resource={"k8s.namespace.name": "prod", "k8s.pod.name": f"{name}-0"})
    logger = logs.loggers[name]
    for i in range(40):
        logger.info("order %d placed for user %s", i, f"u{i % 3}")
    for i in range(5):
        logger.error("payment failed: card %d declined", i)
    assert logs.flush(), "the SDK log exporter reported a failed export"
    logs.shutdown()
    records = _stored_logs(telemetry, name)
    assert len(records) == 45
    errors = [r for r in records if r.is_error]
    assert len(errors) == 5 and errors[0].body.startswith("payment failed: card")
    assert {r.entity for r in records} == {f"pod:prod/{name}-0"}
    assert all(r.time_ns > 1.6e18 for r in records)


def _proto_spans(n: int, *, name="batch", service="hostile") -> trace_service_pb2.ExportTraceServiceRequest:
    request = trace_service_pb2.ExportTraceServiceRequest()
    block = request.resource_spans.add()
    kv = block.resource.attributes.add()
    kv.key, kv.value.string_value = "service.name", service
    scope = block.scope_spans.add()
    now = time.time_ns()
    for i in range(n):
        span = scope.spans.add()
        span.trace_id = (i + 1).to_bytes(16, "big")
        span.span_id = (i + 1).to_bytes(8, "big")
        span.name = f"{name}-{i}"
        span.start_time_unix_nano = now - 10**9
        span.end_time_unix_nano = now
    return request


def _post(srv, path, body, content_type="application/x-protobuf", **headers):
    return httpx.post(f"{srv.base_url}{path}", content=body, headers={"Content-Type": content_type, **headers},
                      timeout=60)


def _status(r) -> status_pb2.Status:
    status = status_pb2.Status()
    if r.headers["content-type"].startswith("application/x-protobuf"):
        status.ParseFromString(r.content)
    else:
        from google.protobuf import json_format

        json_format.Parse(r.content, status)
    return status


def test_hostile_bodies_get_a_clear_4xx_and_lose_nothing_else(server):
    srv, telemetry = server
    good = _proto_spans(3, service="hostile-good").SerializeToString()
    # truncated protobuf: 400 with a google.rpc.Status in protobuf, BadRequest detail
    r = _post(srv, "/v1/traces", good[: len(good) // 2])
    assert r.status_code == 400 and r.headers["content-type"] == "application/x-protobuf"
    status = _status(r)
    assert "not an OTLP protobuf" in status.message
    bad = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(bad) and bad.field_violations[0].field == "body"
    # a gzip bomb: 8 MiB cap, this inflates to 1 GiB; refused before it is held
    bomb = gzip.compress(b"\0" * (1 << 30), compresslevel=9)
    r = _post(srv, "/v1/logs", bomb, "application/json", **{"Content-Encoding": "gzip"})
    assert r.status_code == 413 and "inflates to more than" in r.json()["message"]
    # an oversized batch: 5000 items per request at most
    r = _post(srv, "/v1/traces", gzip.compress(_proto_spans(5001, service="hostile-big").SerializeToString()),
              **{"Content-Encoding": "gzip"})
    assert r.status_code == 413 and "5001 spans" in _status(r).message
    # broken gzip, unknown encodings and media types
    assert _post(srv, "/v1/traces", b"\x1f\x8b\x08garbage", **{"Content-Encoding": "gzip"}).status_code == 400
    assert _post(srv, "/v1/traces", good, **{"Content-Encoding": "br"}).status_code == 415
    assert _post(srv, "/v1/traces", good, "text/plain").status_code == 415
    assert _post(srv, "/v1/logs", b"{nope", "application/json").json()["code"] == 3
    assert _post(srv, "/v1/logs", b"[1, 2]", "application/json").status_code == 400
    assert _post(srv, "/v1/traces", json.dumps({"resourceSpans": 7}).encode(), "application/json").status_code == 400
    # empty requests are a success, in both encodings, with the response in the request's encoding
    r = _post(srv, "/v1/traces", b"")
    assert r.status_code == 200 and r.headers["content-type"] == "application/x-protobuf" and r.content == b""
    assert _post(srv, "/v1/logs", b"{}", "application/json").json() == {}
    # unknown fields: a newer exporter's additions are ignored, the data kept
    request = _proto_spans(2, service="hostile-unknown")
    extra = request.SerializeToString() + b"\xa2\x06\x03abc"  # field 100, length-delimited: unknown to this schema
    r = _post(srv, "/v1/traces", extra)
    assert r.status_code == 200 and r.content == b""
    doc = {"resourceLogs": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "hostile-j"}}],
                                          "futureField": 1},
                             "scopeLogs": [{"logRecords": [
                                 {"timeUnixNano": str(time.time_ns()), "body": {"stringValue": "kept"}, "newThing": {}},
                                 {"timeUnixNano": "soon", "body": {"stringValue": "dropped"}},
                                 {"timeUnixNano": str(time.time_ns()), "traceId": "abc", "body": {"stringValue": "bad id"}},
                             ]}]}], "schemaVersion": 9}
    r = _post(srv, "/v1/logs", json.dumps(doc).encode(), "application/json")
    assert r.status_code == 200
    partial = r.json()["partialSuccess"]
    assert partial["rejectedLogRecords"] == "2" and "timeUnixNano is not an integer" in partial["errorMessage"]
    assert [x.body for x in _stored_logs(telemetry, "hostile-j")] == ["kept"]
    # nothing else was lost or half-stored: the good spans went in whole, the refused bodies left no trace
    assert _post(srv, "/v1/traces", good).status_code == 200
    assert len(_stored_spans(telemetry, "hostile-good")) == 3
    assert len(_stored_spans(telemetry, "hostile-unknown")) == 2
    assert _stored_spans(telemetry, "hostile-big") == []
    assert httpx.get(f"{srv.base_url}/healthz").status_code == 200
    assert "Traceback" not in srv.log()


def test_partial_success_in_protobuf_names_the_bad_span(server):
    srv, telemetry = server
    request = _proto_spans(4, service="hostile-partial")
    request.resource_spans[0].scope_spans[0].spans[1].trace_id = b"\x01\x02"
    request.resource_spans[0].scope_spans[0].spans[2].end_time_unix_nano = 5
    r = _post(srv, "/v1/traces", request.SerializeToString())
    assert r.status_code == 200
    answer = trace_service_pb2.ExportTraceServiceResponse()
    answer.ParseFromString(r.content)
    assert answer.HasField("partial_success") and answer.partial_success.rejected_spans == 2
    assert "traceId must be 16 bytes" in answer.partial_success.error_message
    assert "ends before it starts" in answer.partial_success.error_message
    assert sorted(s.name for s in _stored_spans(telemetry, "hostile-partial")) == ["batch-0", "batch-3"]
    logs = logs_service_pb2.ExportLogsServiceRequest()
    logs.resource_logs.add().scope_logs.add().log_records.add(time_unix_nano=time.time_ns())
    r = _post(srv, "/v1/logs", logs.SerializeToString())
    answer = logs_service_pb2.ExportLogsServiceResponse()
    answer.ParseFromString(r.content)
    assert r.status_code == 200 and not answer.HasField("partial_success")


def test_write_access_is_required_when_tokens_are_configured(start_faultline, tmp_path):
    token = "otlp-writer-" + "x" * 24
    srv = start_faultline(use_demo_case_dir=False, FAULTLINE_GRAPH_FILE=str(tmp_path / "g.json"),
                          FAULTLINE_API_TOKENS=json.dumps([{"name": "w", "token": token, "scopes": ["read", "write"]}]))
    body = _proto_spans(1).SerializeToString()
    assert _post(srv, "/v1/traces", body).status_code == 401
    logs = LogServices(f"{srv.base_url}/v1/logs", ["authed"], encoding="protobuf", gzip=True,
                       headers={"Authorization": f"Bearer {token}"})
    logs.loggers["authed"].warning("disk %s almost full", "/var")
    assert logs.flush()
    logs.shutdown()
    records = _stored_logs(srv_db(tmp_path), "authed")
    assert [r.level for r in records] == ["WARN"]


def srv_db(tmp_path):
    return next(tmp_path.glob("*-telemetry.sqlite3"))


def test_a_live_insight_reads_the_received_spans_and_logs(start_faultline, tmp_path):
    """Spans and logs posted by the SDK exporters become the evidence of an insight on the live backend."""
    srv = start_faultline(use_demo_case_dir=False, FAULTLINE_GRAPH_FILE=str(tmp_path / "graph.json"))
    services = Services(f"{srv.base_url}/v1/traces", ["shop", "payments"], encoding="protobuf", gzip=True)
    logs = LogServices(f"{srv.base_url}/v1/logs", ["payments"], encoding="protobuf", gzip=True)
    now = time.time()
    start = now - 40 * 60
    ns = lambda s: int(s * 1e9)  # noqa: E731
    for i in range(40 * 12):  # a request every 5 s for 40 minutes; payments' card check fails in the last 6
        t = start + 5 * i
        failing = t > now - 6 * 60
        root = services.span("shop", "POST /checkout", kind="SERVER", start_ns=ns(t), end_ns=ns(t + 0.4), error=failing)
        client = services.span("shop", "payments.Charge", kind="CLIENT", parent=root, start_ns=ns(t + 0.05),
                               end_ns=ns(t + 0.35), error=failing)
        server = services.span("payments", "Charge", kind="SERVER", parent=client, start_ns=ns(t + 0.06),
                               end_ns=ns(t + 0.34), error=failing)
        services.span("payments", "card check", kind="INTERNAL", parent=server, start_ns=ns(t + 0.07),
                      end_ns=ns(t + 0.3), error=failing)
    assert services.flush()
    services.shutdown()
    logger = logs.loggers["payments"]
    for i in range(30):
        logger.error("card processor unreachable: %s", f"timeout {i}")
    assert logs.flush()
    logs.shutdown()
    with srv.client() as client:
        r = client.post("/v1/insights", json={"symptom": "app:shop", "lookback": "30m"}, params={"wait": 60})
        assert r.status_code in (200, 202), r.text
        insight = srv.wait_insight(r.json()["id"])
    assert insight["status"] == "done", insight
    top = insight["candidates"][0]
    assert top["entity"] == "app:payments", [c["entity"] for c in insight["candidates"]]
    traced = [e for e in top["evidence"] if e.get("traces")]
    assert traced, json.dumps(top["evidence"], indent=1)[:3000]
    assert traced and all(len(t) == 32 for t in traced[0]["traces"])
