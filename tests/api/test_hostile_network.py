"""A running ``faultline serve`` attacked over the network: requests to foreign host names (DNS rebinding), bodies
sent without a token, bodies over a route's cap, uploads that stall or drip, and what anonymous callers can learn.
Real HTTP (httpx, and raw sockets where the attack is in the timing of the bytes) against the real server process.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.rss_probe import PeakGrowth

pytestmark = pytest.mark.integration

WRITE = "hostile-net-writer-" + "w" * 16
READ = "hostile-net-reader-" + "r" * 16
PD_SECRET = "hostile-net-pd-secret-0123"
SYMPTOM = "user:deepseek-chat-users"
MiB = 1024 * 1024
SECURITY_HEADERS = {"x-content-type-options": "nosniff", "x-frame-options": "DENY", "referrer-policy": "no-referrer"}


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory, demo_case_dir: Path) -> Iterator[Any]:
    """Tokens on, short upload timeouts, a public URL and one extra allowed domain."""
    from tests.servers.faultline import _launcher

    start, servers = _launcher(tmp_path_factory.mktemp("hostile-net"), demo_case_dir)
    yield start(FAULTLINE_API_TOKENS=json.dumps([{"name": "ops", "token": WRITE, "scopes": ["read", "write"]},
                                                 {"name": "viewer", "token": READ, "scopes": ["read"]}]),
                FAULTLINE_PAGERDUTY_WEBHOOK_SECRET=PD_SECRET, FAULTLINE_BODY_IDLE_TIMEOUT_S="2",
                FAULTLINE_BODY_TIMEOUT_S="4", FAULTLINE_PUBLIC_URL="https://faultline.example.com:8443/",
                FAULTLINE_ALLOWED_HOSTS='["*.ops.example", "faultline"]')
    for server in servers:
        server.kill()


def _raw(port: int, head: bytes, body: bytes = b"", *, wait_s: float = 10.0) -> tuple[bytes, float, bool]:
    """Send ``head`` + ``body`` on a raw socket and read until the server closes or ``wait_s`` passes.
    Returns (what the server sent, seconds until its first byte, whether it closed the connection)."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait_s) as sock:
        sock.sendall(head + body)
        started = time.monotonic()
        first: float | None = None
        data = b""
        closed = False
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    closed = True
                    break
                first = first if first is not None else time.monotonic() - started
                data += chunk
        except (socket.timeout, ConnectionResetError):
            pass
    return data, first if first is not None else wait_s, closed


def _status(raw: bytes) -> int:
    return int(raw.split(b" ", 2)[1]) if raw.startswith(b"HTTP/1.1 ") else 0


def _head(path: str, *, token: str | None = None, length: int | None = None, chunked: bool = False,
          host: str = "127.0.0.1") -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}", "Content-Type: application/json"]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    if length is not None:
        lines.append(f"Content-Length: {length}")
    if chunked:
        lines.append("Transfer-Encoding: chunked")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n" % len(data) + data + b"\r\n"


# -- 1. DNS rebinding: the Host header ------------------------------------------------------------------------------

@pytest.mark.parametrize("host", ["rebind.attacker.example", "rebind.attacker.example:8080",
                                  "localhost.attacker.example",
                                  "127.0.0.1.nip.io", "faultline.example.com.attacker.example", "ops.example", "evil"])
def test_foreign_host_names_get_421_in_token_less_mode(faultline: Any, host: str) -> None:
    """Token-less loopback mode, where a rebinding page would otherwise read and write everything."""
    with faultline.client() as c:
        before = len(c.get("/v1/insights", params={"limit": 200}).json()["items"])
        for method, path, body in (("GET", "/v1/insights", None), ("POST", "/v1/insights", {"symptom": SYMPTOM}),
                                   ("GET", "/v1/incidents", None), ("GET", "/", None), ("GET", "/healthz", None),
                                   ("POST", "/v1/alerts/alertmanager", {})):
            r = c.request(method, path, json=body, headers={"Host": host})
            assert r.status_code == 421, (method, path, r.status_code, r.text[:200])
            assert set(r.json()) == {"detail", "problems"} and "FAULTLINE_ALLOWED_HOSTS" in r.json()["detail"]
            assert r.headers["x-content-type-options"] == "nosniff"
        assert len(c.get("/v1/insights", params={"limit": 200}).json()["items"]) == before, "a refused POST ran"


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.1:{port}", "localhost:{port}", "LOCALHOST.", "[::1]:{port}",
                                  "app.localhost", "10.1.2.3:{port}", "[fd00::5]"])
