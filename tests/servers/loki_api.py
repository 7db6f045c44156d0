"""A stand-in for Loki's query API on 127.0.0.1, built from Loki's published HTTP API reference, because Loki itself
cannot be used here: its Go module (github.com/grafana/loki/v3) is AGPL-3.0, which this project's dependency policy
rules out (``.library/env/packages/go-partial.tsv``: "not-to-use ... under the AGPL"), and no Loki binary is in a
package registry this machine may use.

What it implements, as documented for ``GET /loki/api/v1/query_range``: the ``query`` (a stream selector with
``=``, ``!=``, ``=~``, ``!~`` matchers and ``|=`` / ``!=`` line filters), ``start`` inclusive and ``end`` exclusive
in nanoseconds (or RFC 3339), ``limit`` (default 100), ``direction`` (``backward`` by default, or ``forward``); the
answer ``{"status": "success", "data": {"resultType": "streams", "result": [{"stream": {...}, "values": [[ts,
line], ...]}], "stats": {...}}}`` with ``ts`` a string of nanoseconds; a metric query (``rate(...)``) answers a
``matrix``; a selector that does not parse answers ``400`` with a plain-text reason, as Loki does. It counts the
requests it served, so tests can check paging.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

_MATCHER = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*')
_FILTER = re.compile(r'\s*(\|=|!=)\s*"((?:[^"\\]|\\.)*)"\s*')


@dataclass
class LokiApi:
    url: str = ""
    streams: list[tuple[dict[str, str], list[tuple[int, str]]]] = field(default_factory=list)
    requests: list[dict[str, str]] = field(default_factory=list)

    def push(self, labels: dict[str, str], entries: list[tuple[int, str]]) -> None:
        self.streams.append((dict(labels), sorted(entries)))


def _parse(query: str):
    query = query.strip()
    if not query.startswith("{") or "}" not in query:
        raise ValueError(f"parse error at line 1, col 1: syntax error: unexpected {query[:1]!r}, expecting {{")
    selector, rest = query[1:].split("}", 1)
    matchers = []
    for part in filter(None, (p.strip() for p in selector.split(","))):
        m = _MATCHER.fullmatch(part)
        if not m:
            raise ValueError(f"parse error: invalid matcher {part!r}")
        matchers.append((m.group(1), m.group(2), m.group(3)))
    if not matchers:
        raise ValueError("queries require at least one regexp or equality matcher that does not have an empty-compatible value")
    filters = []
    while rest.strip():
        m = _FILTER.match(rest)
        if not m:
            raise ValueError(f"parse error: unexpected {rest.strip()[:20]!r}")
        filters.append((m.group(1), m.group(2)))
        rest = rest[m.end():]
    return matchers, filters


def _matches(labels: dict[str, str], matchers) -> bool:
    for name, op, value in matchers:
        have = labels.get(name, "")
        ok = {"=": have == value, "!=": have != value, "=~": re.fullmatch(value, have) is not None,
              "!~": re.fullmatch(value, have) is None}[op]
        if not ok:
            return False
    return True


def _ns(text: str) -> int:
    if text.isdigit():
        return int(text)
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1e9)


@pytest.fixture
def loki_api() -> Iterator[LokiApi]:
    api = LokiApi()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 - http.server API
            url = urlparse(self.path)
            if url.path == "/ready":
                return self._send(200, b"ready\n", "text/plain")
            if url.path != "/loki/api/v1/query_range":
                return self._send(404, b"404 page not found\n", "text/plain")
            params = {k: v[0] for k, v in parse_qs(url.query).items()}
            with lock:
                api.requests.append(params)
            query = params.get("query", "")
            if query.startswith(("rate(", "count_over_time(")):
                body = {"status": "success", "data": {"resultType": "matrix", "result": []}}
                return self._send(200, json.dumps(body).encode(), "application/json")
            try:
                matchers, filters = _parse(query)
                start, end = _ns(params.get("start", "0")), _ns(params.get("end", str(2**62)))
                limit = int(params.get("limit", "100"))
            except ValueError as exc:
                return self._send(400, f"{exc}\n".encode(), "text/plain; charset=utf-8")
            forward = params.get("direction", "backward").lower() == "forward"
            hits = []
            for labels, entries in api.streams:
                if not _matches(labels, matchers):
                    continue
                for t, line in entries:
                    if start <= t < end and all((op == "|=") == (text in line) for op, text in filters):
                        hits.append((t, tuple(sorted(labels.items())), line))
            hits.sort(key=lambda h: h[0], reverse=not forward)
            hits = hits[:limit]
            grouped: dict[tuple, list] = {}
            for t, key, line in hits:
                grouped.setdefault(key, []).append([str(t), line])
            result = [{"stream": dict(key), "values": values} for key, values in grouped.items()]
            body = {"status": "success", "data": {"resultType": "streams", "result": result,
                                                  "stats": {"summary": {"totalEntriesReturned": len(hits)}}}}
            return self._send(200, json.dumps(body).encode(), "application/json")

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    api.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield api
    server.shutdown()
    server.server_close()
