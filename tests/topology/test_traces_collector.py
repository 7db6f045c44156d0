"""OTLP/JSON spans produced by the real opentelemetry-sdk exporter → calls → topology and series."""

from __future__ import annotations

import json
import logging
import time

import numpy as np
import pytest

from detectors.sources import trace_samples
from tests.servers.otlp import Services, chat_request
from topology import MemoryStore
from topology.collectors import collect_traces
from topology.exceptions import TraceFormatError
from topology.genai import calls_from_spans
from topology.otlp import parse_otlp_json, read_otlp_file


@pytest.fixture
def exported(otlp_receiver):
    services = Services(otlp_receiver.traces_endpoint, ["chat", "rag"])
    start = time.time() - 600
    for i in range(20):
        chat_request(services, start_s=start + i * 15, user=f"u{i % 3}", ttft_s=0.3 if i < 10 else 1.8)
    services.flush()
    services.shutdown()
    assert otlp_receiver.bodies, "the SDK exporter posted nothing"
    return otlp_receiver, start


def _spans(receiver):
    spans, problems = [], []
    for body in receiver.bodies:
        parsed = parse_otlp_json(body)
        spans.extend(parsed.spans)
        problems.extend(parsed.problems)
    return spans, problems


def test_sdk_export_is_parsed_into_typed_spans(exported):
    receiver, _ = exported
    assert all(ct.startswith("application/json") for ct in receiver.content_types)
    spans, problems = _spans(receiver)
    assert problems == []
    assert len(spans) == 20 * 8  # root, client, server, retrieval, 4 chunks
    chunk = next(s for s in spans if s.name == "chat deepseek-r1")
    assert chunk.service == "rag" and chunk.kind == "CLIENT"
    assert chunk.attributes["gen_ai.request.stream"] is True
    assert isinstance(chunk.attributes["gen_ai.usage.output_tokens"], int)


def test_calls_merge_streaming_chunks_and_build_topology(exported):
    receiver, _ = exported
    spans, _ = _spans(receiver)
    calls, problems = calls_from_spans(spans)
    assert problems == []
    llm = [c for c in calls if c.kind == "llm"]
    assert len(llm) == 20  # 80 chunk spans merged into 20 calls
    assert all(c.output_tokens == 32 and c.input_tokens == 120 for c in llm)
    slow = sorted(llm, key=lambda c: c.start_ns)[-1]
    assert slow.ttft_s == pytest.approx(1.8, abs=0.01)
    assert slow.tpot_s == pytest.approx(3 * 0.05 / 31, rel=0.05)
    store = MemoryStore()
    collect_traces(calls, store)
    edges = {r.key for r in store.open_relations()}
    assert {("user:u0", "CALLS", "app:chat"), ("app:chat", "CALLS", "app:rag"),
            ("app:rag", "CALLS", "llm:deepseek-r1"), ("app:rag", "QUERIES", "vectordb:milvus")} <= edges
    assert store.get_entity("llm:deepseek-r1").attrs["provider"] == "openai"
    # Collecting the same spans again changes nothing.
    before = store.counts()
    collect_traces(calls, store)
    assert store.counts() == before


def test_series_show_the_ttft_step(exported):
    receiver, _ = exported
    calls, _ = calls_from_spans(_spans(receiver)[0])
    frame = trace_samples(calls, step_s=60).to_frame(60)
    ttft = frame.row(next(k for k in frame.keys if k.entity == "llm:deepseek-r1" and k.metric == "ttft_p95_s"))
    finite = ttft[np.isfinite(ttft)]
    assert finite[0] == pytest.approx(0.3, abs=0.01) and finite[-1] == pytest.approx(1.8, abs=0.01)
    keys = {(k.entity, k.metric) for k in frame.keys}
    assert {("app:chat", "latency_p95_s"), ("app:chat", "rps"), ("vectordb:milvus", "query_latency_p95_s"),
            ("llm:deepseek-r1", "tokens_per_s"), ("llm:deepseek-r1", "tpot_p95_s")} <= keys
    assert ("app:chat", "ttft_p95_s") not in keys


def test_malformed_spans_are_reported_and_the_rest_kept(exported, tmp_path, caplog):
    receiver, _ = exported
    document = json.loads(receiver.bodies[0])
    spans = document["resourceSpans"][0]["scopeSpans"][0]["spans"]
    good = len(spans)
    spans.append({"name": "no ids", "startTimeUnixNano": "1", "endTimeUnixNano": "2"})
    spans.append({**spans[0], "spanId": "zz" * 8, "name": "bad hex"})
    spans.append({**spans[0], "spanId": "1" * 16, "startTimeUnixNano": "20", "endTimeUnixNano": "10",
                  "name": "backwards"})
    path = tmp_path / "traces.jsonl"
    path.write_text(json.dumps(document) + "\n{not json\n" + receiver.bodies[1].decode() + "\n")
    caplog.set_level(logging.WARNING)
    parsed = read_otlp_file(path)
    second = len(parse_otlp_json(receiver.bodies[1]).spans)
    assert len(parsed.spans) == good + second
    reasons = " | ".join(str(p) for p in parsed.problems)
    assert len(parsed.problems) == 4, reasons
    assert "traceId must be 32 hex" in reasons and "spanId is not hex" in reasons
    assert "ends before it starts" in reasons and "not JSON" in reasons
    assert "backwards" in caplog.text
    with pytest.raises(TraceFormatError):
        parse_otlp_json(b'{"resourceSpans": 3}')
