"""Scripted OpenAI-compatible peers: real HTTP servers on 127.0.0.1 that misbehave on purpose.

The narrator's failure paths (hallucination, timeouts, rate limits, broken JSON) cannot be provoked reliably from a
real model, so one ``ThreadingHTTPServer`` for the session answers ``POST /<scenario>/<token>/v1/chat/completions``
the way a misbehaving provider would. ``<token>`` isolates tests: counters (for "429 then success") and the request
log are kept per ``(scenario, token)``. These are peers over real HTTP — the narrator's ``openai`` client, its
timeouts and its retry logic all run for real; nothing in faultline is patched.

Scenarios
---------
good            a grounded narrative built from the evidence in the prompt (Candidates and Timeline sections)
hallucinate     names ``pod:prod/ghost-7`` (not in any evidence) as the root cause, every time
hallucinate_once  hallucinates on the first request, answers like ``good`` once the prompt carries the rejection
hallucinate_then_hang  hallucinates on the first request, hangs on the next ones
hang            holds the request open for ``HANG_S`` seconds before answering (past any sane client timeout)
ratelimit       429 with ``Retry-After: 0`` on the first request of a token, then like ``good``
invalid_json    a 200 whose message content is truncated, not parseable JSON
broken_body     a 200 whose HTTP body itself is not JSON
unavailable     503 on every request
no_json_schema  rejects ``response_format.type == "json_schema"`` like llama-cpp-python (500), else like ``good``
unsafe_kubectl  like ``good``, but its fix says ``kubectl rollout undo deployment/vllm`` (no namespace), every time

The peer does not import faultline: it reads the prompt the way a model would, from the text.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

HANG_S = 20.0
GHOST_ENTITY = "pod:prod/ghost-7"
SCENARIOS = (
    "good", "hallucinate", "hallucinate_once", "hang", "ratelimit", "invalid_json", "broken_body", "unavailable",
    "no_json_schema", "hallucinate_then_hang", "unsafe_kubectl",
)  # fmt: skip

_TIMELINE_LINE = re.compile(r"^- (\S+) \| (\S+) \| (.+)$")
_CANDIDATE_LINE = re.compile(r"^1\. (\S+)")
_SYMPTOM_LINE = re.compile(r"^Symptom: (\S+)")


@dataclass
class ScriptedRequest:
    """One request as the peer received it."""

    scenario: str
    headers: dict[str, str]  # names lower-cased
    body: dict[str, Any]

    @property
    def prompt(self) -> str:
        """All message contents joined, as the model would read them."""
        return "\n".join(str(m.get("content", "")) for m in self.body.get("messages", []))


@dataclass
class ScriptedLLM:
    """The session's scripted peer: base URLs per scenario and what each token received."""

    port: int
    model: str = "scripted"
    requests: dict[tuple[str, str], list[ScriptedRequest]] = field(default_factory=lambda: defaultdict(list))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)

    def base_url(self, scenario: str, token: str | None = None) -> str:
        """An OpenAI ``base_url`` for ``scenario``; pass the same ``token`` to share counters, or get a fresh one."""
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r}")
        return f"http://127.0.0.1:{self.port}/{scenario}/{token or uuid.uuid4().hex}/v1"

    def received(self, base_url: str) -> list[ScriptedRequest]:
        scenario, token = _route(base_url.split(f":{self.port}", 1)[1] + "/chat/completions")
        with self._lock:
            return list(self.requests.get((scenario, token), []))

    def _record(self, scenario: str, token: str, request: ScriptedRequest) -> int:
        with self._lock:
            self.requests[(scenario, token)].append(request)
            return len(self.requests[(scenario, token)])


def _route(path: str) -> tuple[str, str]:
    parts = path.strip("/").split("/")
    if len(parts) != 5 or parts[2:] != ["v1", "chat", "completions"]:
        raise KeyError(path)
    return parts[0], parts[1]


