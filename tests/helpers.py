"""Small builders shared by tests: a minimal valid case directory that each test then breaks in one way."""

from __future__ import annotations

import json
from pathlib import Path

MINIMAL_TOPOLOGY = {
    "entities": [
        {"id": "app:chat", "kind": "app"},
        {"id": "vectordb:qdrant", "kind": "vectordb"},
    ],
    "relations": [{"src": "app:chat", "kind": "QUERIES", "dst": "vectordb:qdrant", "valid_from": None, "valid_to": None}],
}


def write_case(directory: Path, *, topology: object = None, metrics: str | None = None, incident: object = None,
               changes: object = None, events: object = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "topology.json").write_text(json.dumps(MINIMAL_TOPOLOGY if topology is None else topology))
    if metrics is None:
        rows = ["timestamp,entity,metric,value"]
        for i in range(120):
            t = 1_700_000_000 + 30 * i
            rows.append(f"{t},app:chat,latency_p95_s,{1.0 + (2.0 if i >= 100 else 0.0) + 0.01 * (i % 3)}")
            rows.append(f"{t},vectordb:qdrant,query_latency_p95_s,{0.1 + (0.5 if i >= 98 else 0.0) + 0.001 * (i % 5)}")
        metrics = "\n".join(rows) + "\n"
    (directory / "metrics.csv").write_text(metrics)
    incident = incident if incident is not None else {"symptom": "app:chat", "at": 1_700_000_000 + 30 * 119, "lookback": "30m"}
    (directory / "incident.json").write_text(json.dumps(incident))
    if changes is not None:
        (directory / "changes.json").write_text(json.dumps(changes))
    if events is not None:
        (directory / "events.json").write_text(json.dumps(events))
    return directory
