"""The insight runner: a durable, shared queue with bounded concurrency.

The store's ``insights`` table *is* the queue: a request is committed as ``queued`` before the API answers 202, and a
dispatcher *claims* work from the table — the oldest runnable row, leased to this process for ``lease_s`` — whenever
a slot is free. New requests only wake it; it also looks every ``poll_s``, which is how a replica picks up insights
accepted by another replica, retries whose backoff ran out, and insights whose holder died (its lease expired). A
restart therefore resumes everything pending and loses nothing; with N replicas on PostgreSQL each insight runs on
one of them at a time (``FOR UPDATE SKIP LOCKED``).

While an insight runs, a heartbeat renews the leases this process holds (insights and outbox rows) every third of
``lease_s``; a result is stored only while the lease is still held, so an insight taken over from a replica that
stalled past its lease is finished once, by its new holder.

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
import os
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from topology.exceptions import StoreUnavailableError

from ..errors import user_facing_errors
from ..exceptions import ApiError, DataSourceUnavailable
from ..storage import InsightRecord, InsightRepository, SqlDatabase
from .telemetry import Telemetry

log = logging.getLogger(__name__)

Analyse = Callable[[InsightRecord, Callable[[str], None]], dict[str, Any]]
"""Blocking: run one insight, report stages through the callback, return the JSON document."""

TRANSIENT_ERRORS: tuple[type[Exception], ...] = (StoreUnavailableError, DataSourceUnavailable)
"""Failures that say "not now" rather than "not possible": the insight waits and runs again."""
MAX_RETRY_BACKOFF_S = 300.0

def default_owner() -> str:
    """This process's name in leases: host (the pod name on Kubernetes), pid, and a random tail so a restarted
    process never mistakes a dead predecessor's lease for its own."""
    return f"{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"


AfterFinish = Callable[[InsightRecord, dict[str, Any]], None]
"""Runs inside the transaction that stores a finished insight (e.g. queue a PagerDuty note in the outbox)."""