def grounded_answer(prompt: str) -> dict[str, Any]:
    """What a careful model would answer: ids and times copied from the prompt's Candidates and Timeline sections."""
    timeline = []
    root = symptom = None
    section = ""
    for line in prompt.splitlines():
        line = line.strip()
        if line.startswith("## "):
            section = line[3:].split(" ", 1)[0].lower()
        elif section == "timeline" and (m := _TIMELINE_LINE.match(line)) is not None:
            timeline.append({"entity": m.group(2), "at": m.group(1), "what": m.group(3)[:160]})
        elif section == "candidates" and root is None and (m := _CANDIDATE_LINE.match(line)) is not None:
            root = m.group(1)
        elif symptom is None and (m := _SYMPTOM_LINE.match(line)) is not None:
            symptom = m.group(1)
    root = root or (timeline[0]["entity"] if timeline else "unknown:entity")
    return {
        "summary": f"The {symptom or 'symptom'} alert traces back to {root}; see the event chain.",
        "root_cause": root,
        "event_chain": timeline[:8],
        "fix_suggestions": [
            {
                "action": f"Roll back the most recent change on {root}",
                "entity": root,
                "risk": "Reverting also removes whatever the change was meant to fix.",
            }
        ],
        "confidence": 0.8,
    }


def hallucinated_answer(prompt: str) -> dict[str, Any]:
    answer = grounded_answer(prompt)
    answer["root_cause"] = GHOST_ENTITY
    answer["summary"] = f"{GHOST_ENTITY} ran out of memory and took the service down."
    answer["fix_suggestions"][0]["entity"] = GHOST_ENTITY
    return answer


def _completion(model: str, content: str) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }


def _make_handler(state: ScriptedLLM) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            pass

        def _send(self, status: int, payload: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            try:
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout) — expected in the hang scenario

        def _json(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
            self._send(status, json.dumps(body).encode(), headers)

        def do_GET(self) -> None:  # noqa: N802 - stdlib name
            self._json(200, {"object": "list", "data": [{"id": state.model, "object": "model"}]})

        def do_POST(self) -> None:  # noqa: N802 - stdlib name
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            try:
                scenario, token = _route(self.path)
            except KeyError:
                self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
                return
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                self._json(400, {"error": {"message": "body is not JSON", "type": "invalid_request_error"}})
                return
            request = ScriptedRequest(scenario=scenario, headers={k.lower(): v for k, v in self.headers.items()}, body=body)
            nth = state._record(scenario, token, request)
            self._answer(scenario, nth, request)

        def _answer(self, scenario: str, nth: int, request: ScriptedRequest) -> None:
            prompt = request.prompt
            if scenario == "hang" or (scenario == "hallucinate_then_hang" and nth > 1):
                state._stop.wait(HANG_S)
                self._json(200, _completion(state.model, json.dumps(grounded_answer(prompt))))
            elif scenario == "ratelimit" and nth == 1:
                error = {"error": {"message": "Rate limit reached", "type": "rate_limit_error", "code": "rate_limit"}}
                self._json(429, error, {"Retry-After": "0"})
            elif scenario == "unavailable":
                self._json(503, {"error": {"message": "upstream overloaded", "type": "server_error"}})
            elif scenario == "invalid_json":
                content = json.dumps(grounded_answer(prompt))[:57]  # cut mid-object, as a max_tokens stop would
                self._json(200, _completion(state.model, content))
            elif scenario == "broken_body":
                self._send(200, b'{"id": "chatcmpl-x", "choices": [{"message": ')
            elif scenario == "unsafe_kubectl":
                answer = grounded_answer(prompt)
                answer["fix_suggestions"][0]["action"] = "Run kubectl rollout undo deployment/vllm to roll back"
                self._json(200, _completion(state.model, json.dumps(answer)))
            elif scenario in ("hallucinate", "hallucinate_then_hang") or (scenario == "hallucinate_once" and nth == 1):
                self._json(200, _completion(state.model, json.dumps(hallucinated_answer(prompt))))
            elif scenario == "no_json_schema" and (request.body.get("response_format") or {}).get("type") == "json_schema":
                message = "Input should be 'text' or 'json_object' (body.response_format.type)"
                self._json(500, {"error": {"message": message, "type": "internal_server_error"}})
            else:
                self._json(200, _completion(state.model, json.dumps(grounded_answer(prompt))))

    return Handler


@pytest.fixture(scope="session")
def scripted_llm() -> Iterator[ScriptedLLM]:
    """One scripted OpenAI-compatible peer on a free 127.0.0.1 port for the session."""
    state = ScriptedLLM(port=0)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(state))
    state.port = int(server.server_address[1])
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="scripted-llm", daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state._stop.set()  # release any hanging request
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
