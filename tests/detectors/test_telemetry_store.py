"""The bounded span and log store: round trip, window reads, retention, size caps, one trace by id."""

from __future__ import annotations

import threading

from detectors.sources.otlp_logs import LogRecord
from detectors.sources.telemetry_store import TelemetryStore
from topology.otlp import Span, SpanEvent

S = 10**9
T0 = 1_700_000_000 * S


def _span(i: int, t: int, service: str = "cart", trace: int | None = None) -> Span:
    return Span(trace_id=f"{trace or i + 1:032x}", span_id=f"{i + 1:016x}", name=f"op{i}", kind="SERVER",
                start_ns=t, end_ns=t + S // 10, status="ERROR" if i % 2 else "OK", status_message="x" if i % 2 else "",
                attributes={"n": i, "tags": ("a", "b"), "raw": b"\x01"}, resource={"service.name": service},
                events=(SpanEvent(name="exception", time_ns=t, attributes={"exception.type": "E"}),))


def _log(i: int, t: int, service: str = "cart", pod: str | None = None) -> LogRecord:
    resource = {"service.name": service}
    if pod:
        resource |= {"k8s.namespace.name": "ns", "k8s.pod.name": pod}
    return LogRecord(time_ns=t, body=f"line {i}", severity_number=17 if i % 3 == 0 else 9, resource=resource,
                     trace_id=f"{i + 1:032x}")


def test_round_trip_and_window_reads(tmp_path):
    path = tmp_path / "t.sqlite3"
    with TelemetryStore(path) as store:
        store.add_spans([_span(i, T0 + i * S) for i in range(10)])
        store.add_logs([_log(i, T0 + i * S, pod="cart-0" if i < 5 else None) for i in range(10)])
    with TelemetryStore(path) as store:  # reopened: the counts and the data survive
        assert (store.counts().spans, store.counts().logs) == (10, 10)
        window = store.spans(T0 + 2 * S, T0 + 4 * S)
        assert [s.name for s in window] == ["op2", "op3", "op4"]
        span = window[1]
        assert span.status == "ERROR" and span.status_message == "x" and span.attributes["tags"] == ["a", "b"]
        assert span.events[0].attributes == {"exception.type": "E"} and span.resource == {"service.name": "cart"}
        assert span.entity == "app:cart"
        assert [r.body for r in store.logs(T0, T0 + 9 * S, entities=["pod:ns/cart-0"])] == [f"line {i}" for i in range(5)]
        assert len(store.logs(T0, T0 + 9 * S, entities=["app:cart"])) == 10  # matched by service.name too
        assert store.logs(T0, T0 + 9 * S)[3].is_error
        assert [s.span_id for s in store.trace(f"{3:032X}")] == [f"{3:016x}"]


def test_retention_follows_the_data_clock_and_caps_drop_the_oldest():
    store = TelemetryStore(None, retention_s=60, max_spans=1000, max_logs=1000)
    store.add_spans([_span(i, T0 + i * S) for i in range(10)])
    store.add_spans([_span(100 + i, T0 + 3600 * S + i * S) for i in range(5)])  # an hour later: the old ones go
    assert [s.name for s in store.spans(0, 2**63 - 1)] == [f"op{100 + i}" for i in range(5)]
    capped = TelemetryStore(None, max_spans=1000, max_logs=1000)
    for batch in range(12):
        capped.add_logs([_log(i, T0 + (batch * 100 + i) * S) for i in range(100)])
    kept = capped.logs(0, 2**63 - 1)
    assert len(kept) <= 1000 and capped.counts().logs == len(kept)
    assert kept[-1].time_ns == T0 + 1199 * S and kept[0].time_ns > T0  # the newest kept, the oldest dropped


def test_concurrent_writers_lose_nothing(tmp_path):
    store = TelemetryStore(tmp_path / "c.sqlite3")

    def write(k: int) -> None:
        for b in range(20):
            store.add_spans([_span(k * 10_000 + b * 50 + i, T0 + S) for i in range(50)])

    threads = [threading.Thread(target=write, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.counts().spans == 4 * 20 * 50 == len(store.spans(0, 2**63 - 1))
    store.close()
