"""What the server holds stays bounded whatever is sent to it: listings do not read stored inline cases, an open
Alertmanager incident keeps at most ``FAULTLINE_MAX_ALERTS_PER_INCIDENT`` alerts (and counts the rest), and a big
inline case is read and analysed in a worker process under ``FAULTLINE_INLINE_CASE_MEMORY_BYTES`` — refused with 413
when it needs more, while the server process itself stays small. Measured on the running server: its peak RSS
(``VmHWM``, reset through ``/proc/PID/clear_refs`` before each step)."""

from __future__ import annotations

import json
import os
import re
import tracemalloc
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.storage import Database, InsightRepository, InsightRequest
from tests.api.rss_probe import PeakGrowth
from topology.timeutil import parse_time

MiB = 1024 * 1024
SYMPTOM = "user:deepseek-chat-users"


def inline_case(series: int, steps: int) -> dict[str, Any]:
    """A case whose vector DB's latency rises first: ``2 + series`` series of ``steps`` samples."""
    entities = [{"id": "app:chat", "kind": "app"}, {"id": "vectordb:qdrant", "kind": "vectordb"}]
    relations = [{"src": "app:chat", "kind": "QUERIES", "dst": "vectordb:qdrant"}]
    entities += [{"id": f"app:x{i}", "kind": "app"} for i in range(series)]
    relations += [{"src": "app:chat", "kind": "CALLS", "dst": f"app:x{i}"} for i in range(series)]
    metrics = []
    for i in range(steps):
        t = 1_700_000_000 + 30 * i
        metrics.append({"timestamp": t, "entity": "app:chat", "metric": "latency_p95_s",
                        "value": 1.0 + (2.0 if i >= steps - 20 else 0.0) + 0.01 * (i % 3)})
        metrics.append({"timestamp": t, "entity": "vectordb:qdrant", "metric": "query_latency_p95_s",
                        "value": 0.1 + (0.5 if i >= steps - 22 else 0.0) + 0.001 * (i % 5)})
        metrics += [{"timestamp": t, "entity": f"app:x{k}", "metric": "rps", "value": 5.0 + i % 7}
                    for k in range(series)]
    return {"topology": {"entities": entities, "relations": relations}, "metrics": metrics,
            "incident": {"symptom": "app:chat", "at": 1_700_000_000 + 30 * (steps - 1), "lookback": "60m"}}


# -- 4. listings read only what they show ---------------------------------------------------------------------------

def test_listing_reads_neither_stored_cases_nor_results(tmp_path: Path) -> None:
    """At the store: listing rows that each hold a 32 MiB inline case and a 1 MiB result allocates kilobytes of
    Python objects, and SQLite itself does not load the cases either (``case_json IS NOT NULL`` did: it reads the
    value in full) — the process's peak RSS stays well under one case. The top cause and score it shows are picked
    out of the result by SQLite (``json_extract`` parses one result at a time, in C)."""
    db = Database(tmp_path / "store.sqlite3").open()
    repo = InsightRepository(db)
    request = InsightRequest(symptom="app:a", at=parse_time("2026-11-20T11:00:00Z"))
    for i in range(3):
        record = repo.create(request, source="api", inline_case=json.dumps({"blob": "x" * (32 * MiB)}))
        repo.mark_running(record.id)
        repo.finish(record.id, {"candidates": [{"entity": f"app:cause-{i}", "score": 0.5 + i / 10}],
                                "topology": {"attrs": "y" * MiB}})
    repo.page(limit=50)  # warm SQLite's page cache and statement cache
    tracemalloc.start()
    try:
        with PeakGrowth(os.getpid()) as memory:
            page = repo.page(limit=50)
        _, allocated_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(page) == 3 and all(r.has_inline_case for r in page)
    assert [(r.top_cause, r.top_score) for r in page] == [("app:cause-2", 0.7), ("app:cause-1", 0.6),
                                                          ("app:cause-0", 0.5)]
    assert allocated_peak < 1 * MiB, f"listing allocated {allocated_peak / MiB:.1f} MiB: it read cases or results"
    assert memory.grown < 16 * MiB, f"listing grew the process by {memory.grown / MiB:.0f} MiB: SQLite read the cases"
    assert repo.inline_case_text(page[0].id).startswith('{"blob"')
    db.close()


@pytest.fixture(scope="module")
def budgeted(tmp_path_factory: pytest.TempPathFactory, demo_case_dir: Path) -> Iterator[Any]:
    from tests.servers.faultline import _launcher

    start, servers = _launcher(tmp_path_factory.mktemp("bounded"), demo_case_dir)
    yield start(FAULTLINE_INLINE_CASE_MEMORY_BYTES=str(230 * MiB), FAULTLINE_MAX_BODY_BYTES=str(32 * MiB))
    for server in servers:
        server.kill()


