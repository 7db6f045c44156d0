"""The insight runner on its own: bounded concurrency, timeouts and pipeline errors become failed insights with a
reason, hooks run in the storing transaction, and unfinished work is picked up by a new runner."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

from api.services.runner import InsightRunner
from api.services.telemetry import Telemetry
from api.storage import Database, InsightRepository, InsightRequest
from topology.exceptions import UnknownEntityError


def run_isolated(coroutine):  # type: ignore[no-untyped-def]
    """``asyncio.run`` in a thread of its own: a session-wide sync Playwright (the browser fixture) keeps an event loop
    running in the main thread, and ``asyncio.run`` refuses to start inside a running loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()

AT = datetime(2026, 11, 20, 11, tzinfo=timezone.utc)


def _queue(db: Database, symptoms: list[str]) -> list[str]:
    repo = InsightRepository(db)
    return [repo.create(InsightRequest(symptom=s, at=AT), source="api").id for s in symptoms]


def test_bounded_concurrency_outcomes_and_hooks(tmp_path: Path) -> None:
    db = Database(tmp_path / "r.sqlite3").open()
    running, peak, lock = 0, 0, threading.Lock()

    def analyse(record, on_stage):
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        try:
            on_stage("working")
            if record.request.symptom == "app:slow":
                time.sleep(1.0)
            if record.request.symptom == "app:ghost":
                raise UnknownEntityError("app:ghost")
            if record.request.symptom == "app:bug":
                raise ZeroDivisionError("boom")
            time.sleep(0.05)
            return {"candidates": [{"entity": "commit:abc", "score": 0.9}]}
        finally:
            with lock:
                running -= 1

    telemetry = Telemetry()
    hooked: list[str] = []

    async def scenario() -> list[str]:
        runner = InsightRunner(db=db, analyse=analyse, telemetry=telemetry, concurrency=2, timeout_s=0.5)
        runner.after_finish.append(lambda record, result: hooked.append(record.id))
        ids = _queue(db, ["app:a", "app:b", "app:c", "app:d", "app:slow", "app:ghost", "app:bug"])
        await runner.start()
        await runner.wait_idle()
        await runner.stop()
        return ids

    ids = run_isolated(scenario())
    repo = InsightRepository(db)
    records = {r.request.symptom: r for r in (repo.get(i) for i in ids)}
    assert peak == 2
    assert {s for s, r in records.items() if r.status == "done"} == {"app:a", "app:b", "app:c", "app:d"}
    assert records["app:slow"].error == "analysis did not finish within 0.5 s"
    assert records["app:ghost"].error == "unknown entity: 'app:ghost'"
    assert records["app:bug"].error == "internal error (ZeroDivisionError)"  # no traceback text leaks out
    assert sorted(hooked) == sorted(records[s].id for s in ("app:a", "app:b", "app:c", "app:d"))
    text = telemetry.render()[0].decode()
    assert 'faultline_insights_total{outcome="failed"} 3.0' in text
    assert 'faultline_insight_failures_total{reason="timeout"} 1.0' in text


def test_a_new_runner_resumes_unfinished(tmp_path: Path) -> None:
    db = Database(tmp_path / "r.sqlite3").open()
    ids = _queue(db, ["app:a", "app:b"])
    InsightRepository(db).mark_running(ids[0])  # as if the process died during this one

    async def scenario() -> int:
        runner = InsightRunner(db=db, analyse=lambda record, on_stage: {"ok": True}, telemetry=Telemetry())
        resumed = await runner.start()
        await runner.wait_idle()
        await runner.stop()
        return resumed

    assert run_isolated(scenario()) == 2
    repo = InsightRepository(db)
    assert [repo.get(i).status for i in ids] == ["done", "done"]
    assert repo.get(ids[0]).attempts == 2
