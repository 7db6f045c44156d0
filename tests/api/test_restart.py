"""A restart loses no insight: accepted work is on disk before 202, and what was pending when the process was
SIGKILLed (queued, or running under it) is resumed by the next process on the same SQLite file."""

from __future__ import annotations

import sqlite3

import pytest

pytestmark = pytest.mark.integration

SYMPTOMS = ["user:deepseek-chat-users", "app:chat-frontend", "app:rag-service", "llm:deepseek-r1@vllm"]


def test_sigkill_with_pending_insights_then_restart(start_faultline) -> None:
    server = start_faultline(FAULTLINE_MAX_CONCURRENT_INSIGHTS="1")
    with server.client() as c:
        ids = [c.post("/v1/insights", json={"symptom": SYMPTOMS[i % 4]}).json()["id"] for i in range(30)]
    server.kill()
    with sqlite3.connect(server.env["FAULTLINE_DB_PATH"]) as db:  # the state the crash left on disk
        statuses = dict(db.execute("SELECT id, status FROM insights").fetchall())
    assert set(statuses) == set(ids), "every 202 was committed before it was sent"
    pending_at_kill = [i for i in ids if statuses[i] in ("queued", "running")]
    assert pending_at_kill, "all insights finished before the kill; the test proved nothing"

    server.start()
    finished = {i: server.wait_insight(i, timeout_s=120) for i in ids}
    assert all(doc["status"] == "done" for doc in finished.values()), {
        i: (d["status"], d["error"]) for i, d in finished.items() if d["status"] != "done"}
    assert "resuming" in server.log()
    with server.client() as c:
        listed = c.get("/v1/insights", params={"limit": 200}).json()["items"]
    assert {i["id"] for i in listed} == set(ids)


def test_graceful_stop_keeps_results(start_faultline) -> None:
    server = start_faultline()
    with server.client() as c:
        ident = c.post("/v1/insights", json={"symptom": SYMPTOMS[0]}, params={"wait": 30}).json()["id"]
    before = server.wait_insight(ident)
    server.restart()
    with server.client() as c:
        after = c.get(f"/v1/insights/{ident}").json()
    assert after == before