@pytest.mark.integration
def test_parallel_listings_do_not_read_stored_cases(start_faultline: Any) -> None:
    """Three stored inline cases of ~10 MB and their results, ten parallel listings: the server's peak RSS grows by
    far less than one case (with ``SELECT *`` every listing loaded every case: 13 stored 16 MiB cases and ten
    listings took a server from 0.8 to 1.6 GB)."""
    server = start_faultline()
    body = json.dumps({"case": inline_case(series=40, steps=3000)}).encode()
    ids = []
    with server.client() as c:
        for _ in range(3):
            r = c.post("/v1/insights", content=body, headers={"Content-Type": "application/json"}, timeout=300)
            assert r.status_code == 202, r.text
            ids.append(r.json()["id"])
    for ident in ids:
        done = server.wait_insight(ident, timeout_s=300)
        assert done["status"] == "done", done["error"]

    def ten_listings() -> list[httpx.Response]:
        with ThreadPoolExecutor(10) as pool:
            return list(pool.map(lambda _: httpx.get(f"{server.base_url}/v1/insights", params={"limit": 200},
                                                     timeout=60), range(10)))

    ten_listings()  # the first round starts the worker threads and warms the allocator
    with PeakGrowth(server.process.pid) as memory:
        pages = ten_listings()
    grown = memory.grown
    assert all(p.status_code == 200 and len(p.json()["items"]) == 3 for p in pages)
    assert pages[0].json()["items"][0]["top_cause"] == "vectordb:qdrant"
    assert grown < len(body) // 2, f"ten listings grew the server by {grown / MiB:.1f} MiB (a case: {len(body) / MiB:.1f})"


# -- 6. big inline cases: off the event loop, under a memory budget -------------------------------------------------

@pytest.mark.integration
def test_a_case_over_the_memory_budget_is_413_and_the_server_stays_small(budgeted: Any) -> None:
    """~10 MiB of case needs ~290 MiB to read (pydantic objects, the frames): over the 230 MiB budget, the worker is
    stopped and the request gets 413. The server process itself never held the parsed case."""
    body = json.dumps({"case": inline_case(series=40, steps=3000)}).encode()
    assert len(body) > 8 * MiB
    with budgeted.client() as c:
        with PeakGrowth(budgeted.process.pid) as memory:
            r = c.post("/v1/insights", content=body, headers={"Content-Type": "application/json"}, timeout=300)
        assert r.status_code == 413, r.text[:300]
        assert "more than 230 MiB" in r.json()["detail"] and "FAULTLINE_INLINE_CASE_MEMORY_BYTES" in r.json()["detail"]
        grown = memory.grown
        assert grown < 4 * len(body), f"the server grew by {grown / MiB:.0f} MiB for a {len(body) / MiB:.0f} MiB body"
        small = c.post("/v1/insights", json={"case": inline_case(series=10, steps=2000)}, timeout=300)
        assert small.status_code == 202, small.text[:300]
        assert c.get("/healthz").status_code == 200
    assert budgeted.wait_insight(small.json()["id"], timeout_s=180)["top_cause"] == "vectordb:qdrant"
    assert "Traceback" not in budgeted.log()


# -- 5. bounded incidents ---------------------------------------------------------------------------------------------

def _delivery(batch: int, status: str = "firing") -> dict[str, Any]:
    alerts = [{"status": status, "labels": {"alertname": "Flood", "app": "chat-frontend", "n": f"{batch}-{i}"},
               "annotations": {"summary": "flood"}, "startsAt": "2026-11-20T10:58:00Z",
               "endsAt": "0001-01-01T00:00:00Z", "fingerprint": f"{batch:04d}{i:06d}"} for i in range(1000)]
    return {"version": "4", "groupKey": '{}:{alertname="Flood"}', "truncatedAlerts": 0, "status": "firing",
            "receiver": "faultline", "groupLabels": {"alertname": "Flood"},
            "commonLabels": {"alertname": "Flood", "app": "chat-frontend"}, "commonAnnotations": {"summary": "flood"},
            "externalURL": "http://am:9093", "alerts": alerts}


@pytest.mark.integration
def test_an_open_incident_keeps_at_most_the_cap_and_counts_the_rest(faultline: Any) -> None:
    """The probe's flood: 12 deliveries of 1,000 different alerts to one group (12,000 alerts on one incident, a
    13.7 MB incident list). With the default cap of 1,000: 1,000 kept, 11,000 counted as dropped."""
    results = []
    with faultline.client() as c:
        for batch in range(12):
            r = c.post("/v1/alerts/alertmanager", json=_delivery(batch))
            assert r.status_code in (200, 202), r.text[:300]
            results.append(r.json())
        assert [r["dropped_alerts"] for r in results] == [0] + [1000] * 11
        assert len({r["incident_id"] for r in results}) == 1
        # alerts already held still change: the first batch resolves
        again = c.post("/v1/alerts/alertmanager", json=_delivery(0, status="resolved")).json()
        assert again["dropped_alerts"] == 0
        incident = c.get(f"/v1/incidents/{results[0]['incident_id']}").json()
        listing = c.get("/v1/incidents", params={"limit": 200})
        metrics = c.get("/metrics").text
    alerts = incident["details"]["alerts"]
    assert len(alerts) == 1000 and incident["details"]["dropped_alerts"] == 11_000
    assert {a["status"] for a in alerts.values()} == {"resolved"}
    assert len(listing.content) < 2 * MiB, f"incident list is {len(listing.content) / MiB:.1f} MiB"
    assert re.search(r"^faultline_alerts_dropped_total 11000\.0$", metrics, re.M), metrics[-1500:]
