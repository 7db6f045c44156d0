"""The Loki source against a stand-in of Loki's published query API (``tests/servers/loki_api.py`` says why Loki
itself cannot run here): paging through a window, labels to entities, levels, errors named."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from detectors.exceptions import MetricSourceError, MetricSourceUnavailableError
from detectors.sources.log_series import log_series
from detectors.sources.loki import LokiConfig, LokiSource
from tests.servers.common import free_port

S = 10**9
T0 = 1_700_000_000


def _at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


@pytest.fixture
def loaded(loki_api):
    loki_api.push({"namespace": "shop", "pod": "cart-0", "app": "cart", "level": "info"},
                  [((T0 + i) * S, f"GET /cart/{i} 200") for i in range(300)])
    loki_api.push({"namespace": "shop", "pod": "cart-0", "app": "cart", "level": "error"},
                  [((T0 + 200 + i) * S, f"redis timeout on key cart:{i}") for i in range(100)])
    loki_api.push({"namespace": "shop", "pod": "cart-0", "app": "cart", "level": "error"},
                  [((T0 + 250) * S, f"same nanosecond {k}") for k in range(3)])  # ties at a page edge
    loki_api.push({"namespace": "other", "pod": "x-0", "app": "x"}, [((T0 + 5) * S, "not ours")])
    return loki_api


def test_a_window_is_read_page_by_page_without_loss_or_duplicates(loaded):
    source = LokiSource(loaded.url, LokiConfig(query='{namespace="shop"}', limit=64))
    result = source.read(_at(T0), _at(T0 + 300))
    assert len(result.records) == 300 + 100 + 3
    assert len({(r.time_ns, r.body) for r in result.records}) == 403
    assert [r.time_ns for r in result.records] == sorted(r.time_ns for r in result.records)
    assert result.requests == len(loaded.requests) >= 403 // 64
    first = loaded.requests[0]
    assert first["direction"] == "forward" and first["limit"] == "64" and first["end"] == str((T0 + 300) * S)
    assert result.records[0].entity == "pod:shop/cart-0" and result.records[0].service == "cart"
    assert {r.level for r in result.records} == {"INFO", "ERROR"}


def test_filters_and_end_exclusive(loaded):
    source = LokiSource(loaded.url, LokiConfig(query='{app="cart"} |= "redis"'))
    result = source.read(_at(T0 + 200), _at(T0 + 250))
    assert len(result.records) == 50 and all("redis" in r.body for r in result.records)


def test_lines_feed_the_log_evidence(loaded):
    records = LokiSource(loaded.url, LokiConfig(query='{namespace="shop"}')).read(_at(T0), _at(T0 + 300)).records
    series = log_series(records, grid_start_s=T0, step_s=60, baseline_end_s=T0 + 120)
    table = series.samples.to_table()
    errors = table[(table.metric == "log_errors_per_s")].sort_values("timestamp")["value"].tolist()
    assert errors[:3] == [0.0, 0.0, 0.0] and errors[-1] > 0.9


def test_errors_are_named(loaded):
    with pytest.raises(MetricSourceError, match="HTTP 400: parse error"):
        LokiSource(loaded.url, LokiConfig(query="cart")).read(_at(T0), _at(T0 + 10))
    with pytest.raises(MetricSourceError, match="not log streams"):
        LokiSource(loaded.url, LokiConfig(query='rate({app="cart"}[1m])')).read(_at(T0), _at(T0 + 10))
    with pytest.raises(MetricSourceUnavailableError, match="cannot connect"):
        LokiSource(f"http://127.0.0.1:{free_port()}").read(_at(T0), _at(T0 + 10))


def test_max_lines_is_reported_not_silent(loaded):
    result = LokiSource(loaded.url, LokiConfig(query='{namespace="shop"}', limit=50, max_lines=120)).read(
        _at(T0), _at(T0 + 300))
    assert len(result.records) == 120 and "more than 120 lines" in str(result.problems[0])


@pytest.mark.integration
def test_a_live_insight_reads_its_window_from_loki(loki_api, start_faultline, tmp_path):
    import time

    from tests.servers.otlp import Services

    srv = start_faultline(use_demo_case_dir=False, FAULTLINE_GRAPH_FILE=str(tmp_path / "graph.json"),
                          FAULTLINE_LOKI_URL=loki_api.url, FAULTLINE_LOKI_QUERY='{namespace="shop"}')
    now = time.time()
    services = Services(f"{srv.base_url}/v1/traces", ["shop", "payments"], encoding="protobuf")
    ns = lambda s: int(s * 1e9)  # noqa: E731
    for i in range(40):  # calls for the topology, healthy throughout
        t = now - 2400 + 60 * i
        root = services.span("shop", "POST /checkout", kind="SERVER", start_ns=ns(t), end_ns=ns(t + 0.2))
        client = services.span("shop", "payments.Charge", kind="CLIENT", parent=root, start_ns=ns(t + 0.01),
                               end_ns=ns(t + 0.15))
        services.span("payments", "Charge", kind="SERVER", parent=client, start_ns=ns(t + 0.02), end_ns=ns(t + 0.14))
    assert services.flush()
    services.shutdown()
    start = int(now - 2400)
    loki_api.push({"namespace": "shop", "app": "payments", "level": "info"},
                  [(ns(start + 2 * i), f"charged order {i} in {i % 7} ms") for i in range(1200)])
    loki_api.push({"namespace": "shop", "app": "payments", "level": "error"},
                  [(ns(now - 360 + i), f"card processor 10.0.0.{i % 9} refused the connection") for i in range(350)])
    with srv.client() as client:
        r = client.post("/v1/insights", json={"symptom": "app:shop", "lookback": "30m"}, params={"wait": 60})
        insight = srv.wait_insight(r.json()["id"])
    assert insight["status"] == "done", insight
    assert loki_api.requests and loki_api.requests[0]["query"] == '{namespace="shop"}'
    payments = next(c for c in insight["candidates"] if c["entity"] == "app:payments")
    templates = [e["template"] for e in payments["evidence"] if e.get("template")]
    assert templates and templates[0] == "card processor <IP> refused the connection"
    assert insight["candidates"][0]["entity"] == "app:payments"
