"""Alertmanager webhook (payload version 4): a firing group becomes an incident and one insight; repeats of the same
group do not re-run it; a resolved group closes the incident; unmappable labels are recorded, not dropped."""

from __future__ import annotations

import copy

import pytest

from tests.servers.faultline import FaultlineServer

pytestmark = pytest.mark.integration

FIRING = {
    "version": "4",
    "groupKey": '{}:{alertname="ChatLatencyHigh"}',
    "truncatedAlerts": 0,
    "status": "firing",
    "receiver": "faultline",
    "groupLabels": {"alertname": "ChatLatencyHigh"},
    "commonLabels": {"alertname": "ChatLatencyHigh", "app": "chat-frontend", "severity": "page",
                     "faultline_metric": "latency_p95_s"},
    "commonAnnotations": {"summary": "chat p95 latency above 4 s"},
    "externalURL": "http://alertmanager.example:9093",
    "alerts": [{
        "status": "firing",
        "labels": {"alertname": "ChatLatencyHigh", "app": "chat-frontend", "severity": "page", "instance": "a"},
        "annotations": {"summary": "chat p95 latency above 4 s"},
        "startsAt": "2026-11-20T10:58:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.example:9090/graph?g0.expr=x",
        "fingerprint": "a1b2c3d4e5f60718",
    }],
}


def _post(server: FaultlineServer, payload: dict):
    with server.client() as c:
        return c.post("/v1/alerts/alertmanager", json=payload)


def test_firing_then_repeat_then_resolved(faultline: FaultlineServer) -> None:
    r = _post(faultline, FIRING)
    assert r.status_code == 202, r.text
    first = r.json()
    assert first["created"] and first["symptom"] == "app:chat-frontend" and first["insight_id"]
    done = faultline.wait_insight(first["insight_id"])
    assert done["status"] == "done" and done["request"]["metric"] == "latency_p95_s"
    assert done["request"]["at"] == "2026-11-20T10:58:00Z" and done["source"] == "alertmanager"

    repeat = copy.deepcopy(FIRING)
    repeat["alerts"].append({**FIRING["alerts"][0], "fingerprint": "ffff000011112222",
                             "labels": {**FIRING["alerts"][0]["labels"], "instance": "b"}})
    r = _post(faultline, repeat)
    assert r.status_code == 200
    again = r.json()
    assert again["incident_id"] == first["incident_id"] and not again["created"]
    assert again["insight_id"] == first["insight_id"], "the same group is not analysed twice"

    resolved = copy.deepcopy(repeat)
    resolved["status"] = "resolved"
    for alert in resolved["alerts"]:
        alert["status"], alert["endsAt"] = "resolved", "2026-11-20T11:20:00Z"
    r = _post(faultline, resolved)
    assert r.status_code == 200 and r.json()["status"] == "resolved"
    with faultline.client() as c:
        incident = c.get(f"/v1/incidents/{first['incident_id']}").json()
        assert incident["status"] == "resolved" and incident["resolved_at"] == "2026-11-20T11:20:00Z"
        assert {a["status"] for a in incident["details"]["alerts"].values()} == {"resolved"}
        assert len(incident["details"]["alerts"]) == 2
        insights = c.get("/v1/insights", params={"incident_id": first["incident_id"]}).json()["items"]
    assert [i["id"] for i in insights] == [first["insight_id"]]

    r = _post(faultline, FIRING)  # the same group firing again after it resolved is a new incident
    assert r.status_code == 202 and r.json()["incident_id"] != first["incident_id"]
    faultline.wait_insight(r.json()["insight_id"])


def test_unmapped_labels_are_recorded_without_insight(faultline: FaultlineServer) -> None:
    payload = copy.deepcopy(FIRING)
    payload["groupKey"] = '{}:{alertname="DiskFull"}'
    payload["commonLabels"] = {"alertname": "DiskFull", "job": "node-exporter"}
    payload["alerts"][0]["labels"] = {"alertname": "DiskFull", "job": "node-exporter"}
    r = _post(faultline, payload)
    assert r.status_code == 200
    body = r.json()
    assert body["insight_id"] is None and body["symptom"] is None
    assert "no known entity" in body["message"] and "app:node-exporter" in body["message"]