class InsightRunner:
    def __init__(
        self,
        *,
        db: SqlDatabase,
        analyse: Analyse,
        telemetry: Telemetry,
        concurrency: int = 2,
        timeout_s: float = 120.0,
        retries: int = 10,
        retry_backoff_s: float = 2.0,
        owner: str | None = None,
        lease_s: float = 30.0,
        poll_s: float = 1.0,
    ) -> None:
        self.db = db
        self.insights = InsightRepository(db)
        self.analyse = analyse
        self.telemetry = telemetry
        self.concurrency = concurrency
        self.timeout_s = timeout_s
        self.retries = retries
        self.retry_backoff_s = retry_backoff_s
        self.owner = owner or default_owner()
        self.lease_s = lease_s
        self.poll_s = poll_s
        self.after_finish: list[AfterFinish] = []
        self.after_fail: list[Callable[[InsightRecord, str], None]] = []
        self.after_commit: list[Callable[[], None]] = []
        self.heartbeat: list[Callable[[], None]] = [lambda: self.insights.renew(self.owner, self.lease_s)]
        """Blocking calls that renew this process's leases (the outbox adds its own)."""
        self._wake: asyncio.Event | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._background: list[asyncio.Task[None]] = []
        self._executor: ThreadPoolExecutor | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queued_seen = 0
        self._user_errors: tuple[type[Exception], ...] = ()

    # -- lifecycle --------------------------------------------------------------------------------------------------
    async def start(self) -> int:
        """Start the dispatcher and the lease heartbeat; returns how many unfinished insights the store holds."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="insight")
        # resolved once, off the loop: the first call imports the analysis packages (~1 s) and would stall the loop
        # inside an ``except`` clause, long enough for a timed-out analysis to slip through as finished
        self._user_errors = await asyncio.to_thread(user_facing_errors)
        if not self.db.shared:  # one process per SQLite file: whoever held its leases is gone
            await asyncio.to_thread(self.insights.release_leases)
        resumed = await asyncio.to_thread(self.insights.unfinished)
        self._background = [asyncio.create_task(self._dispatch(), name="insight-dispatcher"),
                            asyncio.create_task(self._renew_leases(), name="lease-heartbeat")]
        if resumed:
            log.info("resuming %d unfinished insight(s)", len(resumed))
        self._wake.set()
        return len(resumed)

    async def stop(self) -> None:
        for task in [*self._background, *self._tasks]:
            task.cancel()
        await asyncio.gather(*self._background, *self._tasks, return_exceptions=True)
        self._background, self._tasks = [], set()
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    def submit(self, insight_id: str) -> None:
        """An insight was committed to the store: look for work now. Safe from the event loop and worker threads."""
        if self._loop is None or self._wake is None:
            raise ApiError("insight runner is not started")
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._wake.set()
        else:
            self._loop.call_soon_threadsafe(self._wake.set)

    @property
    def queued(self) -> int:
        """Insights waiting in the store, as of the dispatcher's last look."""
        return self._queued_seen

    @property
    def running(self) -> int:
        return len(self._tasks)

    # -- work -------------------------------------------------------------------------------------------------------
    async def _dispatch(self) -> None:
        assert self._wake is not None
        while True:
            self._wake.clear()
            try:
                while len(self._tasks) < self.concurrency:
                    record = await asyncio.to_thread(self._claim)
                    if record is None:
                        break
                    task = asyncio.create_task(self._run(record), name=f"insight-{record.id}")
                    self._tasks.add(task)
                    task.add_done_callback(self._done)
                self._queued_seen = await asyncio.to_thread(self.insights.queued_count)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - a store hiccup must not stop the dispatcher
                log.exception("insight dispatcher pass failed")
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_s)
            except asyncio.TimeoutError:
                pass

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if self._wake is not None:
            self._wake.set()  # a slot is free
        if not task.cancelled() and task.exception() is not None:
            log.error("insight runner error", exc_info=task.exception())

    async def _renew_leases(self) -> None:
        while True:
            await asyncio.sleep(self.lease_s / 3)
            for renew in self.heartbeat:
                try:
                    await asyncio.to_thread(renew)
                except Exception:  # noqa: BLE001 - try again at the next beat; the lease has two more to go
                    log.exception("lease renewal failed")

    def _claim(self) -> InsightRecord | None:
        """The next insight this process runs (leased to it), skipping and failing any claimed too often without
        finishing; ``None`` when nothing is runnable."""
        while True:
            record = self.insights.claim_next(self.owner, self.lease_s)
            if record is None:
                return None
            if record.attempts <= self.retries + 3:
                return record
            self._store_failure(record, f"abandoned after {record.attempts - 1} attempts that never finished "
                                        "(the server stopped or its data source was down each time)")
            self._committed()

    async def _run(self, record: InsightRecord) -> None:
        ident = record.id
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
        except self._user_errors as exc:
            await self._failed(record, str(exc), type(exc).__name__)
        except ApiError as exc:
            await self._failed(record, str(exc), type(exc).__name__)
        except Exception as exc:  # noqa: BLE001
            log.exception("insight %s failed", ident)
            await self._failed(record, f"internal error ({type(exc).__name__})", "internal")
        else:
            if await asyncio.to_thread(self._store_result, record, result):
                self.telemetry.insights.labels(outcome="done").inc()
                self._committed()
        finally:
            self.telemetry.in_progress.dec()
            self.telemetry.latency.observe(time.perf_counter() - started)

    async def _retry_later(self, record: InsightRecord, exc: Exception) -> None:
        """The data source is down: back to ``queued``, run again after a doubling backoff (or fail when spent)."""
        if record.attempts > self.retries:
            await self._failed(record, f"{exc} (gave up after {record.attempts} attempts)", "unavailable")
            return
        delay = min(self.retry_backoff_s * 2 ** (record.attempts - 1), MAX_RETRY_BACKOFF_S)
        stage = f"waiting for the data source (attempt {record.attempts} of {self.retries + 1}, next in {delay:g} s): {exc}"
        await asyncio.to_thread(self.insights.requeue, record.id, stage, run_after=time.time() + delay,
                                owner=self.owner)
        self.telemetry.failures.labels(reason="retry").inc()
        log.warning("insight %s: %s", record.id, stage)
        assert self._loop is not None and self._wake is not None
        self._loop.call_later(delay, self._wake.set)

    def _store_result(self, record: InsightRecord, result: dict[str, Any]) -> bool:
        with self.db.transaction():
            if not self.insights.finish(record.id, result, owner=self.owner):
                log.warning("insight %s: lease lost before the result was stored (another replica took it over); "
                            "result discarded", record.id)
                return False
            for hook in self.after_finish:
                hook(record, result)
            return True

    def _store_failure(self, record: InsightRecord, message: str) -> bool:
        with self.db.transaction():
            if not self.insights.fail(record.id, message, owner=self.owner):
                return False
            for hook in self.after_fail:
                hook(record, message)
            return True

    async def _failed(self, record: InsightRecord, message: str, reason: str) -> None:
        if not await asyncio.to_thread(self._store_failure, record, message):
            log.warning("insight %s: lease lost before the failure was stored; left to its new holder", record.id)
            return
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

    async def wait_idle(self, *, timeout_s: float = 300.0) -> None:
        """Until nothing runs here and nothing is runnable in the store (tests and graceful drains)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self._tasks and await asyncio.to_thread(self.insights.runnable_count) == 0:
                await asyncio.sleep(0.05)
                if not self._tasks and await asyncio.to_thread(self.insights.runnable_count) == 0:
                    return
            if self._wake is not None:
                self._wake.set()
            await asyncio.sleep(0.05)
        raise ApiError(f"insight runner still busy after {timeout_s:g} s")
