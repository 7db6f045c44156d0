"""No input gets a 500: a corpus of hostile requests against every JSON body, query parameter, path and header of a
running server — deep nesting at every place of every body, broken encodings, huge counts and numbers, wrong types,
truncations — plus the three crashes of the security probe. Every answer is < 500; every error has the one shape
(``{"detail": str, "problems": [str]}``) with no Python internals in it, and carries the security headers.

Bodies go in with a write token (and PagerDuty's with a valid signature), so they reach the parsers and handlers.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.services.signatures import sign

pytestmark = pytest.mark.integration

WRITE = "hostile-corpus-writer-" + "w" * 16
PD_SECRET = "hostile-corpus-pd-secret-0123"
SYMPTOM = "user:deepseek-chat-users"
INTERNALS = re.compile(
    r"Traceback|File \"|line \d+, in |\bat 0x[0-9a-f]+|<class |<built-in|\b(?:Value|Type|Key|Index|Attribute|Recursion"
    r"|Unicode\w*|Overflow|Assertion|Runtime|Memory|Name|ZeroDivision)Error\b|int\(\) with base|errors\.pydantic\.dev"
    r"|pydantic_core|codec can't|serialization depth|json\.decoder|sqlite|/work/|site-packages|\.py\b")

CASE = {
    "topology": {"entities": [{"id": "app:a", "kind": "app"}, {"id": "app:b", "kind": "app"}],
                 "relations": [{"src": "app:a", "kind": "CALLS", "dst": "app:b"}]},
    "metrics": [{"timestamp": 1_795_000_000 + 30 * i, "entity": "app:a", "metric": "rps", "value": 1.0}
                for i in range(20)],
    "incident": {"symptom": "app:a", "at": 1_795_000_570},
}
BODIES: dict[str, dict[str, Any]] = {
    "/v1/insights": {"symptom": SYMPTOM, "lookback": "30m", "title": "t", "metric": "latency_p95_s"},
    "/v1/insights#case": {"case": CASE, "title": "inline"},
    "/v1/alerts/alertmanager": {
        "version": "4", "groupKey": '{}:{alertname="X"}', "truncatedAlerts": 0, "status": "firing",
        "receiver": "faultline", "groupLabels": {"alertname": "X"}, "commonLabels": {"app": "chat-frontend"},
        "commonAnnotations": {"summary": "s"}, "externalURL": "http://am:9093",
        "alerts": [{"status": "firing", "labels": {"app": "chat-frontend"}, "annotations": {"summary": "s"},
                    "startsAt": "2026-11-20T10:58:00Z", "endsAt": "0001-01-01T00:00:00Z", "fingerprint": "f1"}]},
    "/v1/traces": {"resourceSpans": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "rag"}}]}, "scopeSpans": [{"spans": [{
            "traceId": "0" * 31 + "1", "spanId": "0" * 15 + "1", "name": "chat m", "kind": 3,
            "startTimeUnixNano": "1000000000000000000", "endTimeUnixNano": "1000000001000000000",
            "attributes": [{"key": "gen_ai.request.model", "value": {"stringValue": "m"}},
                           {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}}]}]}]}]},
    "/v1/webhooks/pagerduty": {"event": {
        "id": "EV1", "event_type": "incident.triggered", "resource_type": "incident",
        "occurred_at": "2026-11-20T11:00:05Z", "agent": None, "client": None,
        "data": {"id": "PINC1", "type": "incident", "title": "Chat slow", "status": "triggered",
                 "service": {"id": "PSVC", "type": "service_reference", "summary": "Chat"}}}},
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, demo_case_dir: Path) -> Iterator[Any]:
    from tests.servers.faultline import _launcher

    start, servers = _launcher(tmp_path_factory.mktemp("hostile-corpus"), demo_case_dir)
    yield start(FAULTLINE_API_TOKENS=json.dumps([{"name": "w", "token": WRITE, "scopes": ["read", "write"]}]),
                FAULTLINE_PAGERDUTY_WEBHOOK_SECRET=PD_SECRET, FAULTLINE_MAX_METRIC_ROWS="100000")
    for s in servers:
        s.kill()


# -- the corpus ----------------------------------------------------------------------------------------------------

def places(document: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every position in a JSON document (each value of each object key and array item), depth first."""
    yield path
    if isinstance(document, dict):
        for key, value in document.items():
            yield from places(value, (*path, key))
    elif isinstance(document, list):
        for index, value in enumerate(document[:2]):
            yield from places(value, (*path, index))


