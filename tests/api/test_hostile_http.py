"""Hostile requests over real HTTP: oversized bodies (declared and chunked), absurd nesting, broken encodings,
oversized inline cases. Every one gets a clear 4xx; the server stays up and logs no traceback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from api.services.signatures import sign
from tests.helpers import write_case

pytestmark = pytest.mark.integration

LIMIT = 64 * 1024
WRITE = "hostile-http-writer-" + "w" * 16
SECRET = "hostile-http-pd-secret-0123"
SYMPTOM = "app:chat"  # tests.helpers.write_case: 240 samples, so a 300-sample cap leaves room


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, demo_case_dir: Any) -> Iterator[Any]:
    from tests.servers.faultline import _launcher

    directory = tmp_path_factory.mktemp("hostile-http")
    start, servers = _launcher(directory, demo_case_dir)
    yield start(use_demo_case_dir=False, FAULTLINE_CASE_DIR=str(write_case(directory / "case")),
                FAULTLINE_MAX_BODY_BYTES=str(LIMIT), FAULTLINE_MAX_METRIC_ROWS="300",
                FAULTLINE_API_TOKENS=json.dumps([{"name": "w", "token": WRITE, "scopes": ["read", "write"]}]),
                FAULTLINE_PAGERDUTY_WEBHOOK_SECRET=SECRET)
    for s in servers:
        s.kill()


def _auth(**extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {WRITE}", "Content-Type": "application/json", **extra}


def _padded(size: int) -> bytes:
    body = json.dumps({"symptom": SYMPTOM, "title": ""}).encode()
    return body[:-2] + b"x" * (size - len(body)) + b'"}'


@pytest.mark.parametrize("path, headers, status", [
    ("/v1/insights", _auth(), 413), ("/v1/alerts/alertmanager", _auth(), 413), ("/v1/insights", {}, 401),
    ("/v1/webhooks/pagerduty", {"Content-Type": "application/json"}, 413), ("/v1/traces", _auth(), 413),
])
def test_declared_oversized_body_is_refused_before_reading(server: Any, path: str, headers: dict[str, str],
                                                           status: int) -> None:
    """413 from the declared length; without a token, 401 comes first (the token is checked before the body)."""
    body = _padded(LIMIT + 1)
    if path.endswith("pagerduty"):
        headers = {**headers, "X-PagerDuty-Signature": sign(body, SECRET.encode())}
    r = httpx.post(f"{server.base_url}{path}", content=body, headers=headers, timeout=30)
    assert r.status_code == status, (path, r.status_code, r.text[:200])
    if status == 413:
        assert f"larger than {LIMIT} bytes" in r.json()["detail"]


def test_chunked_oversized_body_is_413(server: Any) -> None:
    sent = 0

    def endless() -> Iterator[bytes]:
        nonlocal sent
        yield b'{"symptom": "' + SYMPTOM.encode() + b'", "title": "'
        for _ in range(10_000):  # up to 80 MB if nobody stopped reading
            sent += 8192
            yield b"x" * 8192

    try:
        r = httpx.post(f"{server.base_url}/v1/insights", content=endless(), headers=_auth(), timeout=30)
        assert r.status_code == 413, r.text[:200]
    except (httpx.WriteError, httpx.RemoteProtocolError, httpx.ReadError):
        pass  # the server answered 413 and closed while we were still writing: equally a refusal
    assert sent < 80_000_000, "the whole endless body was accepted"
    assert httpx.get(f"{server.base_url}/healthz").status_code == 200


def test_body_at_the_limit_is_served(server: Any) -> None:
    r = httpx.post(f"{server.base_url}/v1/insights", content=_padded(LIMIT), headers=_auth(), timeout=30)
    assert r.status_code == 422 and "title" in r.text  # read and validated (title too long), not refused by size
    r = httpx.post(f"{server.base_url}/v1/insights", json={"symptom": SYMPTOM}, headers=_auth())
    assert r.status_code == 202, r.text


@pytest.mark.parametrize("body, status", [
    (b"[" * 30_000 + b"]" * 30_000, 400),
    (b'{"symptom": ' + b'{"a": ' * 5_000 + b"1" + b"}" * 5_000 + b"}", 400),
    (b'{"symptom": "\xff\xfe"}', 400),
    (b'{"symptom": "' + SYMPTOM.encode() + b'", "at": NaN}', 422),
    (b'{"symptom": "' + SYMPTOM.encode() + b'", "at": 1e999}', 422),
    (b'{"symptom": "' + SYMPTOM.encode() + b'", "at": ' + b"9" * 5000 + b"}", 400),
    (b'{"symptom": "' + SYMPTOM.encode() + b'", "lookback": "99999999999999d"}', 422),
    (b'{"symptom": "' + SYMPTOM.encode() + b'", "at": "0001-01-01T00:00:00Z"}', 422),
    (b'{"symptom": "\\u0000' + b'"}', 422),
    (b"", 422),
])
def test_malformed_bodies_are_4xx(server: Any, body: bytes, status: int) -> None:
    r = httpx.post(f"{server.base_url}/v1/insights", content=body, headers=_auth(), timeout=30)
    assert r.status_code == status, (r.status_code, r.text[:300])
    assert r.json()["detail"]


def test_signed_but_hostile_pagerduty_bodies(server: Any) -> None:
    for body in (b"[" * 100_000 + b"]" * 100_000, b"\xff" * 10, b'{"event": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
                 b'{"event": {"id": "x", "event_type": "incident.triggered", "occurred_at": 1e999, "data": {}}}'):
        body = body[: 200 * 1024]
        r = httpx.post(f"{server.base_url}/v1/webhooks/pagerduty", content=body,
                       headers={"X-PagerDuty-Signature": sign(body, SECRET.encode()), "Content-Type": "application/json"})
        assert 400 <= r.status_code < 500, (r.status_code, r.text[:200])


def test_inline_case_over_the_row_cap_is_422(server: Any) -> None:
    case = {
        "topology": {"entities": [{"id": "app:a", "kind": "app"}], "relations": []},
        "metrics": [{"timestamp": 1_795_000_000 + 30 * i, "entity": "app:a", "metric": "rps", "value": 1}
                    for i in range(301)],
        "incident": {"symptom": "app:a", "at": 1_795_003_000},
    }
    r = httpx.post(f"{server.base_url}/v1/insights", json={"case": case}, headers=_auth())
    assert r.status_code == 422 and "more than 300 samples (max_metric_rows)" in r.json()["detail"], r.text
    case["metrics"] = case["metrics"][:300]
    r = httpx.post(f"{server.base_url}/v1/insights", json={"case": case}, headers=_auth())
    assert r.status_code == 202, r.text


def test_server_survived_everything(server: Any) -> None:
    assert httpx.get(f"{server.base_url}/healthz").status_code == 200
    assert "Traceback" not in server.log(), server.log()[-3000:]
