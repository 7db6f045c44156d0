"""A local stand-in for PagerDuty's REST API that checks every request against PagerDuty's published schema.

PagerDuty itself cannot be reached from here, so the notes faultline posts go to this real HTTP server on 127.0.0.1.
It does not encode what faultline is *expected* to send: it checks method, path, headers and body against
``tests/api/schemas/pagerduty_rest_incident_note.json`` (``createIncidentNote``, POST) and
``tests/api/schemas/pagerduty_rest_incident_notes_list.json`` (``listIncidentNotes``, GET), our transcriptions of
PagerDuty's OpenAPI document (each file cites its source). A request that breaks the schema gets PagerDuty's generic
400 error body and is recorded in ``violations``; tests assert that list stays empty. Its answers are checked against
the same files' response schemas.

It can also be told to fail (``fail_next(n, status)``) so the outbox retry path meets a real 5xx / dropped connection,
and to SIGKILL the process posting the next note (``kill_on_next_note(pid, stored=...)``) just after (or before)
storing it and before answering: the window where a note exists at PagerDuty but its sender never heard so.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "api" / "schemas" / "pagerduty_rest_incident_note.json"
LIST_SCHEMA_PATH = SCHEMA_PATH.with_name("pagerduty_rest_incident_notes_list.json")


def load_note_schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def load_list_schema() -> dict[str, Any]:
    return json.loads(LIST_SCHEMA_PATH.read_text(encoding="utf-8"))


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    problems: list[str]

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class FakePagerDuty:
    """State of one fake PagerDuty account: the API token it accepts and the notes it holds."""

    token: str
    base_url: str = ""
    requests: list[RecordedRequest] = field(default_factory=list)
    notes: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    _failures: list[int] = field(default_factory=list)
    _kill: tuple[int, bool] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def requests_for(self, incident_id: str) -> list[RecordedRequest]:
        return [r for r in self.requests if f"/incidents/{incident_id}/" in r.path]

    @property
    def violations(self) -> list[RecordedRequest]:
        """Requests that broke the published schema (must stay empty)."""
        return [r for r in self.requests if r.problems]

    def fail_next(self, count: int, status: int = 500) -> None:
        """Answer the next ``count`` requests with ``status`` (0 = drop the connection without answering)."""
        with self._lock:
            self._failures.extend([status] * count)

    def heal(self) -> None:
        """Stop failing: answer every later request normally."""
        with self._lock:
            self._failures.clear()

    def _take_failure(self) -> int | None:
        with self._lock:
            return self._failures.pop(0) if self._failures else None

    def kill_on_next_note(self, pid: int, *, stored: bool) -> None:
        """On the next valid note POST, SIGKILL ``pid`` (the faultline process) and drop the connection unanswered —
        after storing the note (``stored=True``: it is on the incident, its sender never learns so) or before."""
        with self._lock:
            self._kill = (pid, stored)

    def _take_kill(self) -> tuple[int, bool] | None:
        with self._lock:
            kill, self._kill = self._kill, None
            return kill

    def gets(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == "GET"]

    def posts(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == "POST"]


class _Operation:
    def __init__(self, schema: dict[str, Any]) -> None:
        checker = FormatChecker()
        self.operation = schema["operation"]
        self.method = self.operation["method"]
        self.path_re = re.compile(self.operation["path_regex"])
        self.headers = Draft202012Validator(schema["headers"], format_checker=checker)
        self.body = Draft202012Validator(schema["request_body"], format_checker=checker)
        self.response = Draft202012Validator(schema["response_200"], format_checker=checker)


class _Validator:
    """Every operation the fake serves (both transcribed schema files unless ``schemas`` are given)."""

    def __init__(self, *schemas: dict[str, Any]) -> None:
        self.operations = [_Operation(s) for s in (schemas or (load_note_schema(), load_list_schema()))]

    def response_errors(self, method: str, document: dict[str, Any]) -> list[str]:
        op = next(o for o in self.operations if o.method == method)
        return [e.message for e in op.response.iter_errors(document)]

    def check(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[list[str], str | None]:
        problems: list[str] = []
        plain = path.split("?", 1)[0]
        op = next((o for o in self.operations if o.method == method and o.path_re.match(plain)), None)
        if op is None:
            known = ", ".join(f"{o.method} {o.operation['path_template']}" for o in self.operations)
            problems.append(f"no such operation: {method} {path} (schema has {known})")
            return problems, None
        match = op.path_re.match(plain)
        assert match is not None
        for err in op.headers.iter_errors(headers):
            problems.append(f"header {'/'.join(map(str, err.path)) or ''}: {err.message}")
        document: Any = None
        if body or method != "GET":
            try:
                document = json.loads(body.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                problems.append(f"body is not JSON: {exc}")
                return problems, match.group("id")
        for err in op.body.iter_errors(document):
            problems.append(f"body {'/'.join(map(str, err.path)) or '(root)'}: {err.message}")
        return problems, match.group("id")


def _make_handler(state: FakePagerDuty, validator: _Validator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # keep pytest output clean
            pass

        def _reply(self, status: int, document: dict[str, Any]) -> None:
            payload = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            problems, incident_id = validator.check(self.command, self.path, headers, body)
            record = RecordedRequest(self.command, self.path, headers, body, problems)
            with state._lock:
                state.requests.append(record)
            failure = state._take_failure()
            if failure is not None:
                if failure == 0:
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                self._reply(failure, {"error": {"code": 2000, "message": "Internal Error (injected by test)"}})
                return
            if problems:
                status = 404 if incident_id is None else 400
                self._reply(status, {"error": {"code": 2001, "message": "Invalid Input Provided", "errors": problems}})
                return
            if headers["authorization"] != f"Token token={state.token}":
                self._reply(401, {"error": {"code": 2006, "message": "Invalid Credentials"}})
                return
            assert incident_id is not None
            if self.command == "GET":
                with state._lock:
                    listing = {"notes": list(state.notes.get(incident_id, []))}
                assert not validator.response_errors("GET", listing)
                self._reply(200, listing)
                return
            kill = state._take_kill()
            if kill is not None and not kill[1]:
                self._die(kill[0])
                return
            content = json.loads(body)["note"]["content"]
            now = datetime.now(timezone.utc).isoformat(timespec="seconds")
            note = {
                "id": "P" + secrets.token_hex(3).upper(),
                "user": {"id": "PFAULTL", "type": "user_reference", "summary": headers["from"]},
                "channel": {"summary": "The PagerDuty website or APIs"},
                "content": content,
                "created_at": now,
                "updated_at": now,
            }
            response = {"note": note}
            assert not validator.response_errors("POST", response)
            with state._lock:
                state.notes.setdefault(incident_id, []).append(note)
            if kill is not None:
                self._die(kill[0])
                return
            self._reply(200, response)

        def _die(self, pid: int) -> None:
            """SIGKILL the caller and hang up without an answer."""
            os.kill(pid, signal.SIGKILL)
            self.close_connection = True
            self.connection.shutdown(2)

        do_POST = _handle
        do_GET = _handle
        do_PUT = _handle
        do_DELETE = _handle

    return Handler


@contextmanager
def run_fake_pagerduty() -> Iterator[FakePagerDuty]:
    state = FakePagerDuty(token="pd-test-" + secrets.token_hex(8))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(state, _Validator()))
    server.daemon_threads = True
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="fake-pagerduty", daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def pagerduty_api() -> Iterator[FakePagerDuty]:
    """A schema-checking PagerDuty REST API on a free 127.0.0.1 port; ``.base_url`` to point faultline at."""
    with run_fake_pagerduty() as state:
        yield state


@pytest.fixture(scope="module")
def pagerduty_api_module() -> Iterator[FakePagerDuty]:
    """The same, shared by the tests of one module (tests tell their requests apart by incident id)."""
    with run_fake_pagerduty() as state:
        yield state
