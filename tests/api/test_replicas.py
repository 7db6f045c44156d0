"""Two ``faultline serve`` replicas on one real PostgreSQL, one of them SIGKILLed in the middle of a webhook burst.

A signed Alertmanager/PagerDuty burst is split across the two processes; replica A is killed while it holds leased
insights. Expected: every delivery answered 2xx has its incident and its insight, re-deliveries to the survivor are
de-duplicated across replicas (one incident per key, one insight per incident), every PagerDuty incident gets exactly
one note, and the insights A held are taken over and finished by B within the lease timeout.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from benchmarks.bench_load import SECRET, WRITE_TOKEN, build_plan
from tests.servers.pagerduty import FakePagerDuty

pytestmark = [pytest.mark.integration, pytest.mark.slow]

LEASE_S = 6.0


def _rows(url: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()


def _wait(predicate: Any, timeout_s: float, what: str, interval_s: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    raise AssertionError(f"{what} not within {timeout_s} s")


def test_two_replicas_one_killed_mid_burst(
    start_faultline: Any, pagerduty_api: FakePagerDuty, demo_case_dir: Path, postgres_url: str
) -> None:
    incident = json.loads((demo_case_dir / "incident.json").read_text())
    at = datetime.fromisoformat(incident["at"].replace("Z", "+00:00")).astimezone(timezone.utc)
    plan = build_plan([incident["symptom"]], at, groups=8, pd_incidents=8, seed=5)
    env = dict(
        FAULTLINE_DB_URL=postgres_url, FAULTLINE_LEASE_S=str(LEASE_S), FAULTLINE_OUTBOX_TIMEOUT_S="2",
        FAULTLINE_API_TOKENS=json.dumps([{"name": "am", "token": WRITE_TOKEN, "scopes": ["read", "write"]}]),
        FAULTLINE_PAGERDUTY_WEBHOOK_SECRET=SECRET, FAULTLINE_PAGERDUTY_API_TOKEN=pagerduty_api.token,
        FAULTLINE_PAGERDUTY_FROM="oncall@example.com", FAULTLINE_PAGERDUTY_API_URL=pagerduty_api.base_url,
        FAULTLINE_PAGERDUTY_SERVICE_MAP=json.dumps(plan.service_map), FAULTLINE_OUTBOX_POLL_S="0.2",
        FAULTLINE_OUTBOX_MAX_BACKOFF_S="0.5", FAULTLINE_MAX_CONCURRENT_INSIGHTS="1",
    )
    a = start_faultline(FAULTLINE_REPLICA_ID="replica-a", **env)
    b = start_faultline(FAULTLINE_REPLICA_ID="replica-b", **env)
    answered: dict[str, list[tuple[Any, int]]] = {"a": [], "b": []}
    errors: list[str] = []

    def send(server: Any, name: str, deliveries: list[Any]) -> None:
        with httpx.Client(base_url=server.base_url, timeout=10) as c:
            for d in deliveries:
                try:
                    answered[name].append((d, c.post(d.path, content=d.body, headers=d.headers).status_code))
                except httpx.HTTPError as exc:  # the replica died under us: a sender retries elsewhere later
                    errors.append(f"{name}: {type(exc).__name__}")
                    return

    burst = plan.deliveries * 3
    senders = [threading.Thread(target=send, args=(a, "a", burst[0::2])),
               threading.Thread(target=send, args=(b, "b", burst[1::2]))]
    for t in senders:
        t.start()

    def a_holds_work() -> list[str]:
        held = [r[0] for r in _rows(postgres_url, "SELECT id FROM insights WHERE lease_owner='replica-a' AND "
                                                  "status='running'")]
        return held if held and len(answered["a"]) >= len(plan.deliveries) // 3 else []

    _wait(a_holds_work, 90, "replica A holding a leased insight mid-burst", interval_s=0.02)
    a.kill()
    killed_at = time.time()
    held_at_kill = [r[0] for r in _rows(postgres_url, "SELECT id FROM insights WHERE lease_owner='replica-a' AND "
                                                      "status='running'")]
    for t in senders:
        t.join(60)
    assert errors and errors[0].startswith("a:"), "the burst to A finished before the kill: nothing was in flight"
    assert held_at_kill, "A held no leased insight when it died: the takeover is not tested"
    assert all(200 <= s < 300 for _, s in answered["a"] + answered["b"]), answered
    # nothing accepted is lost: before any re-delivery, every 2xx that opens an incident has it, with its insight
    opened = {d.key for d, status in answered["a"] + answered["b"] if 200 <= status < 300
              and (d.source == "alertmanager" or b'"incident.triggered"' in d.body)}
    stored = dict(_rows(postgres_url, "SELECT external_key, latest_insight FROM incidents WHERE source != 'case'"))
    assert opened and opened <= set(stored), opened - set(stored)
    assert all(stored[k] for k in opened), "an accepted incident has no insight"

    with httpx.Client(base_url=b.base_url, timeout=30) as c:  # what A could not take is delivered again, to B
        again = [c.post(d.path, content=d.body, headers=d.headers).status_code for d in plan.deliveries]
    assert all(200 <= s < 300 for s in again), again

    def settled() -> bool:
        busy = _rows(postgres_url, "SELECT count(*) FROM insights WHERE status IN ('queued', 'running')")[0][0]
        unsent = _rows(postgres_url, "SELECT count(*) FROM outbox WHERE status != 'sent'")[0][0]
        return busy == 0 and unsent == 0 and len(pagerduty_api.notes) == len(plan.pd_incidents)

    _wait(settled, 240, "queue and outbox drained on the surviving replica", interval_s=0.5)
    incidents = _rows(postgres_url, "SELECT source, external_key FROM incidents WHERE source != 'case'")
    insights = _rows(postgres_url, "SELECT id, status, error, attempts, started_at FROM insights")
    assert sorted(k for s, k in incidents if s == "alertmanager") == sorted(plan.alert_groups)
    assert sorted(k for s, k in incidents if s == "pagerduty") == sorted(plan.pd_incidents)
    assert len(insights) == len(plan.alert_groups) + len(plan.pd_incidents), "one insight per incident, no more"
    assert all(status == "done" for _, status, _, _, _ in insights), insights
    assert {k: len(v) for k, v in pagerduty_api.notes.items()} == {i: 1 for i in plan.pd_incidents}
    assert pagerduty_api.violations == []

    taken_over = {i: (attempts, started) for i, _, _, attempts, started in insights if i in held_at_kill}
    for ident, (attempts, started) in taken_over.items():
        assert attempts >= 2, f"{ident} was not claimed again after A died"
        claimed = datetime.fromisoformat(started.replace("Z", "+00:00")).timestamp()
        assert claimed - killed_at <= LEASE_S + 5, f"{ident} taken over {claimed - killed_at:.1f} s after the kill"
    assert "Traceback" not in b.log()
