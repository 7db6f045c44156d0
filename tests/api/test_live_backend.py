"""The server on live data sources instead of a case: a topology store file kept by collectors plus the changes,
events and series ``faultline collect`` saved — and a clear 503 while the configured store cannot be reached."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from correlators.case_files import load_case
from tests.servers.common import free_port
from topology.memory_store import MemoryStore

pytestmark = pytest.mark.integration


def test_graph_file_and_collected_dir(start_faultline, demo_case_dir: Path, tmp_path: Path) -> None:
    case = load_case(demo_case_dir)
    store = MemoryStore(tmp_path / "graph.json")
    store.upsert_entities(case.entities)
    store.upsert_relations(case.relations)
    server = start_faultline(use_demo_case_dir=False, FAULTLINE_GRAPH_FILE=str(tmp_path / "graph.json"),
                             FAULTLINE_COLLECTED_DIR=str(demo_case_dir))  # case files are the collected format
    with server.client() as c:
        health = c.get("/healthz").json()
        assert health["backend"] == "live:graph-file"
        assert c.get("/v1/incidents").json()["items"] == []  # live data has no built-in incident
        r = c.post("/v1/insights", json={"symptom": case.incident.symptom, "at": case.incident.at.isoformat(),
                                         "metric": case.incident.metric}, params={"wait": 60})
    assert r.status_code == 200, r.text
    live = r.json()
    assert live["status"] == "done", live["error"]
    assert live["top_cause"].startswith(("commit:", "image:vllm", "pod:prod/vllm"))
    assert live["sparklines"], "series came from the collected directory"


def test_unreachable_store_is_a_clear_503(start_faultline) -> None:
    port = free_port()  # nothing listens here
    server = start_faultline(use_demo_case_dir=False, FAULTLINE_NEO4J_URI=f"bolt://127.0.0.1:{port}",
                             FAULTLINE_NEO4J_PASSWORD="not-logged-secret-123")
    with server.client() as c:
        health = c.get("/healthz").json()
        assert health["status"] == "degraded" and health["detail"]
        r = c.post("/v1/insights", json={"symptom": "app:chat"})
        assert r.status_code == 503
        assert "no analysis data source is available" in r.json()["detail"]
        assert c.get("/v1/insights").status_code == 200  # stored insights stay readable
    assert httpx.get(f"{server.base_url}/").status_code == 200
    assert "not-logged-secret-123" not in server.log()


def test_topology_without_at_is_the_live_graph_now(start_faultline, tmp_path: Path) -> None:
    """On live data ``GET /v1/topology`` without ``at`` shows what holds now, not some recorded moment."""
    from datetime import datetime, timedelta, timezone

    from topology.models import Entity, Relation, RelationKind

    now = datetime.now(timezone.utc)
    store = MemoryStore(tmp_path / "graph.json")
    store.upsert_entities([Entity(id="app:chat", kind="app"), Entity(id="pod:prod/chat-old", kind="pod"),
                           Entity(id="pod:prod/chat-new", kind="pod")])
    store.upsert_relations([
        Relation(src="app:chat", kind=RelationKind.RUNS_ON, dst="pod:prod/chat-old", valid_from=now - timedelta(days=3),
                 valid_to=now - timedelta(days=2)),
        Relation(src="app:chat", kind=RelationKind.RUNS_ON, dst="pod:prod/chat-new", valid_from=now - timedelta(minutes=5)),
    ])
    store.close()
    server = start_faultline(use_demo_case_dir=False, FAULTLINE_GRAPH_FILE=str(tmp_path / "graph.json"))
    with server.client() as c:
        body = c.get("/v1/topology", params={"around": "app:chat", "hops": 1}).json()
    assert [r["dst"] for r in body["relations"]] == ["pod:prod/chat-new"]
