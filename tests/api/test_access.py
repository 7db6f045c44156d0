"""Access, beyond the token/scope basics of ``test_auth.py``: comparisons that cannot be timed, CORS off, and no
secret anywhere a person or another system can read it — log, SQLite file, API answers, error bodies, metrics."""

from __future__ import annotations

import hmac
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from api import auth
from api.services import signatures
from api.settings import ApiToken

WRITE = "access-write-" + "w" * 24
READ = "access-read-" + "r" * 24
PD_SECRET = "access-pd-secret-" + "s" * 16
PD_TOKEN = "access-pd-rest-" + "t" * 16
NEO4J_PASSWORD = "access-neo4j-" + "p" * 16
SECRETS = (WRITE, READ, PD_SECRET, PD_TOKEN, NEO4J_PASSWORD)


# -- constant-time comparison (unit level: timing itself is too noisy to assert on a shared CI machine) ----------

def test_every_token_is_compared_even_after_a_match(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", counting)
    tokens = tuple(ApiToken(name=f"t{i}", token=f"token-number-{i}-" + "x" * 16, scopes=("read",)) for i in range(5))
    assert auth.match_token("token-number-0-" + "x" * 16, tokens).name == "t0"
    assert len(calls) == 5, "stopped at the first match: the time taken would say which token it was"
    calls.clear()
    assert auth.match_token("nope", tokens) is None
    assert len(calls) == 5


def test_every_signature_is_compared(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = hmac.compare_digest
    monkeypatch.setattr(signatures.hmac, "compare_digest", lambda a, b: calls.append(1) or real(a, b))
    body = b'{"event": {}}'
    header = ",".join([signatures.sign(body, b"first-secret"), "v1=" + "0" * 64, "v1=" + "1" * 64])
    signatures.verify(body, header, [b"first-secret", b"second-secret"])
    assert len(calls) == 6, "3 offered x 2 held, all compared although the very first matched"


# -- a running server --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory, demo_case_dir: Path) -> Any:
    from tests.servers.faultline import _launcher

    start, servers = _launcher(tmp_path_factory.mktemp("access"), demo_case_dir)
    server = start(
        FAULTLINE_API_TOKENS=json.dumps([{"name": "ops", "token": WRITE, "scopes": ["read", "write"]},
                                         {"name": "viewer", "token": READ, "scopes": ["read"]}]),
        FAULTLINE_PAGERDUTY_WEBHOOK_SECRET=PD_SECRET, FAULTLINE_PAGERDUTY_API_TOKEN=PD_TOKEN,
        FAULTLINE_PAGERDUTY_FROM="oncall@example.com", FAULTLINE_PAGERDUTY_API_URL="http://127.0.0.1:9",
        FAULTLINE_PAGERDUTY_SERVICE_MAP=json.dumps({"PCHAT01": "user:deepseek-chat-users"}),
        FAULTLINE_NEO4J_PASSWORD=NEO4J_PASSWORD,
    )
    yield server
    for s in servers:
        s.kill()


@pytest.mark.integration
def test_cors_is_off(guarded: Any) -> None:
    evil = {"Origin": "https://evil.example"}
    preflight = httpx.options(f"{guarded.base_url}/v1/insights", headers={
        **evil, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"})
    assert preflight.status_code >= 400 or "access-control-allow-origin" not in preflight.headers
    for path in ("/v1/insights", "/healthz", "/openapi.json", "/"):
        r = httpx.get(f"{guarded.base_url}{path}", headers={**evil, "Authorization": f"Bearer {READ}"})
        assert not [h for h in r.headers if h.lower().startswith("access-control-")], (path, dict(r.headers))


@pytest.mark.integration
def test_no_secret_in_logs_store_answers_or_metrics(guarded: Any) -> None:
    from api.services.signatures import sign

    url = guarded.base_url
    with guarded.client(WRITE) as c:
        created = c.post("/v1/insights", json={"symptom": "user:deepseek-chat-users",
                                                 "title": "secrets stay out"}).json()
    payload = {"event": {"id": "EVSECRET1", "event_type": "incident.triggered", "resource_type": "incident",
                         "occurred_at": "2026-11-20T11:00:05Z", "agent": None, "client": None,
                         "data": {"id": "PSECRET1", "type": "incident", "title": "Chat slow", "status": "triggered",
                                  "service": {"id": "PCHAT01", "type": "service_reference", "summary": "Chat"}}}}
    body = json.dumps(payload).encode()
    webhook = httpx.post(f"{url}/v1/webhooks/pagerduty", content=body,
                         headers={"X-PagerDuty-Signature": sign(body, PD_SECRET.encode()),
                                  "Content-Type": "application/json"})
    assert webhook.status_code == 202, webhook.text
    first = guarded.wait_insight(created["id"], token=READ)
    second = guarded.wait_insight(webhook.json()["insight_id"], token=READ)
    assert first["status"] == second["status"] == "done"

    answers = []
    # failures that might echo what was sent: a wrong token close to a real one, a bad signature, a bad body
    answers.append(httpx.get(f"{url}/v1/insights", headers={"Authorization": f"Bearer {WRITE[:-1]}X"}).text)
    answers.append(httpx.post(f"{url}/v1/webhooks/pagerduty", content=body,
                              headers={"X-PagerDuty-Signature": sign(body, b"not-" + PD_SECRET.encode())}).text)
    answers.append(httpx.post(f"{url}/v1/insights", content=b'{"symptom": ' + PD_TOKEN.encode() + b"}",
                              headers={"Authorization": f"Bearer {WRITE}", "Content-Type": "application/json"}).text)
    with guarded.client(READ) as c:
        for path in ("/v1/insights?limit=200", "/v1/incidents", f"/v1/insights/{first['id']}",
                     f"/v1/insights/{second['id']}", "/metrics", "/openapi.json", "/healthz"):
            answers.append(c.get(path).text)
    time.sleep(1.5)  # let the outbox try (and fail) to post the note to the closed port at least once

    with sqlite3.connect(guarded.env["FAULTLINE_DB_PATH"]) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        dump = "\n".join(str(row) for t in tables for row in db.execute(f'SELECT * FROM "{t}"'))
    assert "PSECRET1" in dump and "secrets stay out" in dump, "the dump holds the data (else it proves nothing)"
    log = guarded.log()
    assert "POST /v1/webhooks/pagerduty" in log, "access log is on, so the log check means something"
    for secret in SECRETS:
        assert secret not in log, "secret in the server log"
        assert secret not in dump, "secret in the SQLite store"
        for answer in answers:
            assert secret not in answer, f"secret in an API answer: {answer[:200]}"
        assert WRITE[:-1] not in log, "a presented (wrong) token was logged"


@pytest.mark.integration
def test_demo_mode_refuses_cross_site_simple_requests(faultline: Any) -> None:
    """Token-less loopback mode: a web page elsewhere can make the browser send only "simple" requests (form or
    text/plain bodies, no custom headers). None of them can start an insight or post an alert."""
    simple = [({"Content-Type": "application/x-www-form-urlencoded"}, b"symptom=user%3Adeepseek-chat-users"),
              ({"Content-Type": "text/plain"}, b'{"symptom": "user:deepseek-chat-users"}'),
              ({"Content-Type": "multipart/form-data; boundary=x"},
               b'--x\r\nContent-Disposition: form-data; name="symptom"\r\n\r\nuser:deepseek-chat-users\r\n--x--\r\n')]
    for headers, body in simple:
        for path in ("/v1/insights", "/v1/alerts/alertmanager"):
            r = httpx.post(f"{faultline.base_url}{path}", content=body,
                           headers={**headers, "Origin": "https://evil.example"})
            assert r.status_code in (400, 415, 422), (path, headers, r.status_code, r.text[:200])
    with faultline.client() as c:
        assert c.get("/v1/insights").json()["items"] == [], "a simple cross-site request started an insight"