def test_loopback_names_and_ip_literals_are_served(faultline: Any, host: str) -> None:
    r = httpx.get(f"{faultline.base_url}/v1/insights", headers={"Host": host.format(port=faultline.port)})
    assert r.status_code == 200, (host, r.text[:200])


@pytest.mark.parametrize("host, status", [("faultline.example.com:8443", 200), ("faultline.example.com", 200),
                                          ("a.ops.example", 200), ("deep.a.ops.example", 200), ("faultline", 200),
                                          ("ops.example", 421), ("faultline.example.com.evil", 421),
                                          ("faultline.internal", 421)])
def test_public_url_host_and_allowed_hosts(guarded: Any, host: str, status: int) -> None:
    r = httpx.get(f"{guarded.base_url}/v1/insights", headers={"Host": host, "Authorization": f"Bearer {READ}"})
    assert r.status_code == status, (host, r.text[:200])


def test_a_wildcard_allow_list_is_refused_in_token_less_mode() -> None:
    from api.settings import Settings

    with pytest.raises(ValueError, match="DNS rebinding"):
        Settings(allowed_hosts=("*",))
    assert Settings(allowed_hosts=("*",), api_tokens=[{"name": "a", "token": "t" * 20}]).auth_required


# -- 2. the token is checked before a byte of the body is read --------------------------------------------------------

def test_no_token_is_refused_before_the_body_is_sent(guarded: Any) -> None:
    """Headers announce 16 MiB, 64 KiB follow, then nothing: the 401 comes at once and the connection is closed —
    the server neither waited for nor read the body."""
    for path in ("/v1/insights", "/v1/alerts/alertmanager", "/v1/traces"):
        raw, first_byte_s, closed = _raw(guarded.port, _head(path, length=16 * MiB), b"{" + b" " * (64 * 1024))
        assert _status(raw) == 401 and b"www-authenticate: bearer" in raw.lower(), raw[:300]
        assert first_byte_s < 1.5, f"the 401 took {first_byte_s:.1f} s: the server waited for the body"
        assert closed, "the connection was kept open with 16 MiB still announced"
    raw, _, closed = _raw(guarded.port, _head("/v1/insights", token=READ, length=16 * MiB), b"{")
    assert _status(raw) == 403 and closed, raw[:300]


def test_unauthenticated_uploads_cost_no_memory(guarded: Any) -> None:
    """Sixteen concurrent unauthenticated 16 MiB uploads (the issue's attack; it took a server from 279 MB to
    2.4 GB). Every one ends in 401, and the server's peak RSS grows by less than 100 MB."""
    body = b'{"symptom": "' + b"x" * (16 * MiB - 20) + b'"}'
    for _ in range(3):  # settle the allocator with a few ordinary requests first
        httpx.get(f"{guarded.base_url}/healthz")

    def upload(_: int) -> int:
        try:
            return httpx.post(f"{guarded.base_url}/v1/insights", content=body, timeout=60,
                              headers={"Content-Type": "application/json"}).status_code
        except (httpx.WriteError, httpx.RemoteProtocolError, httpx.ReadError):
            return 401  # answered and closed while we were still writing: the refusal itself

    with PeakGrowth(guarded.process.pid) as memory, ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(upload, range(16)))
    assert statuses == [401] * 16, statuses
    assert memory.grown < 100 * MiB, f"peak RSS grew by {memory.grown / MiB:.0f} MiB"


# -- per-route caps while streaming, stalled and dripping uploads ---------------------------------------------------

def test_pagerduty_cap_is_enforced_while_streaming(guarded: Any) -> None:
    """300 KiB of a chunked body, then silence: the PagerDuty route answers 413 at its 256 KiB cap without waiting
    for more. The same bytes to /v1/insights (16 MiB cap) are still within bounds, so that upload ends in 408 when
    the idle timeout passes — the cap, not the timeout, stopped the first one."""
    part = _chunk(b"[" + b" " * (300 * 1024))
    raw, _, closed = _raw(guarded.port, _head("/v1/webhooks/pagerduty", chunked=True), part)
    assert _status(raw) == 413 and b"262144 bytes" in raw and closed, raw[-300:]
    raw, first_byte_s, closed = _raw(guarded.port, _head("/v1/insights", token=WRITE, chunked=True), part)
    assert _status(raw) == 408 and closed, raw[-300:]
    assert first_byte_s >= 1.5, "answered before the idle timeout: it was not waiting for the rest"