@pytest.mark.parametrize(("mutate", "needle"), [
    (lambda p: p.update(version="3"), "version"),
    (lambda p: p.pop("groupKey"), "groupKey: Field required"),
    (lambda p: p["alerts"][0].update(status="pending"), "alerts.0.status"),
    (lambda p: p["alerts"][0].update(startsAt="soon"), "alerts.0.startsAt"),
])
def test_bad_payloads(faultline: FaultlineServer, mutate, needle: str) -> None:
    payload = copy.deepcopy(FIRING)
    mutate(payload)
    r = _post(faultline, payload)
    assert r.status_code == 422
    assert needle in r.json()["detail"], r.json()


def test_every_alert_of_a_group_is_mapped_one_insight_per_entity(faultline: FaultlineServer) -> None:
    """vLLM's label is model_name; a group holding a chat latency alert, a vLLM TTFT alert and a disk alert gives two
    insights (one per entity) and records why the third alert named nothing."""
    payload = copy.deepcopy(FIRING)
    payload["groupKey"] = '{}:{severity="page"}'
    payload["groupLabels"] = {"severity": "page"}
    payload["commonLabels"] = {"severity": "page"}
    base = FIRING["alerts"][0]
    payload["alerts"] = [
        {**base, "fingerprint": "01", "labels": {"alertname": "ChatLatencyHigh", "app": "chat-frontend",
                                                 "faultline_metric": "latency_p95_s"}},
        {**base, "fingerprint": "02", "startsAt": "2026-11-20T10:57:00Z",
         "annotations": {"summary": "TTFT p95 above 2 s"},
         "labels": {"alertname": "VLLMSlowTTFT", "model_name": "deepseek-r1@vllm", "faultline_metric": "ttft_p95_s"}},
        {**base, "fingerprint": "03", "labels": {"alertname": "ChatLatencyHigh", "app": "chat-frontend",
                                                 "instance": "b"}},
        {**base, "fingerprint": "04", "labels": {"alertname": "DiskFull", "job": "node-exporter"}},
    ]
    r = _post(faultline, payload)
    assert r.status_code == 202, r.text
    body = r.json()
    assert len(body["insight_ids"]) == 2 and body["insight_id"] == body["insight_ids"][0]
    assert body["symptom"] == "app:chat-frontend"
    done = [faultline.wait_insight(i) for i in body["insight_ids"]]
    assert [(d["request"]["symptom"], d["request"]["metric"], d["request"]["at"]) for d in done] == [
        ("app:chat-frontend", "latency_p95_s", "2026-11-20T10:58:00Z"),
        ("llm:deepseek-r1@vllm", "ttft_p95_s", "2026-11-20T10:57:00Z")]
    assert all(d["incident_id"] == body["incident_id"] and d["status"] == "done" for d in done)
    with faultline.client() as c:
        incident = c.get(f"/v1/incidents/{body['incident_id']}").json()
    (unmapped,) = incident["details"]["unmapped"]
    assert unmapped["alert"] == "04" and "app:node-exporter" in unmapped["reason"]
    assert "2 alert(s) -> app:chat-frontend" in incident["details"]["mapping"]
    assert "maps to no entity" in faultline.log() and "DiskFull" in faultline.log()

    again = copy.deepcopy(payload)  # the same group again, with one alert on a new entity
    again["alerts"].append({**base, "fingerprint": "05", "labels": {"alertname": "RagSlow", "app": "rag-service"}})
    r = _post(faultline, again)
    assert r.status_code == 202, r.text
    (rag,) = r.json()["insight_ids"]
    assert faultline.wait_insight(rag)["request"]["symptom"] == "app:rag-service"
    r = _post(faultline, again)
    assert r.status_code == 200 and r.json()["insight_ids"] == []
