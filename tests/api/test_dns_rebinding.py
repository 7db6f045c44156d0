"""DNS rebinding in real Chromium, and ``/docs`` under its strict CSP.

The attack, played in time order: a page is served from ``http://rebind.attacker.example:P`` (a name that resolves
to 127.0.0.1 through Chromium's ``--host-resolver-rules``, set in ``tests/servers/browser.py``) by the attacker's own
small server; that server goes away and ``faultline serve`` (token-less loopback mode) comes up on the same address
and port — what a rebinding of the name to 127.0.0.1 achieves. The page's requests to ``/v1/insights`` are now
*same-origin* and reach faultline: CORS does not apply, and Chromium's Private Network Access does not either (the
page itself came from loopback). The page tries to read the insights and to start one.

The control runs the same attack on a server that explicitly allows the attacker's name
(``FAULTLINE_ALLOWED_HOSTS``): there the page reads and writes, which shows the harness reaches the server and that
the ``Host`` check is what stops the attack.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.servers.common import free_port
from tests.servers.faultline import FaultlineServer

pytestmark = pytest.mark.integration

NAME = "rebind.attacker.example"
ATTACK = b"""<!doctype html><html><body><script>
window.attack = async (title) => {
  const out = {};
  try {
    const r = await fetch('/v1/insights');
    out.readStatus = r.status; out.readBody = await r.text();
  } catch (e) { out.readError = String(e); }
  try {
    const r = await fetch('/v1/insights', {method: 'POST', headers: {'Content-Type': 'application/json'},
      body: JSON.stringify({symptom: 'user:deepseek-chat-users', title: title})});
    out.writeStatus = r.status;
  } catch (e) { out.writeError = String(e); }
  return out;
};
</script></body></html>"""


class _AttackerServer(ThreadingHTTPServer):
    """The attacker's page server. ``close_all`` also closes connections it accepted but has not answered: Chromium
    opens spare connections ahead of need, and one left to this server would answer the page's later requests."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int]) -> None:
        super().__init__(address, _AttackerPage)
        self.open: set[socket.socket] = set()

    def close_all(self) -> None:
        self.shutdown()
        self.server_close()
        for conn in list(self.open):
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()


class _AttackerPage(BaseHTTPRequestHandler):
    server: _AttackerServer

    def setup(self) -> None:
        super().setup()
        self.server.open.add(self.connection)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(ATTACK)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(ATTACK)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def rebind(page: Any, tmp_path: Path, demo_case_dir: Path) -> Iterator[Any]:
    """``rebind(title, **env)``: load the attacker's page, hand its port to a faultline server, run the attack."""
    started: list[FaultlineServer] = []

    def run(title: str, **env: str) -> tuple[dict[str, Any], FaultlineServer]:
        port = free_port()
        attacker = _AttackerServer(("127.0.0.1", port))
        thread = threading.Thread(target=attacker.serve_forever, daemon=True)
        thread.start()
        try:
            page.goto(f"http://{NAME}:{port}/attack.html")
            page.wait_for_function("() => typeof window.attack === 'function'")
        finally:
            attacker.close_all()
        server = FaultlineServer(env={"FAULTLINE_DB_PATH": str(tmp_path / f"{title}.sqlite3"),
                                      "FAULTLINE_CASE_DIR": str(demo_case_dir), **env},
                                 log_path=tmp_path / f"{title}.log", port=port)
        started.append(server)
        server.start()
        return page.evaluate("title => window.attack(title)", title), server

    yield run
    for server in started:
        server.kill()


def _titles(server: FaultlineServer) -> set[str]:
    items = httpx.get(f"{server.base_url}/v1/insights", params={"limit": 200}).json()["items"]
    return {item["title"] for item in items}


def test_a_rebound_page_can_neither_read_nor_write(rebind: Any) -> None:
    result, server = rebind("rebinding-attack")
    assert result.get("readStatus") == 421, result
    assert result.get("writeStatus") == 421, result
    assert "FAULTLINE_ALLOWED_HOSTS" in result.get("readBody", ""), "the answer did not come from faultline"
    assert "ins_" not in result.get("readBody", ""), "the page read insight ids"
    assert "rebinding-attack" not in _titles(server), "the page started an insight"
    assert '"POST /v1/insights HTTP/1.1" 421' in server.log(), "the attack never reached the server: harness broken"


def test_control_a_server_that_allows_the_name_is_reached(rebind: Any) -> None:
    result, server = rebind("control-page", FAULTLINE_ALLOWED_HOSTS=f'["{NAME}"]')
    assert result.get("readStatus") == 200 and result.get("readBody", "").startswith('{"items"'), result
    assert result.get("writeStatus") == 202, result
    assert "control-page" in _titles(server)


def test_docs_render_under_a_strict_csp(page: Any, faultline: Any) -> None:
    """Swagger UI starts from a script file, so ``script-src 'self'`` without 'unsafe-inline' lets it run: the
    operations are drawn and Chromium reports no CSP violation."""
    response = page.goto(f"{faultline.base_url}/docs")
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    page.locator(".opblock").first.wait_for(timeout=30_000)
    assert page.locator(".opblock").count() >= 10
    assert page.console_errors == [], page.console_errors
