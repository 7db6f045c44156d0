"""The insight API through the real HTTP stack: ``faultline serve`` (uvicorn) on a loopback port, httpx as the client."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from correlators.case_files import load_case
from tests.helpers import MINIMAL_TOPOLOGY, write_case
from tests.servers.faultline import FaultlineServer

pytestmark = pytest.mark.integration

SYMPTOM = "user:deepseek-chat-users"


def _start(server: FaultlineServer, body: dict, **params) -> dict:
    with server.client() as c:
        r = c.post("/v1/insights", json=body, params=params)
    assert r.status_code in (200, 202), r.text
    return r.json()


def test_post_returns_202_then_the_insight_completes(faultline: FaultlineServer, demo_case_dir: Path) -> None:
    with faultline.client() as c:
        r = c.post("/v1/insights", json={"symptom": SYMPTOM})
        assert r.status_code == 202, r.text
        accepted = r.json()
        assert accepted["status"] in ("queued", "running")
        assert r.headers["location"] == f"/v1/insights/{accepted['id']}"
        assert accepted["links"]["console"].endswith(f"/#/insights/{accepted['id']}")
    done = faultline.wait_insight(accepted["id"])
    assert done["status"] == "done", done.get("error")
    case = load_case(demo_case_dir)
    assert done["request"]["at"] == case.incident.at.isoformat().replace("+00:00", "Z")  # default at = case time
    # the demo's bad rollout: the cause is the commit, its image, or a vLLM pod, and the chain ends at the symptom
    assert re.match(r"^(commit:|image:vllm|pod:prod/vllm)", done["top_cause"]), done["top_cause"]
    assert done["chain"][0] == done["top_cause"] and done["chain"][-1] == SYMPTOM
    top = done["candidates"][0]
    assert top["evidence"], "the top candidate carries its evidence"
    assert done["narrative"]["summary"]
    assert done["timings_ms"]["total"] > 0
    ids = {e["id"] for e in done["topology"]["entities"]}
    assert set(done["chain"]) <= ids
    assert all(0 <= s <= 1 for s in done["entity_scores"].values())
    spark = done["sparklines"][0]
    assert len(spark["t"]) == len(spark["v"]) > 10


def test_wait_parameter_returns_the_finished_insight(faultline: FaultlineServer) -> None:
    with faultline.client() as c:
        r = c.post("/v1/insights", json={"symptom": SYMPTOM, "lookback": "45m"}, params={"wait": 30})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "done"
    assert r.json()["request"]["lookback"] == "45m"


def test_list_is_newest_first_and_paginated(faultline: FaultlineServer) -> None:
    ids = [_start(faultline, {"symptom": s})["id"] for s in (SYMPTOM, "app:rag-service", "llm:deepseek-r1@vllm")]
    with faultline.client() as c:
        first = c.get("/v1/insights", params={"limit": 2}).json()
        assert [i["id"] for i in first["items"]] == [ids[2], ids[1]]
        assert first["next_cursor"]
        second = c.get("/v1/insights", params={"limit": 2, "cursor": first["next_cursor"]}).json()
        assert second["items"][0]["id"] == ids[0]  # older insights of other tests may follow
        everything = c.get("/v1/insights", params={"limit": 200}).json()
        assert everything["next_cursor"] is None
        created = [i["created_at"] for i in everything["items"]]
        assert created == sorted(created, reverse=True)
        assert c.get("/v1/insights", params={"cursor": "abc"}).status_code == 422
        assert c.get("/v1/insights", params={"limit": 0}).status_code == 422
    for ident in ids:
        assert faultline.wait_insight(ident)["status"] == "done"


def test_unknown_ids_are_404(faultline: FaultlineServer) -> None:
    with faultline.client() as c:
        r = c.get("/v1/insights/ins_doesnotexist")
        assert r.status_code == 404
        assert r.json()["detail"] == "insight 'ins_doesnotexist' not found"
        assert c.get("/v1/incidents/inc_nope").status_code == 404
        r = c.post("/v1/insights", json={"incident_id": "inc_nope"})
        assert r.status_code == 404 and "incident 'inc_nope' not found" in r.json()["detail"]
        r = c.get("/v1/topology", params={"around": "app:nope"})
        assert r.status_code == 404 and "app:nope" in r.json()["detail"]


def test_unknown_entity_errors_suggest_the_ids_that_exist(faultline: FaultlineServer) -> None:
    """The README's old example (``app:chat``) against the demo (``app:chat-frontend``): both errors say what exists."""
    with faultline.client() as c:
        r = c.get("/v1/topology", params={"around": "app:chat"})
        assert r.status_code == 404 and "did you mean app:chat-frontend" in r.json()["detail"]
        r = c.post("/v1/insights", json={"symptom": "app:chat"})
        assert r.status_code == 422 and "did you mean app:chat-frontend" in r.json()["detail"]


