"""A case with ``traces.jsonl`` (spans exported by the real OpenTelemetry SDK) and ``logs.jsonl``: two services,
front -> cart; cart's own database call fails in the last 8 minutes and cart logs a new error line meanwhile."""

from __future__ import annotations

import json
from pathlib import Path

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


def _trace_ids(receiver) -> list[str]:
    """The trace id of each request, in time order, as the SDK exported them."""
    from topology.otlp import parse_otlp_json

    roots = [s for body in receiver.bodies for s in parse_otlp_json(body).spans if s.name == "GET /cart"]
    return [s.trace_id for s in sorted(roots, key=lambda s: s.start_ns)]


def _logs(path, trace_ids: list[str]) -> None:
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": "cart"}}]}
    lines = []
    for i in range(MINUTES * 6):
        t = T0 + 10 * i + 0.1
        records = [{"timeUnixNano": str(int(t * 1e9)), "severityNumber": 9,
                    "body": {"stringValue": f"cart {i % 50} loaded in {i % 9} ms"}}]
        if i >= (MINUTES - 8) * 6:
            records.append({"timeUnixNano": str(int((t + 0.05) * 1e9)), "severityNumber": 17, "traceId": trace_ids[i],
                            "body": {"stringValue": f"connection to postgres:5432 refused (attempt {i % 3})"}})
        lines.append(json.dumps({"resourceLogs": [{"resource": resource, "scopeLogs": [{"logRecords": records}]}]}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_telemetry_case(directory: Path, otlp_receiver) -> Path:
    """The case directory (``otlp_receiver`` is the test receiver the SDK exports to)."""
    _spans(otlp_receiver)
    directory.mkdir(parents=True)
    otlp_receiver.write_jsonl(directory / "traces.jsonl")
    _logs(directory / "logs.jsonl", _trace_ids(otlp_receiver))
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
