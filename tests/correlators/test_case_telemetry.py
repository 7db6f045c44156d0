"""A case with ``traces.jsonl`` and ``logs.jsonl`` (one OTLP/JSON export request a line, as the SDK's exporter posts
and the Collector's file exporter writes): the trace and log evidence become series rows with roles, the
anomalies on them carry exemplar trace ids and the log template with example lines, and the ranker puts the
failing service first."""

from __future__ import annotations

import json
import time

import pytest

from correlators.case_files import load_case
from rca.pipeline import analyze
from tests.servers.otlp import Services

T0 = 1_700_000_000
MINUTES = 90


def _spans(receiver) -> None:
    services = Services(receiver.traces_endpoint, ["front", "cart"])
    for i in range(MINUTES * 6):  # a request every 10 s; cart's own database call fails in the last 8 minutes
        start = T0 + 10 * i
        failing = i >= (MINUTES - 8) * 6
        ns = lambda s: int(s * 1e9)  # noqa: E731
        root = services.span("front", "GET /cart", kind="SERVER", start_ns=ns(start), end_ns=ns(start + 0.3),
                             error=failing)
        client = services.span("front", "cart.Get", kind="CLIENT", parent=root, start_ns=ns(start + 0.01),
                               end_ns=ns(start + 0.25), error=failing, attributes={"server.address": "cart"})
        server = services.span("cart", "Get", kind="SERVER", parent=client, start_ns=ns(start + 0.02),
                               end_ns=ns(start + 0.24), error=failing)
        services.span("cart", "SELECT carts", kind="CLIENT", parent=server, start_ns=ns(start + 0.03),
                      end_ns=ns(start + 0.2), error=failing, attributes={"db.system.name": "postgresql"})
    assert services.flush()
    services.shutdown()


def _logs(path) -> None:
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": "cart"}}]}
    lines = []
    for i in range(MINUTES * 6):
        t = T0 + 10 * i + 0.1
        records = [{"timeUnixNano": str(int(t * 1e9)), "severityNumber": 9,
                    "body": {"stringValue": f"cart {i % 50} loaded in {i % 9} ms"}}]
        if i >= (MINUTES - 8) * 6:
            records.append({"timeUnixNano": str(int((t + 0.05) * 1e9)), "severityNumber": 17, "traceId": f"{i + 1:032x}",
                            "body": {"stringValue": f"connection to postgres:5432 refused (attempt {i % 3})"}})
        lines.append(json.dumps({"resourceLogs": [{"resource": resource, "scopeLogs": [{"logRecords": records}]}]}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture
def case_dir(tmp_path, otlp_receiver):
    _spans(otlp_receiver)
    directory = tmp_path / "case"
    directory.mkdir()
    otlp_receiver.write_jsonl(directory / "traces.jsonl")
    _logs(directory / "logs.jsonl")
    (directory / "topology.json").write_text(json.dumps({"entities": [
        {"id": "user:shoppers", "kind": "user"}, {"id": "app:front", "kind": "app"}, {"id": "app:cart", "kind": "app"}],
        "relations": [{"src": "user:shoppers", "kind": "CALLS", "dst": "app:front"},
                      {"src": "app:front", "kind": "CALLS", "dst": "app:cart"}]}))
    rows = ["timestamp,entity,metric,value"] + [f"{T0 + 60 * m},app:front,cpu_usage,{0.3 + 0.01 * (m % 3)}"
                                                for m in range(MINUTES + 1)]
    (directory / "metrics.csv").write_text("\n".join(rows) + "\n")
    (directory / "incident.json").write_text(json.dumps({
        "symptom": "app:front", "metric": "trace_error_rate", "at": T0 + 60 * MINUTES, "lookback": "30m"}))
    return directory


def test_trace_and_log_evidence_reach_the_ranking(case_dir):
    started = time.perf_counter()
    case = load_case(case_dir)
    assert time.perf_counter() - started < 30
    assert case.telemetry is not None and len(case.telemetry.spans) == MINUTES * 6 * 4
    metrics = {k.metric for k in case.series.keys}
    assert {"trace_error_rate", "trace_error_rate[cart]", "trace_self_p50_s", "log_new_templates_per_s",
            "log_errors_per_s"} <= metrics
    assert case.series.fine is not None and case.series.fine.step_s == 10.0
    analysis = analyze(case)
    assert analysis.candidates[0].entity == "app:cart"
    evidence = [e for c in analysis.candidates for e in c.evidence if e.entity == "app:cart"]
    traced = [e for e in evidence if e.traces]
    assert traced and all(len(t) == 32 for e in traced for t in e.traces)
    assert any(t in e.summary for e in traced for t in e.traces)
    logged = [e for e in evidence if e.template]
    assert logged and logged[0].template.startswith("connection to postgres")
    assert logged[0].log_lines and "refused" in logged[0].log_lines[0]


def test_without_telemetry_files_nothing_changes(case_dir):
    (case_dir / "traces.jsonl").unlink()
    (case_dir / "logs.jsonl").unlink()
    case = load_case(case_dir)
    assert case.telemetry is None and {k.metric for k in case.series.keys} == {"cpu_usage"}


def test_bad_lines_are_skipped_and_reported(case_dir):
    with open(case_dir / "logs.jsonl", "a", encoding="utf-8") as handle:
        handle.write("{not json\n")
        handle.write(json.dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": [{"body": {"stringValue": "x"}}]}]}]}) + "\n")
    case = load_case(case_dir)
    reasons = [str(p) for p in case.telemetry.problems]
    assert any("not JSON" in r for r in reasons) and any("neither timeUnixNano" in r for r in reasons)
