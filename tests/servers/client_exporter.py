"""A ``prometheus_client`` registry served over real HTTP in a chosen exposition format.

Why not ``prometheus_client.start_http_server``: it negotiates the format from the scraper's ``Accept`` header, and
Prometheus asks for OpenMetrics first — so the classic text format would never be exercised. This server always
answers in the format it was started with, using the library's own ``generate_latest`` for that format, so the bytes
are exactly what a Python service (vLLM's API server, an OpenTelemetry Prometheus exporter) would send.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal

from prometheus_client import CollectorRegistry

Format = Literal["text", "openmetrics"]


@dataclass
class ClientExporter:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    fmt: Format = "text"
    scrapes: int = 0
    _server: ThreadingHTTPServer | None = None

    def render(self) -> tuple[bytes, str]:
        if self.fmt == "openmetrics":
            from prometheus_client.openmetrics.exposition import CONTENT_TYPE_LATEST, generate_latest
        else:
            from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def start(self) -> str:
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server API
                body, content_type = exporter.render()
                exporter.scrapes += 1
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="client-exporter", daemon=True).start()
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
