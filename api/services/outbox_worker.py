"""Delivers outbox messages (PagerDuty notes) and retries failures with capped exponential backoff, forever.

A message leaves the outbox only when PagerDuty answered 2xx. Anything else — a 5xx, a 429 (its ``Retry-After`` is
honoured), a timeout, a refused connection, a missing token — leaves it pending with the next attempt scheduled, so
it survives restarts and is delivered once PagerDuty (or the configuration) is back.

Exactly once, across crashes and replicas: rows are leased (``Outbox.claim_due``), so one process holds a row at a
time; the row is marked in flight and committed before the POST, and cleared when PagerDuty answers. A row met with
the mark still set — its process died between the POST and the commit, or the connection dropped before an answer —
is not re-sent blindly: the incident's notes are read first and the note is sent only if none carries the row's
marker line (``faultline-ref: <insight id>``). PagerDuty's REST API has no idempotency key; this check is the stand-in.
"""

from __future__ import annotations

import asyncio
import logging
import random

from ..exceptions import NoteDeliveryError
from ..storage import Outbox, OutboxItem
from .pagerduty_client import NoteSender, delivery_uncertain, marker_for, with_marker
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
        owner: str = "outbox",
        lease_s: float = 30.0,
    ) -> None:
        self.outbox = outbox
        self.sender = sender
        self.telemetry = telemetry
        self.poll_s = poll_s
        self.max_backoff_s = max_backoff_s
        self.batch = batch
        self.owner = owner
        self.lease_s = lease_s
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
        """Lease every due message and try each once; returns how many were delivered."""
        delivered = 0
        for item in await asyncio.to_thread(self.outbox.claim_due, self.owner, self.lease_s, limit=self.batch):
            if await self._deliver(item):
                delivered += 1
        return delivered

    async def _fail(self, item: OutboxItem, error: str, retry_in_s: float, *, uncertain: bool | None = None) -> None:
        await asyncio.to_thread(self.outbox.mark_failed, item.id, error, retry_in_s, uncertain=uncertain,
                                owner=self.owner)

    async def _deliver(self, item: OutboxItem) -> bool:
        if item.kind != PAGERDUTY_NOTE:
            await self._fail(item, f"unknown outbox kind {item.kind!r}", self.max_backoff_s)
            return False
        if self.sender is None:
            if not self._warned_unconfigured:
                log.warning("PagerDuty notes are queued but FAULTLINE_PAGERDUTY_API_TOKEN / _FROM are not set")
                self._warned_unconfigured = True
            await self._fail(item, "PagerDuty REST API token or From not configured", self.max_backoff_s)
            self.telemetry.notes.labels(kind=item.kind, outcome="unconfigured").inc()
            return False
        marker = marker_for(item.insight_id)
        posting = False
        try:
            if item.in_flight and await self.sender.has_note(item.target, marker):
                log.info("outbox %d: the note was already on incident %s (an earlier attempt got no answer); "
                         "not sent again", item.id, item.target)
                await asyncio.to_thread(self.outbox.mark_sent, item.id)
                self.telemetry.notes.labels(kind=item.kind, outcome="found").inc()
                return True
            if not await asyncio.to_thread(self.outbox.begin_send, item.id, self.owner, self.lease_s):
                log.warning("outbox %d: lease lost before sending; left to its new holder", item.id)
                return False
            posting = True
            await self.sender.post_note(item.target, with_marker(str(item.payload.get("content", "")), marker))
        except NoteDeliveryError as exc:
            delay = exc.retry_after if exc.retry_after else backoff_s(item.attempts, self.max_backoff_s)
            # a failed look-up leaves the row as uncertain as it was; a failed POST is uncertain without an answer
            uncertain = delivery_uncertain(exc) if posting else None
            await self._fail(item, str(exc), min(delay, self.max_backoff_s), uncertain=uncertain)
            self.telemetry.notes.labels(kind=item.kind, outcome="retry").inc()
            log.warning("outbox %d: %s (attempt %d, retry in %.1f s)", item.id, exc, item.attempts + 1, delay)
            return False
        await asyncio.to_thread(self.outbox.mark_sent, item.id)
        self.telemetry.notes.labels(kind=item.kind, outcome="sent").inc()
        return True
