"""PagerDuty enrichment end to end: a signed V3 ``incident.triggered`` webhook -> insight -> a note posted back through
the REST API to a local server that checks every request against PagerDuty's published schema.

The events sent here are themselves checked against our transcription of the V3 webhook payload
(``schemas/pagerduty_webhook_v3.json``), so the test does not drift into a shape PagerDuty never sends.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from pathlib import Path

import httpx
import pytest
from jsonschema import Draft202012Validator, FormatChecker

from api.services.signatures import sign
from tests.servers.faultline import FaultlineServer
from tests.servers.pagerduty import FakePagerDuty

pytestmark = pytest.mark.integration

SECRET = "pd-signing-secret-" + "1" * 16
OLD_SECRET = "pd-signing-secret-" + "0" * 16
SYMPTOM = "user:deepseek-chat-users"
WEBHOOK_SCHEMA = Draft202012Validator(
    json.loads((Path(__file__).parent / "schemas" / "pagerduty_webhook_v3.json").read_text()),
    format_checker=FormatChecker(),
)


def event(incident_id: str = "PT4KHLK", *, event_id: str | None = None, event_type: str = "incident.triggered",
          service_id: str = "PCHAT01", service_name: str = "DeepSeek Chat", title: str = "Chat answers slow") -> dict:
    payload = {"event": {
        "id": event_id or str(uuid.uuid4()),
        "event_type": event_type,
        "resource_type": "incident",
        "occurred_at": "2026-11-20T11:00:05.120Z",
        "agent": None,
        "client": {"name": "Monitoring"},
        "data": {
            "id": incident_id, "type": "incident", "self": f"https://api.pagerduty.com/incidents/{incident_id}",
            "html_url": f"https://acme.pagerduty.com/incidents/{incident_id}", "number": 42,
            "status": "resolved" if event_type == "incident.resolved" else "triggered",
            "incident_key": "d3640fbd41094207a1c11e58e46b1662", "created_at": "2026-11-20T11:00:00Z", "title": title,
            "service": {"id": service_id, "type": "service_reference", "summary": service_name,
                        "self": f"https://api.pagerduty.com/services/{service_id}",
                        "html_url": f"https://acme.pagerduty.com/service-directory/{service_id}"},
            "assignees": [], "teams": [], "priority": None, "urgency": "high", "resolve_reason": None,
        },
    }}
    errors = [e.message for e in WEBHOOK_SCHEMA.iter_errors(payload)]
    assert not errors, f"test event does not match the V3 webhook schema: {errors}"
    return payload


def deliver(server: FaultlineServer, payload: dict, *, secrets: tuple[str, ...] = (SECRET,),
            signature: str | None = None) -> httpx.Response:
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    headers = {"Content-Type": "application/json", "X-Webhook-Id": payload["event"]["id"]}
    if signature is None:
        signature = ",".join(sign(body, s.encode()) for s in secrets)
    if signature:
        headers["X-PagerDuty-Signature"] = signature
    return httpx.post(f"{server.base_url}/v1/webhooks/pagerduty", content=body, headers=headers, timeout=30)


def wait_notes(pd: FakePagerDuty, incident_id: str, count: int = 1, timeout_s: float = 60) -> list[dict]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if len(pd.notes.get(incident_id, [])) >= count:
            return pd.notes[incident_id]
        time.sleep(0.1)
    raise AssertionError(f"{count} note(s) for {incident_id} not posted within {timeout_s} s; "
                         f"requests: {[(r.path, r.problems) for r in pd.requests]}")


def pd_env(pd: FakePagerDuty, **extra: str) -> dict[str, str]:
    env = {
        "FAULTLINE_PAGERDUTY_WEBHOOK_SECRET": SECRET,
        "FAULTLINE_PAGERDUTY_API_TOKEN": pd.token,
        "FAULTLINE_PAGERDUTY_FROM": "faultline-bot@example.com",
        "FAULTLINE_PAGERDUTY_API_URL": pd.base_url,
        "FAULTLINE_PAGERDUTY_SERVICE_MAP": json.dumps({"PCHAT01": SYMPTOM, "RAG API": "app:rag-service"}),
        "FAULTLINE_OUTBOX_POLL_S": "0.2",
        "FAULTLINE_OUTBOX_MAX_BACKOFF_S": "0.5",
    }
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def pd(pagerduty_api_module: FakePagerDuty) -> FakePagerDuty:
    return pagerduty_api_module


@pytest.fixture(scope="module")
def shared(tmp_path_factory, demo_case_dir, pd: FakePagerDuty):
    """One faultline wired to the module's fake PagerDuty; each test uses its own PagerDuty incident ids."""
    from tests.servers.faultline import _launcher

    start, servers = _launcher(tmp_path_factory.mktemp("pd"), demo_case_dir)
    yield start(**pd_env(pd))
    for server in servers:
        server.kill()