@pytest.mark.parametrize(("body", "status", "needle"), [
    (b"{not json", 400, "not valid JSON"),
    (b"[]", 422, "(body)"),
    (json.dumps({}).encode(), 422, "give exactly one of 'symptom', 'labels', 'incident_id' or 'case'"),
    (json.dumps({"symptom": "app:chat", "labels": {"a": "b"}}).encode(), 422, "(got symptom, labels)"),
    (json.dumps({"symptom": "no-kind"}).encode(), 422, "symptom: symptom must be an entity id like 'kind:name'"),
    (json.dumps({"symptom": "app:does-not-exist"}).encode(), 422, "'app:does-not-exist' is not an entity"),
    (json.dumps({"symptom": SYMPTOM, "at": "yesterday"}).encode(), 422, "at: "),
    (json.dumps({"symptom": SYMPTOM, "lookback": "forever"}).encode(), 422, "not a duration"),
    (json.dumps({"symptom": SYMPTOM, "colour": "red"}).encode(), 422, "colour: Extra inputs are not permitted"),
    (json.dumps({"labels": {"alertname": "X"}}).encode(), 422, "no known entity for these labels"),
])
def test_bad_payloads_get_clear_messages(faultline: FaultlineServer, body: bytes, status: int, needle: str) -> None:
    with faultline.client() as c:
        r = c.post("/v1/insights", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == status, r.text
    assert needle in r.json()["detail"], r.json()


def test_alert_labels_are_resolved_to_an_entity(faultline: FaultlineServer) -> None:
    accepted = _start(faultline, {"labels": {"alertname": "RagSlow", "app": "rag-service"}})
    done = faultline.wait_insight(accepted["id"])
    assert done["request"]["symptom"] == "app:rag-service"
    assert done["status"] == "done"


def test_inline_case_is_analysed_and_bad_case_is_422(faultline: FaultlineServer, tmp_path: Path) -> None:
    case_dir = write_case(tmp_path / "c")
    rows = [line.split(",") for line in (case_dir / "metrics.csv").read_text().splitlines()[1:]]
    case = {
        "topology": MINIMAL_TOPOLOGY,
        "metrics": [{"timestamp": int(t), "entity": e, "metric": m, "value": float(v)} for t, e, m, v in rows],
        "incident": json.loads((case_dir / "incident.json").read_text()),
    }
    accepted = _start(faultline, {"case": case})
    done = faultline.wait_insight(accepted["id"])
    assert done["status"] == "done", done["error"]
    assert done["top_cause"] == "vectordb:qdrant"  # its latency rose first and the app depends on it
    bare = _start(faultline, case)  # a body that *is* a case is accepted too
    assert faultline.wait_insight(bare["id"])["top_cause"] == "vectordb:qdrant"
    broken = {**case, "incident": {**case["incident"], "symptom": "app:ghost"}}
    with faultline.client() as c:
        r = c.post("/v1/insights", json={"case": broken})
    assert r.status_code == 422
    assert "app:ghost" in r.json()["detail"] and "incident.json" in r.json()["detail"]


def test_topology_as_it_was(faultline: FaultlineServer, demo_case_dir: Path) -> None:
    case = load_case(demo_case_dir)
    swap = next(c for c in case.changes if c.entity == "pod:prod/vllm-0")
    with faultline.client() as c:
        before = c.get("/v1/topology", params={"around": "pod:prod/vllm-0", "hops": 1, "direction": "down",
                                               "at": "2026-11-20T10:00:00Z"}).json()
        after = c.get("/v1/topology", params={"around": "pod:prod/vllm-0", "hops": 1, "direction": "down",
                                              "at": "2026-11-20T10:59:00Z"}).json()
        runs = lambda doc: {r["dst"] for r in doc["relations"] if r["kind"] == "RUNS"}  # noqa: E731
        assert runs(before) == {swap.before} and runs(after) == {swap.after}
        both = c.get("/v1/topology", params={"around": SYMPTOM, "hops": 2}).json()
        assert both["around"] == SYMPTOM and {"app:chat-frontend", "app:rag-service"} <= {e["id"] for e in both["entities"]}
        assert c.get("/v1/topology", params={"around": SYMPTOM, "at": "nope"}).status_code == 422
        assert c.get("/v1/topology", params={"around": SYMPTOM, "hops": 99}).status_code == 422


def test_incidents_list_holds_the_case_incident_and_wand_on_it(faultline: FaultlineServer) -> None:
    with faultline.client() as c:
        items = c.get("/v1/incidents").json()["items"]
        [case_incident] = [i for i in items if i["source"] == "case"]
        assert case_incident["symptom"] == SYMPTOM
        accepted = c.post("/v1/insights", json={"incident_id": case_incident["id"]}).json()
    done = faultline.wait_insight(accepted["id"])
    assert done["incident_id"] == case_incident["id"] and done["request"]["metric"] == "latency_p95_s"
    with faultline.client() as c:
        assert c.get(f"/v1/incidents/{case_incident['id']}").json()["latest_insight"] == accepted["id"]


def test_healthz_metrics_and_docs(faultline: FaultlineServer) -> None:
    done = faultline.wait_insight(_start(faultline, {"symptom": SYMPTOM})["id"])
    assert done["status"] == "done"
    with faultline.client() as c:
        health = c.get("/healthz").json()
        assert health["status"] == "ok" and health["backend"].startswith("case:")
        text = c.get("/metrics").text
        assert re.search(r'^faultline_insights_total\{outcome="done"\} [1-9]', text, re.M), text
        assert re.search(r"^faultline_insight_duration_seconds_count [1-9]", text, re.M)
        assert "faultline_insight_duration_seconds_bucket{le=\"0.5\"}" in text
        docs = c.get("/docs").text
        assert "/static/vendor/swagger-ui-dist/swagger-ui-bundle.js" in docs and "cdn" not in docs.lower()
        spec = c.get("/openapi.json").json()
        assert {"/v1/insights", "/v1/insights/{insight_id}", "/v1/topology", "/v1/alerts/alertmanager",
                "/v1/webhooks/pagerduty", "/healthz", "/metrics"} <= set(spec["paths"])
