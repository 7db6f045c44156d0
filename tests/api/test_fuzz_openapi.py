"""Schema-driven fuzzing of the whole HTTP API: no request, however wrong, gets a 500.

Schemathesis reads the running server's own ``/openapi.json`` and Hypothesis generates requests for every operation:
valid ones (with a write token, so they get past auth and into the handlers), invalid ones (wrong types, missing
fields, out-of-range numbers, odd strings — schemathesis' negative mode), and requests with whatever ``Authorization``
header the generator makes up. Every response must be < 500, and the server must still answer ``/healthz`` at the end.

Bounded: ``FAULTLINE_FUZZ_EXAMPLES`` examples per operation and mode (default 25; the benchmark figure in
BENCHMARKS.md used more). The total number of cases is printed, and written to ``fuzz-cases.json`` in the test's
temporary directory, so the figure in BENCHMARKS.md can be reproduced with ``-s``.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402

WRITE_TOKEN = "fuzz-writer-token-0123456789abcdef"
READ_TOKEN = "fuzz-reader-token-0123456789abcdef"
WEBHOOK_SECRET = "fuzz-webhook-secret-0123456789"
EXAMPLES = int(os.environ.get("FAULTLINE_FUZZ_EXAMPLES", "25"))
MAX_WAIT_S = 1.0  # ?wait= is a real server-side wait; fuzzing it at 60 s would only test our patience


def _fuzz_operation(operation: Any, mode: Any, base_url: str, headers: dict[str, str] | None,
                    tally: Counter[str], failures: list[str]) -> None:
    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        if isinstance(case.query, dict) and isinstance(case.query.get("wait"), (int, float)):
            case.query["wait"] = min(max(case.query["wait"], 0), MAX_WAIT_S)
        try:
            response = case.call(base_url=base_url, headers=headers, timeout=30)
        except Exception as exc:  # noqa: BLE001 - a dropped connection is a failure to report, not to crash on
            failures.append(f"{operation.label} [{mode.value}] transport error {exc!r}: {case.as_curl_command()}")
            return
        tally[f"{operation.label} [{mode.value}{'' if headers else ', own auth'}]"] += 1
        tally[str(response.status_code)] += 1
        if response.status_code >= 500:
            failures.append(f"{operation.label} [{mode.value}] -> {response.status_code} {response.text[:200]!r}: "
                            f"{case.as_curl_command()}")

    try:
        run()
    except Unsatisfiable:
        # Nothing to break: e.g. negative mode on an operation with no parameters and no body (GET /healthz).
        tally[f"{operation.label} [{mode.value}] no invalid input exists"] += 0


def _fuzz_signed_webhook(operation: Any, mode: Any, base_url: str, tally: Counter[str], failures: list[str]) -> None:
    """PagerDuty deliveries need a valid signature to reach the parser and the handler: sign each generated body."""
    import httpx

    from api.services.signatures import sign

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        try:
            body = json.dumps(case.body, allow_nan=False).encode()
        except (TypeError, ValueError):
            return  # not representable as JSON (a generator quirk); nothing to send
        response = httpx.post(f"{base_url}{operation.path}", content=body, timeout=30, headers={
            "Content-Type": "application/json", "X-PagerDuty-Signature": sign(body, WEBHOOK_SECRET.encode())})
        tally[f"{operation.label} [{mode.value}, signed]"] += 1
        tally[str(response.status_code)] += 1
        if response.status_code >= 500:
            failures.append(f"{operation.label} [{mode.value}, signed] -> {response.status_code} "
                            f"{response.text[:200]!r}: {body[:300]!r}")

    try:
        run()
    except Unsatisfiable:
        tally[f"{operation.label} [{mode.value}, signed] no invalid input exists"] += 0


def test_no_request_gets_a_server_error(start_faultline: Any, tmp_path: Path) -> None:
    from schemathesis import GenerationMode

    server = start_faultline(
        FAULTLINE_API_TOKENS=json.dumps([
            {"name": "fuzz-writer", "token": WRITE_TOKEN, "scopes": ["read", "write"]},
            {"name": "fuzz-reader", "token": READ_TOKEN, "scopes": ["read"]},
        ]),
        FAULTLINE_PAGERDUTY_WEBHOOK_SECRET=WEBHOOK_SECRET,
    )
    schema = schemathesis.openapi.from_url(f"{server.base_url}/openapi.json")
    tally: Counter[str] = Counter()
    failures: list[str] = []
    started = time.monotonic()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 8, [op.label for op in operations]
    authorised = {"Authorization": f"Bearer {WRITE_TOKEN}"}
    for operation in operations:
        _fuzz_operation(operation, GenerationMode.POSITIVE, server.base_url, authorised, tally, failures)
        _fuzz_operation(operation, GenerationMode.NEGATIVE, server.base_url, authorised, tally, failures)
        _fuzz_operation(operation, GenerationMode.POSITIVE, server.base_url, None, tally, failures)
        if operation.path == "/v1/webhooks/pagerduty":
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                _fuzz_signed_webhook(operation, mode, server.base_url, tally, failures)
    elapsed = time.monotonic() - started
    cases = sum(n for key, n in tally.items() if key.isdigit())
    statuses = {key: n for key, n in sorted(tally.items()) if key.isdigit()}
    summary = {"cases": cases, "operations": len(operations), "examples_per_mode": EXAMPLES, "seconds": round(elapsed, 1),
               "statuses": statuses, "per_operation": {k: n for k, n in sorted(tally.items()) if not k.isdigit()}}
    (tmp_path / "fuzz-cases.json").write_text(json.dumps(summary, indent=1))
    print(f"\nfuzz: {cases} cases over {len(operations)} operations in {elapsed:.0f} s; statuses {statuses}")
    assert not failures, f"{len(failures)} of {cases} cases failed:\n" + "\n".join(failures[:20])
    assert cases >= len(operations) * 3, "the generator ran far fewer cases than asked: the harness is broken"
    assert 200 in {int(k) for k in statuses} or 202 in {int(k) for k in statuses}, "no request ever succeeded"
    with server.client(READ_TOKEN) as client:
        assert client.get("/healthz").status_code == 200
    assert "Traceback" not in server.log(), server.log()[-3000:]