def test_stalled_upload_times_out(guarded: Any) -> None:
    raw, first_byte_s, closed = _raw(guarded.port, _head("/v1/insights", token=WRITE, length=1000), b'{"symptom"')
    assert _status(raw) == 408 and b"FAULTLINE_BODY_IDLE_TIMEOUT_S" in raw and closed, raw[-300:]
    assert 1.5 <= first_byte_s < 8


def test_dripping_upload_times_out(guarded: Any) -> None:
    """One byte every 0.5 s never trips the idle timeout (2 s); the whole-body deadline (4 s) stops it."""
    with socket.create_connection(("127.0.0.1", guarded.port), timeout=15) as sock:
        sock.sendall(_head("/v1/insights", token=WRITE, length=1000))
        started = time.monotonic()
        answer = b""
        sock.settimeout(0.5)
        while time.monotonic() - started < 12 and not answer:
            try:
                sock.sendall(b" ")
                answer = sock.recv(65536)
            except socket.timeout:
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
        elapsed = time.monotonic() - started
        # the head and the body of the 408 may arrive in separate segments: read on until the server closes
        sock.settimeout(2.0)
        try:
            while answer and (more := sock.recv(65536)):
                answer += more
        except (socket.timeout, ConnectionResetError):
            pass
    assert _status(answer) == 408 and b"FAULTLINE_BODY_TIMEOUT_S" in answer, answer[-300:]
    assert 3.5 <= elapsed < 10


# -- 7. headers, /healthz, error shape ------------------------------------------------------------------------------

def test_security_headers_on_every_answer(guarded: Any) -> None:
    url = guarded.base_url
    auth = {"Authorization": f"Bearer {WRITE}"}
    answers = {
        "console": httpx.get(f"{url}/"), "docs": httpx.get(f"{url}/docs"), "openapi": httpx.get(f"{url}/openapi.json"),
        "static": httpx.get(f"{url}/static/console.js"), "healthz": httpx.get(f"{url}/healthz"),
        "list": httpx.get(f"{url}/v1/insights", headers=auth), "404": httpx.get(f"{url}/v1/nothing", headers=auth),
        "401": httpx.get(f"{url}/v1/insights"), "421": httpx.get(f"{url}/healthz", headers={"Host": "evil.example"}),
        "413": httpx.post(f"{url}/v1/insights", headers=auth, content=b"[" * (17 * MiB)),
        "400": httpx.post(f"{url}/v1/insights", headers=auth, content=b"[" * 200 + b"]" * 200),
        "422": httpx.post(f"{url}/v1/insights", headers=auth, json={"symptom": 5}),
        "405": httpx.delete(f"{url}/v1/insights", headers=auth),
    }
    for name, r in answers.items():
        for header, value in SECURITY_HEADERS.items():
            assert r.headers.get(header) == value, (name, header, dict(r.headers))
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"], name
        if r.headers.get("content-type", "").startswith("application/json"):
            assert r.headers["content-security-policy"].startswith("default-src 'none'"), name
    docs_csp = answers["docs"].headers["content-security-policy"]
    assert "script-src 'self';" in docs_csp and "unsafe-inline" not in docs_csp.split("script-src")[1].split(";")[0]
    assert b"<script>" not in answers["docs"].content, "/docs starts Swagger UI with an inline script again"
    assert answers["413"].status_code == 413 and answers["400"].status_code == 400


def test_healthz_tells_anonymous_callers_only_ok(guarded: Any, faultline: Any) -> None:
    for headers in ({}, {"Authorization": "Bearer not-a-real-token-000000"}):
        r = httpx.get(f"{guarded.base_url}/healthz", headers=headers)
        assert r.status_code == 200 and r.json() == {"status": "ok"}, r.text
    detailed = httpx.get(f"{guarded.base_url}/healthz", headers={"Authorization": f"Bearer {READ}"}).json()
    assert detailed["status"] == "ok" and detailed["backend"].startswith("case:") and "insights" in detailed
    # token-less loopback mode: every local caller may read every insight, so it also gets the details
    assert "backend" in httpx.get(f"{faultline.base_url}/healthz").json()


def test_cursor_with_a_unicode_digit_is_a_clean_422(faultline: Any) -> None:
    for cursor in ("²", "١٢", "𝟗", "-1", "1e3", " 1"):
        r = httpx.get(f"{faultline.base_url}/v1/insights", params={"cursor": cursor})
        assert r.status_code == 422, (cursor, r.text)
        assert r.json() == {"detail": "cursor must be the next_cursor of a previous page", "problems": []}
        r = httpx.get(f"{faultline.base_url}/v1/incidents", params={"cursor": cursor})
        assert r.status_code == 422 and "int()" not in r.text
