"""Trace evidence from spans with known answers: where errors originate, self time, call edges, exceptions, GenAI
streams merged, bucketing that never reaches past the analysis time, exemplar trace ids."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.models import SeriesKey
from detectors.sources.span_table import SpanTable
from detectors.sources.trace_series import trace_series
from topology.otlp import Span, SpanEvent

S = 10**9
T0 = 1_700_000_000


class Trace:
    """Builds one trace: ``call(parent, service, name, start_s, end_s, ...)`` returns the new span id."""

    def __init__(self, number: int, t0: float) -> None:
        self.trace = f"{number:032x}"
        self.t0 = t0
        self.spans: list[Span] = []

    def call(self, parent: str | None, service: str, name: str, start: float, end: float, *, kind: str = "SERVER",
             error: bool = False, exception: str | None = None, attributes: dict | None = None) -> str:
        span_id = f"{len(self.spans) + 1:04x}{int(self.trace, 16) % 0xFFFFFFFFFFFF:012x}"
        events = (SpanEvent(name="exception", time_ns=int((self.t0 + start) * S),
                            attributes={"exception.type": exception}),) if exception else ()
        self.spans.append(Span(trace_id=self.trace, span_id=span_id, parent_span_id=parent, name=name, kind=kind,
                               start_ns=int((self.t0 + start) * S), end_ns=int((self.t0 + end) * S),
                               status="ERROR" if error else "UNSET", resource={"service.name": service},
                               attributes=attributes or {}, events=events))
        return span_id


def _shop(n: int = 60, *, failing_from: int | None = None, refused_from: int | None = None,
          exception_from: int | None = None) -> list[Span]:
    """front -> (client) -> cart -> (client) -> db; one request a second."""
    spans = []
    for i in range(n):
        tr = Trace(i + 1, T0 + i)
        failing = failing_from is not None and i >= failing_from
        refused = refused_from is not None and i >= refused_from
        root = tr.call(None, "front", "GET /cart", 0.0, 1.0, error=failing or refused)
        client = tr.call(root, "front", "cart.Get", 0.1, 0.8, kind="CLIENT", error=failing or refused,
                         attributes={"server.address": "cart.shop.svc.cluster.local", "server.port": 8080})
        if not refused:
            server = tr.call(client, "cart", "Get", 0.15, 0.75, error=failing,
                             exception="TimeoutError" if exception_from is not None and i >= exception_from else None)
            inner = tr.call(server, "cart", "load", 0.2, 0.4, kind="INTERNAL", error=failing)
            tr.call(inner, "cart", "db SELECT", 0.25, 0.35, kind="CLIENT", error=failing)
        spans += tr.spans
    return spans


def _rows(series):
    table = series.samples.to_table()
    return {(e, m): g.sort_values("timestamp")["value"].to_numpy()
            for (e, m), g in table.groupby(["entity", "metric"])}


def test_errors_count_where_they_originate_not_where_they_pass_up():
    rows = _rows(trace_series(SpanTable.from_spans(_shop(failing_from=30)), grid_start_s=T0, step_s=10))
    assert list(rows[("app:cart", "trace_error_rate")]) == [0, 0, 0, 1, 1, 1]  # cart's own db span failed
    assert not rows[("app:front", "trace_error_rate")].any()  # front only passed it up
    assert list(rows[("app:front", "trace_error_rate[cart]")]) == [0, 0, 0, 1, 1, 1]  # the call front -> cart failed


def test_a_refused_call_is_the_call_edges_not_the_callers():
    rows = _rows(trace_series(SpanTable.from_spans(_shop(refused_from=30)), grid_start_s=T0, step_s=10))
    assert not rows[("app:front", "trace_error_rate")].any()
    # cart sent no span after 30 s: the client span's server.address names it
    assert list(rows[("app:front", "trace_error_rate[cart]")]) == [0, 0, 0, 1, 1, 1]
    assert ("app:cart", "trace_rps") in rows and len(rows[("app:cart", "trace_rps")]) == 3  # cart saw nothing after


def test_self_time_excludes_calls_to_other_services_and_edge_latency_is_the_client_span():
    rows = _rows(trace_series(SpanTable.from_spans(_shop()), grid_start_s=T0, step_s=30))
    assert rows[("app:front", "trace_self_p50_s")] == pytest.approx(0.3)  # 1.0 - 0.7 in the client span
    assert rows[("app:cart", "trace_self_p50_s")] == pytest.approx(0.6)  # its db call is not another service
    assert rows[("app:front", "trace_latency_p50_s[cart]")] == pytest.approx(0.7)
    assert rows[("app:cart", "trace_latency_p50_s")] == pytest.approx(0.6)
    assert rows[("app:front", "trace_rps")] == pytest.approx(1.0)
    assert ("app:front", "trace_latency_p95_s") in rows  # 30 requests a sample: enough for a p95
    fine = _rows(trace_series(SpanTable.from_spans(_shop()), grid_start_s=T0, step_s=10))
    assert ("app:front", "trace_latency_p95_s") not in fine  # 10 a sample: not enough


def test_exception_events_with_their_types_and_exemplars_since_onset():
    series = trace_series(SpanTable.from_spans(_shop(exception_from=55)), grid_start_s=T0, step_s=10)
    rows = _rows(series)
    assert list(rows[("app:cart", "trace_exception_rate")]) == [0, 0, 0, 0, 0, 0.5]  # 55..59 of the sample 50..59
    note = series.notes[SeriesKey("app:cart", "trace_exception_rate")][float(T0 + 60)]
    assert note.detail == "TimeoutError ×5" and len(note.traces) == 3
    assert all(int(t, 16) >= 56 for t in note.traces)  # traces 56..60 (1-based) raised


def test_samples_cover_spans_ended_in_the_step_before_and_nothing_after_the_analysis():
    spans = _shop(20)
    full = _rows(trace_series(SpanTable.from_spans(spans), grid_start_s=T0, step_s=10))
    assert len(full[("app:front", "trace_rps")]) == 2  # requests end at T0+1 .. T0+20: samples T0+10 and T0+20
    cut = _rows(trace_series(SpanTable.from_spans(spans), grid_start_s=T0, step_s=10, until_ns=(T0 + 10) * S))
    assert list(cut[("app:front", "trace_rps")]) == [1.0]  # requests ended in (T0, T0+10]


def test_duplicate_spans_from_a_retried_export_count_once():
    spans = _shop(10)
    rows = _rows(trace_series(SpanTable.from_spans(spans + spans[:5]), grid_start_s=T0, step_s=10))
    assert rows[("app:front", "trace_rps")].sum() == pytest.approx(1.0)


def test_streamed_llm_chunks_are_one_call_with_ttft():
    spans = []
    for i in range(30):
        tr = Trace(100 + i, T0 + i)
        root = tr.call(None, "rag", "POST /answer", 0.0, 2.0)
        t = 0.1
        for k in range(4):
            end = t + (0.5 if k == 0 else 0.1)
            tr.call(root, "rag", "chat m", t, end, kind="CLIENT", attributes={
                "gen_ai.operation.name": "chat", "gen_ai.request.model": "m", "gen_ai.request.stream": True,
                "gen_ai.response.id": f"r{i}", "gen_ai.usage.output_tokens": 10})
            t = end
        spans += tr.spans
    rows = _rows(trace_series(SpanTable.from_spans(spans), grid_start_s=T0, step_s=10))
    assert rows[("llm:m", "trace_rps")] == pytest.approx(1.0)  # 4 chunks, one call a second
    assert rows[("llm:m", "trace_ttft_p95_s")] == pytest.approx(0.5)
    assert rows[("llm:m", "trace_output_tokens_per_s")] == pytest.approx(40.0)
    assert np.isfinite(rows[("llm:m", "trace_tpot_p95_s")]).all()