def test_triggered_incident_gets_a_schema_valid_note(shared: FaultlineServer, pd: FakePagerDuty) -> None:
    server, pagerduty_api = shared, pd
    r = deliver(server, event("PT4KHLK"))
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["symptom"] == SYMPTOM and body["insight_id"]
    insight = server.wait_insight(body["insight_id"])
    assert insight["status"] == "done" and insight["source"] == "pagerduty"
    [note] = wait_notes(pagerduty_api, "PT4KHLK")
    assert pagerduty_api.violations == []
    assert insight["top_cause"] in note["content"]
    assert f"{server.base_url}/#/insights/{insight['id']}" in note["content"]
    assert " -> ".join(insight["chain"]) in note["content"]
    [request] = pagerduty_api.requests_for("PT4KHLK")
    assert request.headers["from"] == "faultline-bot@example.com"
    with server.client() as c:
        incident = c.get(f"/v1/incidents/{body['incident_id']}").json()
    assert incident["external_key"] == "PT4KHLK" and incident["details"]["html_url"].endswith("/PT4KHLK")


def test_duplicate_deliveries_do_not_run_twice(shared: FaultlineServer, pd: FakePagerDuty) -> None:
    server, pagerduty_api = shared, pd
    payload = event("PDUP001", event_id="evt-dup-1")
    first = deliver(server, payload)
    second = deliver(server, payload)
    assert first.status_code == 202 and second.status_code == 200
    assert second.json()["duplicate"] is True
    assert second.json()["insight_id"] == first.json()["insight_id"]
    # a second triggered event (new id) for the same PagerDuty incident does not start another insight either
    third = deliver(server, event("PDUP001"))
    assert third.status_code == 200 and third.json()["insight_id"] == first.json()["insight_id"]
    server.wait_insight(first.json()["insight_id"])
    wait_notes(pagerduty_api, "PDUP001")
    time.sleep(1.0)  # give a wrong second note time to appear
    assert len(pagerduty_api.notes["PDUP001"]) == 1
    with server.client() as c:
        insights = c.get("/v1/insights", params={"incident_id": first.json()["incident_id"]}).json()["items"]
    assert len(insights) == 1


def test_signature_checks_and_rotation(shared: FaultlineServer) -> None:
    server = shared
    assert deliver(server, event("PSIG001"), signature="").status_code == 400
    r = deliver(server, event("PSIG001"), secrets=("not-the-secret-0000000",))
    assert r.status_code == 403 and "does not match" in r.json()["detail"]
    payload = event("PSIG001")
    body = json.dumps(payload).encode()
    tampered = body.replace(b"Chat answers slow", b"Chat answers fast")
    r = httpx.post(f"{server.base_url}/v1/webhooks/pagerduty", content=tampered,
                   headers={"X-PagerDuty-Signature": sign(body, SECRET.encode())})
    assert r.status_code == 403
    # PagerDuty rotating its secret: two signatures, only one of them ours
    r = deliver(server, payload, secrets=("some-retired-secret-000", SECRET))
    assert r.status_code == 202, r.text


def test_rotation_on_our_side(start_faultline, pagerduty_api: FakePagerDuty) -> None:
    server = start_faultline(**pd_env(pagerduty_api, FAULTLINE_PAGERDUTY_WEBHOOK_SECRET=f"{SECRET},{OLD_SECRET}"))
    assert deliver(server, event("PROT001"), secrets=(OLD_SECRET,)).status_code == 202
    assert deliver(server, event("PROT002"), secrets=(SECRET,)).status_code == 202


