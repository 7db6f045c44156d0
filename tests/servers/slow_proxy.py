"""A real HTTP proxy that makes a real server slow: requests it picks wait ``delay_s`` before being forwarded.

Why: "a 30-s-hanging Prometheus must never block other insights" is only tested honestly against a server that really
hangs on a real socket. The proxy forwards to the real Prometheus; a picked request is held, and while it waits the
proxy watches its client socket, so a test can tell that the client gave up and closed the connection (``abandoned``)
rather than waiting the delay out.
"""

from __future__ import annotations

import select
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Pick = Callable[[str, bytes], bool]


@dataclass
class SlowProxy:
    target: str
    delay_s: float = 30.0
    pick: Pick = lambda path, body: "/api/v1/query_range" in path
    held: int = 0
    abandoned: int = 0
    forwarded: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def _count(self, name: str) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + 1)

    def start(self) -> "SlowProxy":
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _wait_or_abandon(self) -> bool:
                """Hold the request; True when the client closed its connection meanwhile."""
                proxy._count("held")
                deadline = time.monotonic() + proxy.delay_s
                while (left := deadline - time.monotonic()) > 0:
                    readable, _, _ = select.select([self.connection], [], [], min(left, 0.1))
                    if readable and not self.connection.recv(1, socket.MSG_PEEK):  # EOF: the client hung up
                        proxy._count("abandoned")
                        return True
                return False

            def _forward(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if proxy.pick(self.path, body) and self._wait_or_abandon():
                    self.close_connection = True
                    return
                request = urllib.request.Request(proxy.target + self.path, data=body or None, method=method)
                for key in ("Content-Type",):
                    if self.headers.get(key):
                        request.add_header(key, self.headers[key])
                try:
                    with urllib.request.urlopen(request, timeout=60) as response:
                        status, payload, ctype = response.status, response.read(), response.headers.get("Content-Type")
                except urllib.error.HTTPError as exc:
                    status, payload, ctype = exc.code, exc.read(), exc.headers.get("Content-Type")
                proxy._count("forwarded")
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", ctype or "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

            def do_GET(self) -> None:  # noqa: N802 - http.server API
                self._forward("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._forward("POST")

            def log_message(self, *args: object) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="slow-proxy", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
