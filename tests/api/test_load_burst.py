"""A burst of webhooks (hundreds in a few seconds, most of them repeats for the same incident) against a real
``faultline serve``: every delivery is answered 2xx quickly, repeats are de-duplicated, insights run with bounded
concurrency, every PagerDuty incident gets exactly one note, and nothing accepted is lost.

The deliveries are the ones ``benchmarks/bench_load.py`` sends with wrk (same builder, smaller numbers); here a
thread pool of httpx clients sends them so that CI needs no extra tool. Results are checked in the server's SQLite
file and at the schema-checking fake PagerDuty, not only through the API's own answers.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import httpx
import numpy as np
import pytest
from jsonschema import Draft202012Validator, FormatChecker

from benchmarks.bench_load import SECRET, WRITE_TOKEN, Delivery, build_plan
from tests.servers.faultline import FaultlineServer
from tests.servers.pagerduty import FakePagerDuty

pytestmark = [pytest.mark.integration, pytest.mark.slow]

GROUPS, PD_INCIDENTS, ROUNDS, SENDERS, CONCURRENCY = 12, 12, 5, 16, 2
WEBHOOK_SCHEMA = Draft202012Validator(
    json.loads((Path(__file__).parent / "schemas" / "pagerduty_webhook_v3.json").read_text()),
    format_checker=FormatChecker())


def _demo_incident(demo_case_dir: Path) -> tuple[str, datetime]:
    incident = json.loads((demo_case_dir / "incident.json").read_text())
    return incident["symptom"], datetime.fromisoformat(incident["at"].replace("Z", "+00:00")).astimezone(timezone.utc)


class PeakInProgress(threading.Thread):
    """Samples ``faultline_insights_in_progress`` from /metrics: the concurrency bound as the server reports it."""

    def __init__(self, server: FaultlineServer) -> None:
        super().__init__(daemon=True)
        self.server, self.peak, self.samples, self.halt = server, 0.0, 0, threading.Event()

    def run(self) -> None:
        with self.server.client(WRITE_TOKEN) as client:
            while not self.halt.is_set():
                try:
                    found = re.search(r"^faultline_insights_in_progress\s+(\S+)$", client.get("/metrics").text, re.M)
                except httpx.HTTPError:
                    found = None
                if found:
                    self.peak, self.samples = max(self.peak, float(found.group(1))), self.samples + 1
                self.halt.wait(0.05)


def _send_all(server: FaultlineServer, deliveries: list[Delivery]) -> list[tuple[int, float, str]]:
    local = threading.local()

    def send(delivery: Delivery) -> tuple[int, float, str]:
        if not hasattr(local, "client"):
            local.client = httpx.Client(base_url=server.base_url, timeout=30)
        started = time.perf_counter()
        response = local.client.post(delivery.path, content=delivery.body, headers=delivery.headers)
        return response.status_code, time.perf_counter() - started, response.text[:200]

    with ThreadPoolExecutor(SENDERS) as pool:
        return list(pool.map(send, deliveries))


def test_webhook_burst_is_deduplicated_queued_and_nothing_is_lost(
    start_faultline, pagerduty_api: FakePagerDuty, demo_case_dir: Path
) -> None:
    symptom, at = _demo_incident(demo_case_dir)
    plan = build_plan([symptom], at, groups=GROUPS, pd_incidents=PD_INCIDENTS, seed=8)
    for delivery in plan.deliveries:
        if delivery.source == "pagerduty":
            assert not list(WEBHOOK_SCHEMA.iter_errors(json.loads(delivery.body))), "not a V3 webhook PagerDuty sends"
    server = start_faultline(
        FAULTLINE_API_TOKENS=json.dumps([{"name": "alertmanager", "token": WRITE_TOKEN, "scopes": ["read", "write"]}]),
        FAULTLINE_PAGERDUTY_WEBHOOK_SECRET=SECRET, FAULTLINE_PAGERDUTY_API_TOKEN=pagerduty_api.token,
        FAULTLINE_PAGERDUTY_FROM="oncall@example.com", FAULTLINE_PAGERDUTY_API_URL=pagerduty_api.base_url,
        FAULTLINE_PAGERDUTY_SERVICE_MAP=json.dumps(plan.service_map), FAULTLINE_OUTBOX_POLL_S="0.2",
        FAULTLINE_MAX_CONCURRENT_INSIGHTS=str(CONCURRENCY),
    )
    burst = plan.deliveries * ROUNDS  # every delivery after the first round is a repeat of one already answered
    sampler = PeakInProgress(server)
    sampler.start()
    started = time.monotonic()
    answers = _send_all(server, burst)
    burst_s = time.monotonic() - started

    bad = [(status, text) for status, _, text in answers if not 200 <= status < 300]
    assert not bad, f"{len(bad)} of {len(burst)} deliveries not answered 2xx: {bad[:5]}"
    latency = np.array([seconds for _, seconds, _ in answers])
    print(f"\nburst: {len(burst)} webhooks in {burst_s:.1f} s ({len(burst) / burst_s:.0f}/s); answer p50 "
          f"{np.percentile(latency, 50) * 1000:.0f} ms, p95 {np.percentile(latency, 95) * 1000:.0f} ms, "
          f"max {latency.max() * 1000:.0f} ms")
    assert np.percentile(latency, 95) < 3.0, "webhooks are answered before the analysis runs, so quickly"
    assert sum(status == 202 for status, _, _ in answers) == GROUPS + PD_INCIDENTS, "one new insight per incident"

    db_path = server.env["FAULTLINE_DB_PATH"]
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        with sqlite3.connect(db_path) as db:
            busy = db.execute("SELECT count(*) FROM insights WHERE status IN ('queued', 'running')").fetchone()[0]
            unsent = db.execute("SELECT count(*) FROM outbox WHERE status != 'sent'").fetchone()[0]
        if busy == 0 and unsent == 0 and len(pagerduty_api.notes) == PD_INCIDENTS:
            break
        time.sleep(0.5)
    sampler.halt.set()
    sampler.join(5)

    with sqlite3.connect(db_path) as db:
        incidents = db.execute("SELECT source, external_key FROM incidents WHERE source != 'case'").fetchall()
        insights = db.execute("SELECT status, created_at, finished_at FROM insights").fetchall()
        events = {r[0] for r in db.execute("SELECT event_id FROM webhook_events WHERE source = 'pagerduty'")}
    assert sorted(k for s, k in incidents if s == "alertmanager") == sorted(plan.alert_groups)
    assert sorted(k for s, k in incidents if s == "pagerduty") == sorted(plan.pd_incidents)
    assert events == set(plan.pd_events), "every PagerDuty event id recorded exactly once (primary key)"
    assert len(insights) == GROUPS + PD_INCIDENTS
    assert {status for status, _, _ in insights} == {"done"}
    assert {k: len(v) for k, v in pagerduty_api.notes.items()} == {i: 1 for i in plan.pd_incidents}
    assert pagerduty_api.violations == []
    assert sampler.samples > 10 and 1 <= sampler.peak <= CONCURRENCY, (sampler.peak, sampler.samples)
    assert "Traceback" not in server.log()