def test_other_events_resolve_and_unmapped(shared: FaultlineServer) -> None:
    server = shared
    r = deliver(server, event("PRES001"))
    assert r.status_code == 202
    incident_id = r.json()["incident_id"]
    r = deliver(server, event("PRES001", event_type="incident.acknowledged"))
    assert r.status_code == 200 and r.json()["ignored"] is True
    r = deliver(server, event("PRES001", event_type="incident.resolved"))
    assert r.status_code == 200 and r.json()["incident_id"] == incident_id
    with server.client() as c:
        assert c.get(f"/v1/incidents/{incident_id}").json()["status"] == "resolved"
    r = deliver(server, event("PUNK001", service_id="PZZZ", service_name="Billing", title="invoices late"))
    assert r.status_code == 200 and r.json()["insight_id"] is None
    assert "FAULTLINE_PAGERDUTY_SERVICE_MAP" in r.json()["message"]
    r = deliver(server, event("PRAG001", service_id="PZZZ", service_name="rag api"))
    assert r.status_code == 202 and r.json()["symptom"] == "app:rag-service"


def test_bad_payloads(shared: FaultlineServer) -> None:
    server = shared
    body = b"{not json"
    r = httpx.post(f"{server.base_url}/v1/webhooks/pagerduty", content=body,
                   headers={"X-PagerDuty-Signature": sign(body, SECRET.encode())})
    assert r.status_code == 400 and "not valid JSON" in r.json()["detail"]
    body = json.dumps({"event": {"id": "x"}}).encode()
    r = httpx.post(f"{server.base_url}/v1/webhooks/pagerduty", content=body,
                   headers={"X-PagerDuty-Signature": sign(body, SECRET.encode())})
    assert r.status_code == 422 and "event.event_type" in r.json()["detail"]
    big = b'{"event": "' + b"x" * 300_000 + b'"}'
    r = httpx.post(f"{server.base_url}/v1/webhooks/pagerduty", content=big,
                   headers={"X-PagerDuty-Signature": sign(big, SECRET.encode())})
    assert r.status_code == 413


def test_failed_note_posts_are_retried(start_faultline, pagerduty_api: FakePagerDuty) -> None:
    server = start_faultline(**pd_env(pagerduty_api))
    pagerduty_api.fail_next(2, 500)
    pagerduty_api.fail_next(1, 0)  # connection dropped without an answer
    pagerduty_api.fail_next(1, 429)
    r = deliver(server, event("PRETRY1"))
    server.wait_insight(r.json()["insight_id"])
    [note] = wait_notes(pagerduty_api, "PRETRY1")
    # POST 500, POST 500, POST dropped unanswered (the note may have arrived), so the notes are read first: GET 429,
    # GET (no note there), POST 200
    assert [r.method for r in pagerduty_api.requests] == ["POST", "POST", "POST", "GET", "GET", "POST"]
    assert pagerduty_api.violations == []
    with sqlite3.connect(server.env["FAULTLINE_DB_PATH"]) as db:
        status, attempts = db.execute("SELECT status, attempts FROM outbox").fetchone()
    assert (status, attempts) == ("sent", 5)
    with server.client() as c:
        metrics = c.get("/metrics").text
    assert 'faultline_outbox_deliveries_total{kind="pagerduty_note",outcome="retry"} 4.0' in metrics
    assert "faultline_outbox_pending 0.0" in metrics


def test_note_survives_a_crash_while_pagerduty_is_down(start_faultline, pagerduty_api: FakePagerDuty) -> None:
    server = start_faultline(**pd_env(pagerduty_api))
    pagerduty_api.fail_next(10_000, 503)
    r = deliver(server, event("PCRASH1"))
    server.wait_insight(r.json()["insight_id"])
    deadline = time.monotonic() + 30
    while len(pagerduty_api.requests) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(pagerduty_api.requests) >= 2, "the outbox kept retrying while PagerDuty answered 503"
    server.kill()
    with sqlite3.connect(server.env["FAULTLINE_DB_PATH"]) as db:
        assert db.execute("SELECT status FROM outbox").fetchall() == [("pending",)]
    pagerduty_api.heal()
    server.start()
    [note] = wait_notes(pagerduty_api, "PCRASH1")
    assert "faultline root-cause insight" in note["content"]
    time.sleep(1.0)
    assert len(pagerduty_api.notes["PCRASH1"]) == 1
