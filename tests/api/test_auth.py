"""API tokens: read and write scopes, 401/403, the console page itself is public, secrets never logged."""

from __future__ import annotations

import json

import httpx
import pytest

pytestmark = pytest.mark.integration

WRITE = "write-token-" + "a" * 24
READ = "read-token-" + "b" * 24
PD_SECRET = "pd-webhook-secret-" + "c" * 16
PD_TOKEN = "pd-rest-token-" + "d" * 16


@pytest.fixture(scope="module")
def secured(tmp_path_factory, demo_case_dir):
    from tests.servers.faultline import _launcher

    start, servers = _launcher(tmp_path_factory.mktemp("auth"), demo_case_dir)
    server = start(
        FAULTLINE_API_TOKENS=json.dumps([{"name": "ops", "token": WRITE, "scopes": ["read", "write"]},
                                         {"name": "viewer", "token": READ, "scopes": ["read"]}]),
        FAULTLINE_PAGERDUTY_WEBHOOK_SECRET=PD_SECRET, FAULTLINE_PAGERDUTY_API_TOKEN=PD_TOKEN,
        FAULTLINE_PAGERDUTY_FROM="oncall@example.com",
    )
    yield server
    for s in servers:
        s.kill()


def test_tokens_and_scopes(secured) -> None:
    url = secured.base_url
    body = {"symptom": "user:deepseek-chat-users"}
    r = httpx.post(f"{url}/v1/insights", json=body)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert httpx.post(f"{url}/v1/insights", json=body, headers={"Authorization": "Bearer " + "x" * 35}).status_code == 401
    r = httpx.post(f"{url}/v1/insights", json=body, headers={"Authorization": f"Bearer {READ}"})
    assert r.status_code == 403 and "lacks the 'write' scope" in r.json()["detail"]
    r = httpx.post(f"{url}/v1/insights", json=body, headers={"Authorization": f"Bearer {WRITE}"})
    assert r.status_code == 202
    ident = r.json()["id"]
    for path in (f"/v1/insights/{ident}", "/v1/insights", "/v1/incidents", "/metrics",
                 "/v1/topology?around=app:rag-service"):
        assert httpx.get(f"{url}{path}").status_code == 401, path
        assert httpx.get(f"{url}{path}", headers={"Authorization": f"Bearer {READ}"}).status_code == 200, path
    assert httpx.post(f"{url}/v1/alerts/alertmanager", json={}).status_code == 401
    assert secured.wait_insight(ident, token=READ)["status"] == "done"


def test_public_pages_and_webhook_use_no_token(secured) -> None:
    url = secured.base_url
    assert httpx.get(f"{url}/healthz").status_code == 200
    page = httpx.get(f"{url}/")
    assert page.status_code == 200 and "script-src 'self'" in page.headers["content-security-policy"]
    assert httpx.get(f"{url}/static/console.js").status_code == 200
    # the PagerDuty webhook authenticates by signature only: a token does not help, a missing signature is 400
    r = httpx.post(f"{url}/v1/webhooks/pagerduty", content=b"{}", headers={"Authorization": f"Bearer {WRITE}"})
    assert r.status_code == 400


def test_secrets_never_logged(secured) -> None:
    httpx.get(f"{secured.base_url}/v1/insights", headers={"Authorization": f"Bearer {READ}"})
    httpx.get(f"{secured.base_url}/v1/insights", headers={"Authorization": "Bearer wrong-token-000000000000"})
    log = secured.log()
    assert "GET /v1/insights" in log  # access log is on (-v), so this checks something
    for secret in (WRITE, READ, PD_SECRET, PD_TOKEN, "wrong-token-000000000000"):
        assert secret not in log
