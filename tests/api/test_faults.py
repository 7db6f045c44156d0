"""Faults injected for real into a running ``faultline serve`` — servers stopped, killed and made to hang, never a
patched client — and what each must leave behind: a clear status or a degraded answer that says so, and nothing that
was accepted lost.

| fault | expected |
|---|---|
| Neo4j stopped mid-run | new requests 503 with the reason; accepted insights wait (``queued``, stage says why) and finish once Neo4j is back |
| Prometheus unreachable | insights finish on topology, changes and events, marked ``partial`` with the reason (also in the PagerDuty note) |
| LLM endpoint hanging | insights finish within the narrator's deadline with the template narrative, the fallback flagged |
| PagerDuty API answering 500, then the process SIGKILLed | every note delivered exactly once after restart |
| SIGKILL in the middle of a webhook burst | every delivery answered 2xx before the kill has its incident and insight after restart; re-deliveries are de-duplicated |
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.services.signatures import sign
from benchmarks.bench_load import SECRET, WRITE_TOKEN, build_plan
from correlators.case_files import load_case
from tests.servers.faultline import FaultlineServer
from tests.servers.pagerduty import FakePagerDuty
from topology.memory_store import MemoryStore

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _wait(predicate: Any, timeout_s: float, what: str, interval_s: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    raise AssertionError(f"{what} not within {timeout_s} s")


def _statuses(server: FaultlineServer) -> dict[str, tuple[str, str]]:
    with sqlite3.connect(server.env["FAULTLINE_DB_PATH"]) as db:
        return {i: (s, st) for i, s, st in db.execute("SELECT id, status, stage FROM insights")}


# -- Neo4j ----------------------------------------------------------------------------------------------------------

def test_neo4j_stopped_mid_run(neo4j_empty: Any, start_faultline: Any, demo_case_dir: Path) -> None:
    from topology.neo4j_store import Neo4jStore

    case = load_case(demo_case_dir)
    store = Neo4jStore(neo4j_empty.uri, neo4j_empty.user, neo4j_empty.password)
    store.upsert_entities(case.entities)
    store.upsert_relations(case.relations)
    store.close()
    server = start_faultline(
        use_demo_case_dir=False, FAULTLINE_NEO4J_URI=neo4j_empty.uri, FAULTLINE_NEO4J_PASSWORD=neo4j_empty.password,
        FAULTLINE_COLLECTED_DIR=str(demo_case_dir), FAULTLINE_MAX_CONCURRENT_INSIGHTS="1",
        FAULTLINE_INSIGHT_RETRY_BACKOFF_S="1", FAULTLINE_INSIGHT_RETRIES="8",
    )
    request = {"symptom": case.incident.symptom, "at": case.incident.at.isoformat(), "metric": case.incident.metric}
    with server.client() as c:
        first = c.post("/v1/insights", json=request, params={"wait": 60}).json()
        assert first["status"] == "done", first["error"]
        accepted = [c.post("/v1/insights", json=request).json()["id"] for _ in range(4)]

    neo4j_empty.stop()  # clean shutdown mid-run: the queued insights now meet a store that is gone
    with server.client() as c:
        refused = c.post("/v1/insights", json=request)
        assert refused.status_code == 503, refused.text
        assert "Neo4j" in refused.json()["detail"] and "unavailable" in refused.json()["detail"]
        assert c.get("/v1/insights").status_code == 200, "stored insights stay readable"
        assert c.get(f"/v1/insights/{first['id']}").json()["status"] == "done"
    waiting = _wait(lambda: [i for i, (s, st) in _statuses(server).items()
                             if s == "queued" and st.startswith("waiting for the data source")],
                    90, "an insight waiting for the data source")
    assert set(waiting) <= set(accepted)
    assert not [i for i, (s, _) in _statuses(server).items() if s == "failed"], "an accepted insight was failed"

    neo4j_empty.start()
    for ident in accepted:
        done = server.wait_insight(ident, timeout_s=240)
        assert done["status"] == "done", done["error"]
        assert done["top_cause"] == first["top_cause"]
    with server.client() as c:
        assert c.post("/v1/insights", json=request).status_code == 202
        assert "faultline_insight_failures_total{reason=\"retry\"}" in c.get("/metrics").text
    assert "Traceback" not in server.log()


# -- Prometheus -----------------------------------------------------------------------------------------------------

def test_prometheus_unreachable_degrades_to_partial_evidence(
    prometheus_factory: Any, start_faultline: Any, demo_case_dir: Path, tmp_path: Path,
    pagerduty_api: FakePagerDuty,
) -> None:
    case = load_case(demo_case_dir)
    graph = MemoryStore(tmp_path / "graph.json")
    graph.upsert_entities(case.entities)
    graph.upsert_relations(case.relations)
    prometheus = prometheus_factory()
    server = start_faultline(
        use_demo_case_dir=False, FAULTLINE_GRAPH_FILE=str(tmp_path / "graph.json"),
        FAULTLINE_COLLECTED_DIR=str(demo_case_dir), FAULTLINE_PROMETHEUS_URL=prometheus.url,
        FAULTLINE_PAGERDUTY_WEBHOOK_SECRET=SECRET, FAULTLINE_PAGERDUTY_API_TOKEN=pagerduty_api.token,
        FAULTLINE_PAGERDUTY_FROM="oncall@example.com", FAULTLINE_PAGERDUTY_API_URL=pagerduty_api.base_url,
        FAULTLINE_PAGERDUTY_SERVICE_MAP=json.dumps({"PCHAT01": case.incident.symptom}), FAULTLINE_OUTBOX_POLL_S="0.2",
    )
    request = {"symptom": case.incident.symptom, "at": case.incident.at.isoformat(), "metric": case.incident.metric}
    with server.client() as c:
        healthy = c.post("/v1/insights", json=request, params={"wait": 60}).json()
    assert healthy["status"] == "done" and healthy["partial"] == [], healthy.get("error")

    prometheus.stop()  # the real server goes away; its port now refuses connections
    with server.client() as c:
        degraded = c.post("/v1/insights", json=request, params={"wait": 60}).json()
    assert degraded["status"] == "done", degraded["error"]
    [gap] = degraded["partial"]
    assert gap.startswith("metrics: ") and prometheus.url.split("//")[1] in gap, gap
    assert "ranked on topology, changes and events and the collected series only" in gap
    assert degraded["candidates"], "a partial insight still ranks what it has"
    assert degraded["top_cause"] == healthy["top_cause"]

    body = json.dumps({"event": {
        "id": "EVPROMDOWN", "event_type": "incident.triggered", "resource_type": "incident",
        "occurred_at": case.incident.at.isoformat(), "agent": None, "client": None,
        "data": {"id": "PPROMDOWN", "type": "incident", "title": "Chat slow", "status": "triggered",
                 "service": {"id": "PCHAT01", "type": "service_reference", "summary": "Chat"}}}}).encode()
    r = httpx.post(f"{server.base_url}/v1/webhooks/pagerduty", content=body,
                   headers={"X-PagerDuty-Signature": sign(body, SECRET.encode()), "Content-Type": "application/json"})
    assert r.status_code == 202, r.text
    notes = _wait(lambda: pagerduty_api.notes.get("PPROMDOWN"), 60, "the PagerDuty note")
    assert "Partial evidence: metrics: " in notes[0]["content"]
    assert "Traceback" not in server.log()


# -- LLM ------------------------------------------------------------------------------------------------------------

def test_llm_hanging_falls_back_to_the_template_narrative(scripted_llm: Any, start_faultline: Any) -> None:
    hang = scripted_llm.base_url("hang")
    server = start_faultline(FAULTLINE_LLM_BASE_URL=hang, FAULTLINE_LLM_MODEL="scripted", FAULTLINE_LLM_TIMEOUT_S="1",
                             FAULTLINE_LLM_DEADLINE_S="4", FAULTLINE_LLM_MAX_RETRIES="1", FAULTLINE_LLM_CACHE_SIZE="0")
    started = time.monotonic()
    with server.client() as c:
        doc = c.post("/v1/insights", json={"symptom": "user:deepseek-chat-users"}, params={"wait": 60}).json()
    elapsed = time.monotonic() - started
    assert doc["status"] == "done", doc["error"]
    assert scripted_llm.received(hang), "the narrator never called the LLM: the test proved nothing"
    narrative = doc["narrative"]
    assert narrative["narrator"] == "template"
    assert narrative["fallback_reason"], "the fallback must say why"
    assert doc["top_cause"] and narrative["summary"]
    assert elapsed < 30, f"the hanging LLM held the insight {elapsed:.0f} s (deadline 4 s)"

    good = scripted_llm.base_url("good")  # the same wiring with a healthy peer uses the LLM: the fallback was real
    server2 = start_faultline(FAULTLINE_LLM_BASE_URL=good, FAULTLINE_LLM_MODEL="scripted", FAULTLINE_LLM_CACHE_SIZE="0")
    with server2.client() as c:
        ok = c.post("/v1/insights", json={"symptom": "user:deepseek-chat-users"}, params={"wait": 60}).json()
    assert ok["status"] == "done" and ok["narrative"]["narrator"] == "llm", ok["narrative"]


# -- PagerDuty 500 + SIGKILL, and SIGKILL mid-burst -----------------------------------------------------------------

def _plan_server(start_faultline: Any, pagerduty_api: FakePagerDuty, demo_case_dir: Path, groups: int,
                 incidents: int) -> tuple[Any, FaultlineServer]:
    incident = json.loads((demo_case_dir / "incident.json").read_text())
    at = datetime.fromisoformat(incident["at"].replace("Z", "+00:00")).astimezone(timezone.utc)
    plan = build_plan([incident["symptom"]], at, groups=groups, pd_incidents=incidents, seed=3)
    server = start_faultline(
        FAULTLINE_API_TOKENS=json.dumps([{"name": "am", "token": WRITE_TOKEN, "scopes": ["read", "write"]}]),
        FAULTLINE_PAGERDUTY_WEBHOOK_SECRET=SECRET, FAULTLINE_PAGERDUTY_API_TOKEN=pagerduty_api.token,
        FAULTLINE_PAGERDUTY_FROM="oncall@example.com", FAULTLINE_PAGERDUTY_API_URL=pagerduty_api.base_url,
        FAULTLINE_PAGERDUTY_SERVICE_MAP=json.dumps(plan.service_map), FAULTLINE_OUTBOX_POLL_S="0.2",
        FAULTLINE_OUTBOX_MAX_BACKOFF_S="0.5", FAULTLINE_MAX_CONCURRENT_INSIGHTS="1",
    )
    return plan, server


def _audit_after_restart(server: FaultlineServer, plan: Any, pagerduty_api: FakePagerDuty) -> None:
    def settled() -> bool:
        with sqlite3.connect(server.env["FAULTLINE_DB_PATH"]) as db:
            busy = db.execute("SELECT count(*) FROM insights WHERE status IN ('queued', 'running')").fetchone()[0]
            unsent = db.execute("SELECT count(*) FROM outbox WHERE status != 'sent'").fetchone()[0]
        return busy == 0 and unsent == 0 and len(pagerduty_api.notes) == len(plan.pd_incidents)

    _wait(settled, 240, "queue and outbox drained after restart", interval_s=0.5)
    with sqlite3.connect(server.env["FAULTLINE_DB_PATH"]) as db:
        incidents = db.execute("SELECT source, external_key FROM incidents WHERE source != 'case'").fetchall()
        insights = db.execute("SELECT status, error FROM insights").fetchall()
    assert sorted(k for s, k in incidents if s == "alertmanager") == sorted(plan.alert_groups)
    assert sorted(k for s, k in incidents if s == "pagerduty") == sorted(plan.pd_incidents)
    assert len(insights) == len(plan.alert_groups) + len(plan.pd_incidents), "one insight per incident, no more"
    assert all(status == "done" for status, _ in insights), insights
    assert {k: len(v) for k, v in pagerduty_api.notes.items()} == {i: 1 for i in plan.pd_incidents}
    assert pagerduty_api.violations == []


def test_pagerduty_500s_then_sigkill_lose_no_note(
    start_faultline: Any, pagerduty_api: FakePagerDuty, demo_case_dir: Path
) -> None:
    plan, server = _plan_server(start_faultline, pagerduty_api, demo_case_dir, groups=0, incidents=6)
    pagerduty_api.fail_next(10_000, 500)
    with httpx.Client(base_url=server.base_url, timeout=30) as c:
        for d in plan.deliveries:
            assert c.post(d.path, content=d.body, headers=d.headers).status_code in (200, 202)
    _wait(lambda: len(pagerduty_api.requests) >= 6, 120, "note posts meeting PagerDuty's 500s")
    server.kill()  # SIGKILL with notes in the outbox, some insights maybe still queued
    pagerduty_api.heal()
    server.start()
    _audit_after_restart(server, plan, pagerduty_api)
    assert sum(r.path.endswith("/notes") for r in pagerduty_api.requests) > len(plan.pd_incidents), "500s were met"


def test_sigkill_mid_burst_loses_nothing_accepted(
    start_faultline: Any, pagerduty_api: FakePagerDuty, demo_case_dir: Path
) -> None:
    plan, server = _plan_server(start_faultline, pagerduty_api, demo_case_dir, groups=8, incidents=8)
    answered: list[int] = []
    errors: list[str] = []

    def deliver_all() -> None:
        with httpx.Client(base_url=server.base_url, timeout=10) as c:
            for d in plan.deliveries * 4:
                try:
                    answered.append(c.post(d.path, content=d.body, headers=d.headers).status_code)
                except httpx.HTTPError as exc:  # the server died under us: a sender would retry later
                    errors.append(type(exc).__name__)
                    return

    sender = threading.Thread(target=deliver_all)
    sender.start()
    _wait(lambda: len(answered) >= len(plan.deliveries) // 2, 60, "half the first round answered", interval_s=0.01)
    server.kill()
    sender.join(30)
    assert answered and all(200 <= s < 300 for s in answered), answered
    assert errors, "the burst finished before the kill: nothing was in flight"

    server.start()  # Alertmanager and PagerDuty re-deliver what they could not hand over: send everything again
    with httpx.Client(base_url=server.base_url, timeout=30) as c:
        again = [c.post(d.path, content=d.body, headers=d.headers).status_code for d in plan.deliveries]
    assert all(200 <= s < 300 for s in again), again
    _audit_after_restart(server, plan, pagerduty_api)


@pytest.mark.parametrize("stored", [True, False], ids=["note-stored-at-pagerduty", "note-never-arrived"])
def test_sigkill_between_note_post_and_commit_posts_exactly_one_note(
    start_faultline: Any, pagerduty_api: FakePagerDuty, demo_case_dir: Path, stored: bool
) -> None:
    """The window of the duplicate note: PagerDuty has the note (or not), faultline dies before committing 'sent'.

    The fake PagerDuty SIGKILLs the faultline process while handling its note POST — after storing the note, or
    before — and hangs up without an answer, so the outbox row is left ``pending`` and in flight. After a restart the
    row must be checked against the incident's notes (GET) and the note posted only if it is not there."""
    plan, server = _plan_server(start_faultline, pagerduty_api, demo_case_dir, groups=0, incidents=1)
    [incident] = plan.pd_incidents
    assert server.process is not None
    pid = server.process.pid
    pagerduty_api.kill_on_next_note(pid, stored=stored)
    triggered = next(d for d in plan.deliveries if b"incident.triggered" in d.body)
    r = httpx.post(f"{server.base_url}{triggered.path}", content=triggered.body, headers=triggered.headers, timeout=30)
    assert r.status_code == 202, r.text
    _wait(lambda: server.process is not None and server.process.poll() is not None, 120, "the SIGKILL from PagerDuty")
    assert server.process.returncode == -9
    server.process = None

    with sqlite3.connect(server.env["FAULTLINE_DB_PATH"]) as db:
        rows = db.execute("SELECT status, in_flight, target FROM outbox").fetchall()
    assert rows == [("pending", 1, incident)], "the kill must land between 'in flight' and 'sent'"
    assert len(pagerduty_api.notes.get(incident, [])) == (1 if stored else 0)
    posts_before = len(pagerduty_api.posts())

    server.start()
    _audit_after_restart(server, plan, pagerduty_api)  # exactly one note on the incident, every request schema-valid
    assert pagerduty_api.gets(), "the uncertain note was re-sent without looking at the incident first"
    assert len(pagerduty_api.posts()) - posts_before == (0 if stored else 1)
    [note] = pagerduty_api.notes[incident]
    with sqlite3.connect(server.env["FAULTLINE_DB_PATH"]) as db:
        [(insight_id,)] = db.execute("SELECT id FROM insights").fetchall()
    assert note["content"].endswith(f"faultline-ref: {insight_id}")
