"""The insight runner: a durable queue with bounded concurrency.

The SQLite ``insights`` table *is* the queue: a request is committed as ``queued`` before the API answers 202, the
runner takes ids from an in-memory ``asyncio.Queue`` fed by new requests and, at start-up, by every insight still
``queued`` or ``running`` (the process died under it) — so a restart resumes what was pending and loses nothing.

At most ``concurrency`` analyses run at once, each in a worker thread (the pipeline is CPU-bound numpy and blocking
store I/O; the event loop keeps answering). A run that exceeds ``timeout_s`` is marked failed; its thread cannot be
killed and finishes in the background, but its result is discarded.

A run that fails because its data source is down (Neo4j stopped, the case not loadable yet) is not failed: it goes
back to ``queued`` with a stage saying why, and runs again after a doubling backoff, up to ``retries`` times — an
accepted insight outlives an outage of its store. An insight claimed more than ``retries + 3`` times without
finishing (the process died under it each time) is failed rather than allowed to crash-loop the server.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from topology.exceptions import StoreUnavailableError

from ..errors import user_facing_errors
from ..exceptions import ApiError, DataSourceUnavailable
from ..storage import Database, InsightRecord, InsightRepository
from .telemetry import Telemetry

log = logging.getLogger(__name__)

Analyse = Callable[[InsightRecord, Callable[[str], None]], dict[str, Any]]
"""Blocking: run one insight, report stages through the callback, return the JSON document."""

TRANSIENT_ERRORS: tuple[type[Exception], ...] = (StoreUnavailableError, DataSourceUnavailable)
"""Failures that say "not now" rather than "not possible": the insight waits and runs again."""
MAX_RETRY_BACKOFF_S = 300.0

AfterFinish = Callable[[InsightRecord, dict[str, Any]], None]
"""Runs inside the transaction that stores a finished insight (e.g. queue a PagerDuty note in the outbox)."""


class InsightRunner:
    def __init__(
        self,
        *,
        db: Database,
        analyse: Analyse,
        telemetry: Telemetry,
        concurrency: int = 2,
        timeout_s: float = 120.0,
        retries: int = 10,
        retry_backoff_s: float = 2.0,
    ) -> None:
        self.db = db
        self.insights = InsightRepository(db)
        self.analyse = analyse
        self.telemetry = telemetry
        self.concurrency = concurrency
        self.timeout_s = timeout_s
        self.retries = retries
        self.retry_backoff_s = retry_backoff_s
        self.after_finish: list[AfterFinish] = []
        self.after_fail: list[Callable[[InsightRecord, str], None]] = []
        self.after_commit: list[Callable[[], None]] = []
        self._queue: asyncio.Queue[str] | None = None
        self._workers: list[asyncio.Task[None]] = []
        self._executor: ThreadPoolExecutor | None = None
        self._queued_ids: set[str] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- lifecycle --------------------------------------------------------------------------------------------------
    async def start(self) -> int:
        """Start the workers and re-queue unfinished insights; returns how many were resumed."""
        self._loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue()
        self._executor = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="insight")
        resumed = self.insights.unfinished()
        for ident in resumed:
            self._put(ident)
        self._workers = [asyncio.create_task(self._work(), name=f"insight-worker-{i}") for i in range(self.concurrency)]
        if resumed:
            log.info("resuming %d unfinished insight(s)", len(resumed))
        return len(resumed)

    async def stop(self) -> None:
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers = []
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    def submit(self, insight_id: str) -> None:
        """Queue an insight already committed to the store; safe from the event loop and from worker threads."""
        if self._loop is None:
            raise ApiError("insight runner is not started")
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._put(insight_id)
        else:
            self._loop.call_soon_threadsafe(self._put, insight_id)

    @property
    def queued(self) -> int:
        return len(self._queued_ids)

    def _put(self, ident: str) -> None:
        if self._queue is None:
            raise ApiError("insight runner is not started")
        if ident not in self._queued_ids:
            self._queued_ids.add(ident)
            self._queue.put_nowait(ident)

    # -- work -------------------------------------------------------------------------------------------------------
    async def _work(self) -> None:
        assert self._queue is not None
        while True:
            ident = await self._queue.get()
            self._queued_ids.discard(ident)
            try:
                await self._run(ident)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - a worker must survive anything one insight does
                log.exception("insight %s: runner error", ident)
            finally:
                self._queue.task_done()

    async def _run(self, ident: str) -> None:
        # store calls go through worker threads: an fsync'd commit must not stall the event loop under bursts
        record = await asyncio.to_thread(self._claim, ident)
        if record is None:
            return
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        self.telemetry.in_progress.inc()
        try:
            stage = partial(self.insights.set_stage, ident)
            future = loop.run_in_executor(self._executor, self.analyse, record, stage)
            result = await asyncio.wait_for(future, timeout=self.timeout_s)
        except asyncio.TimeoutError:
            await self._failed(record, f"analysis did not finish within {self.timeout_s:g} s", "timeout")
        except TRANSIENT_ERRORS as exc:
            await self._retry_later(record, exc)
        except user_facing_errors() as exc:
            await self._failed(record, str(exc), type(exc).__name__)
        except ApiError as exc:
            await self._failed(record, str(exc), type(exc).__name__)
        except Exception as exc:  # noqa: BLE001
            log.exception("insight %s failed", ident)
            await self._failed(record, f"internal error ({type(exc).__name__})", "internal")
        else:
            await asyncio.to_thread(self._store_result, record, result)
            self.telemetry.insights.labels(outcome="done").inc()
            self._committed()
        finally:
            self.telemetry.in_progress.dec()
            self.telemetry.latency.observe(time.perf_counter() - started)

    def _claim(self, ident: str) -> InsightRecord | None:
        """Mark the insight running; ``None`` when it already finished (queued twice, or done before a restart) or
        when it has been claimed too often without finishing (then it is failed here)."""
        record = self.insights.get(ident)
        if record.status in ("done", "failed"):
            return None
        if record.attempts >= self.retries + 3:
            self._store_failure(record, f"abandoned after {record.attempts} attempts that never finished "
                                        "(the server stopped or its data source was down each time)")
            return None
        self.insights.mark_running(ident)
        return self.insights.get(ident)

    async def _retry_later(self, record: InsightRecord, exc: Exception) -> None:
        """The data source is down: back to ``queued``, run again after a doubling backoff (or fail when spent)."""
        if record.attempts > self.retries:
            await self._failed(record, f"{exc} (gave up after {record.attempts} attempts)", "unavailable")
            return
        delay = min(self.retry_backoff_s * 2 ** (record.attempts - 1), MAX_RETRY_BACKOFF_S)
        stage = f"waiting for the data source (attempt {record.attempts} of {self.retries + 1}, next in {delay:g} s): {exc}"
        await asyncio.to_thread(self.insights.requeue, record.id, stage)
        self.telemetry.failures.labels(reason="retry").inc()
        log.warning("insight %s: %s", record.id, stage)
        assert self._loop is not None
        self._loop.call_later(delay, self._put, record.id)

    def _store_result(self, record: InsightRecord, result: dict[str, Any]) -> None:
        with self.db.transaction():
            self.insights.finish(record.id, result)
            for hook in self.after_finish:
                hook(record, result)

    def _store_failure(self, record: InsightRecord, message: str) -> None:
        with self.db.transaction():
            self.insights.fail(record.id, message)
            for hook in self.after_fail:
                hook(record, message)

    async def _failed(self, record: InsightRecord, message: str, reason: str) -> None:
        await asyncio.to_thread(self._store_failure, record, message)
        self._committed()
        self.telemetry.insights.labels(outcome="failed").inc()
        self.telemetry.failures.labels(reason=reason).inc()
        log.warning("insight %s failed: %s", record.id, message)

    def _committed(self) -> None:
        for hook in self.after_commit:
            try:
                hook()
            except Exception:  # noqa: BLE001 - a notification hook must not fail the insight
                log.exception("after-commit hook failed")

    async def wait_idle(self) -> None:
        """Until every queued insight has been processed (tests and graceful drains)."""
        if self._queue is not None:
            await self._queue.join()