def replaced(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    copied = copy.deepcopy(document)
    target = copied
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return copied


def _nested_text(depth: int, leaf: bytes) -> bytes:
    opening = b"".join(b"[" if level % 2 else b'{"k":' for level in range(depth))
    closing = b"".join(b"]" if level % 2 else b"}" for level in reversed(range(depth)))
    return opening + leaf + closing


def deep_value(depth: int) -> Any:
    return _Deep(depth)


class _Deep:
    """A placeholder for a nested value too deep for ``copy.deepcopy``/``json.dumps``; written by ``body_bytes``."""

    def __init__(self, depth: int) -> None:
        self.depth = depth


def body_bytes(document: Any) -> bytes:
    marker = "__deep_marker__"
    deep: list[int] = []

    def swap(node: Any) -> Any:
        if isinstance(node, _Deep):
            deep.append(node.depth)
            return marker
        if isinstance(node, dict):
            return {k: swap(v) for k, v in node.items()}
        if isinstance(node, list):
            return [swap(v) for v in node]
        return node

    text = json.dumps(swap(document)).encode()
    for depth in deep:
        text = text.replace(json.dumps(marker).encode(), _nested_text(depth, b"1"), 1)
    return text


def corpus(route: str) -> Iterator[tuple[str, bytes]]:
    base = BODIES[route]
    yield "valid", body_bytes(base)
    for path in places(base):
        where = ".".join(map(str, path)) or "(top)"
        for depth in (100, 129, 300, 990, 10_000):
            yield f"nested {depth} at {where}", body_bytes(replaced(base, path, deep_value(depth)))
        for odd in (None, [], {}, "", True, -1, 1e308, 2 ** 70, "x" * 100_000, ["x"] * 50_000,
                    {f"k{i}": i for i in range(20_000)}):
            yield f"{type(odd).__name__} at {where}", body_bytes(replaced(base, path, odd))
    text = body_bytes(base)
    for cut in range(1, 8):
        yield f"truncated at {cut}/8", text[: len(text) * cut // 8]
    yield "10,000 brackets", b"[" * 10_000 + b"]" * 10_000
    yield "100,000 open brackets", b"[" * 100_000
    yield "100,000 open braces", b'{"a":' * 100_000
    yield "utf-16 le with bom", b"\xff\xfe" + text.decode().encode("utf-16-le")
    yield "utf-16 be", text.decode().encode("utf-16-be")
    yield "utf-8 bom", b"\xef\xbb\xbf" + text
    yield "invalid utf-8", text.replace(b'"', b'"\xff\xfe', 1)
    yield "overlong utf-8", text.replace(b'"', b'"\xc0\xaf', 1)
    yield "utf-8 surrogate", text.replace(b'"', b'"\xed\xa0\x80', 1)
    yield "escaped lone surrogate", text.replace(b'"', b'"\\ud800', 1)
    yield "raw NUL", text.replace(b'"', b'"\x00', 1)
    yield "escaped NUL key", text.replace(b"{", b'{"\\u0000": 1, ', 1)
    yield "latin-1", text.replace(b'"', b'"\xe9', 1)
    yield "NaN", text.replace(b"1", b"NaN", 1) if b"1" in text else b"NaN"
    yield "Infinity", b'{"x": Infinity}'
    yield "1e999", text.replace(b"0", b"1e999", 1) if b"0" in text else b"1e999"
    yield "5000-digit number", b'{"x": ' + b"9" * 5000 + b"}"
    yield "huge array", b"[" + b"0," * 2_000_000 + b"0]"
    yield "many keys", json.dumps({f"k{i}": i for i in range(200_000)}).encode()
    yield "scalar", b"42"
    yield "string", b'"symptom"'
    yield "empty", b""
    yield "whitespace", b" \n\t "
    yield "duplicate keys", text.replace(b"{", b'{"version": "3", "symptom": 1, ', 1)


def _send(server: Any, route: str, body: bytes, **headers: str) -> httpx.Response:
    path = route.split("#")[0]
    sent = {"Content-Type": "application/json", **headers}
    if path.endswith("pagerduty"):
        sent["X-PagerDuty-Signature"] = sign(body, PD_SECRET.encode())
    else:
        sent.setdefault("Authorization", f"Bearer {WRITE}")
    return httpx.post(f"{server.base_url}{path}", content=body, headers=sent, timeout=120)


def check(answer: httpx.Response, what: str) -> None:
    assert answer.status_code < 500, f"{what}: {answer.status_code} {answer.text[:300]}"
    assert answer.headers.get("x-content-type-options") == "nosniff", what
    if answer.status_code >= 400:
        body = answer.json()
        if what.startswith(("/v1/traces", "/v1/logs")) and "code" in body:
            # the OTLP receivers answer the spec's google.rpc.Status (code, message, details), not faultline's shape
            assert set(body) <= {"code", "message", "details"} and isinstance(body["message"], str), (what, body)
        else:
            assert set(body) == {"detail", "problems"}, (what, body)
            assert isinstance(body["detail"], str) and body["detail"], (what, body)
            assert isinstance(body["problems"], list) and all(isinstance(p, str) for p in body["problems"]), what
        found = INTERNALS.search(answer.text)
        assert found is None, f"{what}: internals ({found.group(0)!r}) in {answer.text[:300]}"


@pytest.mark.parametrize("route", list(BODIES))
def test_no_body_gets_a_server_error(server: Any, route: str) -> None:
    statuses: dict[int, int] = {}
    failures: list[str] = []
    for what, body in corpus(route):
        answer = _send(server, route, body)
        try:
            check(answer, f"{route} {what}")
        except AssertionError as exc:
            failures.append(str(exc).splitlines()[0][:300])
        statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
    assert not failures, f"{len(failures)} of {sum(statuses.values())} failed:\n" + "\n".join(failures[:30])
    assert sum(statuses.values()) > 100
    assert any(200 <= s < 300 for s in statuses), f"nothing was accepted: the corpus tests only refusals {statuses}"
    assert "Traceback" not in server.log(), server.log()[-3000:]


# -- the three crashes of the probe, by name ------------------------------------------------------------------------

def test_traces_with_10000_nested_brackets(server: Any) -> None:
    answer = _send(server, "/v1/traces", b"[" * 10_000 + b"]" * 10_000)
    check(answer, "traces")
    assert answer.status_code == 400 and "nests deeper than 128 levels" in answer.json()["detail"]


@pytest.mark.parametrize("depth", [256, 400, 700, 990])
def test_inline_case_nested_inside_topology(server: Any, depth: int) -> None:
    """256–990 levels inside ``topology`` made ``model_dump`` fail before the case reader's own 64-level check."""
    body = body_bytes({"case": {**CASE, "topology": deep_value(depth)}})
    answer = _send(server, "/v1/insights", body)
    check(answer, f"inline {depth}")
    assert answer.status_code == 400 and "FAULTLINE_MAX_JSON_DEPTH" in answer.json()["detail"]


def test_inline_case_nested_past_the_case_limit_names_the_place(server: Any) -> None:
    """Within the HTTP limit but past the case reader's 64 levels: the reader's 422, which says where."""
    answer = _send(server, "/v1/insights", body_bytes({"case": {**CASE, "topology": {"entities": deep_value(100)}}}))
    check(answer, "inline 100")
    assert answer.status_code == 422 and "topology" in answer.json()["detail"], answer.text


@pytest.mark.parametrize("body", [b"[" * 100_000, b"[" * 100_000 + b"]" * 100_000])
def test_signed_pagerduty_body_of_100000_brackets(server: Any, body: bytes) -> None:
    answer = _send(server, "/v1/webhooks/pagerduty", body)
    check(answer, "pagerduty brackets")
    assert answer.status_code == 400


# -- queries, paths and headers -------------------------------------------------------------------------------------

QUERIES = {
    "/v1/insights": [{"cursor": c} for c in ("²", "-1", "9" * 30, "1e3", "\x00", "١")]
    + [{"limit": v} for v in ("0", "1e9", "abc", "½", "-5", "NaN")]
    + [{"status": s} for s in ("\x00", "done\x00", "x" * 5000)] + [{"incident_id": "é" * 100}],
    "/v1/incidents": [{"cursor": "²"}, {"limit": "inf"}, {"status": "%ff"}],
    "/v1/topology": [{"around": a} for a in ("%ff", "\x00", "x" * 600, "::", "app:chat-frontend\x00")]
    + [{"around": "app:chat-frontend", "at": t} for t in ("garbage", "9" * 40, "-1e300", "0001-01-01", "NaN")]
    + [{"around": "app:chat-frontend", "hops": h} for h in ("999", "-1", "1.5")],
}


def test_no_query_path_or_header_gets_a_server_error(server: Any) -> None:
    auth = {"Authorization": f"Bearer {WRITE}"}
    with httpx.Client(base_url=server.base_url, timeout=60) as client:
        for path, variants in QUERIES.items():
            for params in variants:
                check(client.get(path, params=params, headers=auth), f"{path} {params!r}")
        for raw in ("/v1/insights/%ff", "/v1/insights/%00", "/v1/insights/" + "a" * 10_000, "/v1/insights/..%2f..%2f",
                    "/v1/incidents/%c0%af", "/v1/topology?around=%ff%fe", "/v1/insights?limit=%ff", "/%ff",
                    "/static/%ff",
                    "/static/..%2f..%2fsettings.py", "/v1/insights?cursor=%C2%B2&cursor=1"):
            check(client.get(raw, headers=auth), raw)
        insights = client.post("/v1/insights", json={"symptom": SYMPTOM}, headers=auth)
        assert insights.status_code == 202
        for headers in ({"Authorization": "Bearer " + "x" * 10_000}, {"Authorization": "Bearer é".encode("latin-1")},
                        {"Authorization": b"Bearer \xff\xfe"}, {"Authorization": "Basic Zm9vOmJhcg=="},
                        {"Authorization": "Bearer"}, {"Authorization": ""}, {"Host": "é.example".encode()},
                        {"Content-Type": "application/json; charset=utf-16", **auth},
                        {"Content-Type": "text/plain", **auth}, {"X-Faultline-Source": "\x7f", **auth}):
            check(client.post("/v1/insights", content=b'{"symptom": "' + SYMPTOM.encode() + b'"}',
                              headers={"Content-Type": "application/json", **headers}), repr(headers)[:80])
    assert "Traceback" not in server.log(), server.log()[-3000:]
