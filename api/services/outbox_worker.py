"""Delivers outbox messages (PagerDuty notes) and retries failures with capped exponential backoff, forever.

A message leaves the outbox only when PagerDuty answered 2xx. Anything else — a 5xx, a 429 (its ``Retry-After`` is
honoured), a timeout, a refused connection, a missing token — leaves it pending with the next attempt scheduled, so
it survives restarts and is delivered once PagerDuty (or the configuration) is back.
"""

from __future__ import annotations

import asyncio
import logging
import random

from ..exceptions import NoteDeliveryError
from ..storage import Outbox, OutboxItem
from .pagerduty_client import NoteSender
from .telemetry import Telemetry

log = logging.getLogger(__name__)

PAGERDUTY_NOTE = "pagerduty_note"


def backoff_s(attempts: int, cap_s: float) -> float:
    """1, 2, 4, … seconds (±20 % jitter so many messages do not retry in lock-step), at most ``cap_s``."""
    base = min(cap_s, 2.0 ** max(attempts, 0))
    return min(cap_s, base * random.uniform(0.8, 1.2))


class OutboxWorker:
    def __init__(
        self,
        *,
        outbox: Outbox,
        sender: NoteSender | None,
        telemetry: Telemetry,
        poll_s: float = 1.0,
        max_backoff_s: float = 300.0,
        batch: int = 20,
    ) -> None:
        self.outbox = outbox
        self.sender = sender
        self.telemetry = telemetry
        self.poll_s = poll_s
        self.max_backoff_s = max_backoff_s
        self.batch = batch
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._warned_unconfigured = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="outbox")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def kick(self) -> None:
        """Something was queued: look now rather than at the next poll."""
        self._wake.set()

    async def _loop(self) -> None:
        while True:
            try:
                await self.drain_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the loop must survive a bad row or a store hiccup
                log.exception("outbox pass failed")
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_s)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()

    async def drain_once(self) -> int:
        """Try every due message once; returns how many were delivered."""
        delivered = 0
        for item in await asyncio.to_thread(self.outbox.due, limit=self.batch):
            if await self._deliver(item):
                delivered += 1
        return delivered

    async def _deliver(self, item: OutboxItem) -> bool:
        if item.kind != PAGERDUTY_NOTE:
            await asyncio.to_thread(self.outbox.mark_failed, item.id, f"unknown outbox kind {item.kind!r}",
                                    self.max_backoff_s)
            return False
        if self.sender is None:
            if not self._warned_unconfigured:
                log.warning("PagerDuty notes are queued but FAULTLINE_PAGERDUTY_API_TOKEN / _FROM are not set")
                self._warned_unconfigured = True
            await asyncio.to_thread(self.outbox.mark_failed, item.id, "PagerDuty REST API token or From not configured",
                                    self.max_backoff_s)
            self.telemetry.notes.labels(kind=item.kind, outcome="unconfigured").inc()
            return False
        try:
            await self.sender.post_note(item.target, str(item.payload.get("content", "")))
        except NoteDeliveryError as exc:
            delay = exc.retry_after if exc.retry_after else backoff_s(item.attempts, self.max_backoff_s)
            await asyncio.to_thread(self.outbox.mark_failed, item.id, str(exc), min(delay, self.max_backoff_s))
            self.telemetry.notes.labels(kind=item.kind, outcome="retry").inc()
            log.warning("outbox %d: %s (attempt %d, retry in %.1f s)", item.id, exc, item.attempts + 1, delay)
            return False
        await asyncio.to_thread(self.outbox.mark_sent, item.id)
        self.telemetry.notes.labels(kind=item.kind, outcome="sent").inc()
        return True
