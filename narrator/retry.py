"""Bounded retries with exponential backoff under a hard deadline.

Why a deadline and not only a retry count: the narrative is the last step of an insight an engineer is waiting for.
``Deadline`` is the time the whole narration may take; every request gets at most what is left of it, no backoff
sleep runs past it, and a request that overstays (a server trickling bytes defeats a plain read timeout) is abandoned
by ``bounded_call`` so the caller moves on to the template narrative on time.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import TypeVar

from .exceptions import LLMError, LLMRateLimited, LLMTimeout

T = TypeVar("T")

MIN_ATTEMPT_S = 0.05  # less time than this left: do not start a request
_GRACE_S = 0.25  # the HTTP client's own timeout normally fires first; this only catches overstays

__all__ = ["Deadline", "RetryPolicy", "bounded_call", "call_with_retries"]


class Deadline:
    """A point in monotonic time; ``remaining()`` never goes below zero."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._end = time.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self._end - time.monotonic())

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0.0


@dataclass(frozen=True)
class RetryPolicy:
    timeout_s: float
    max_retries: int
    backoff_s: float
    max_backoff_s: float

    def sleep_before(self, retry: int, error: LLMError, rng: random.Random) -> float:
        """Backoff before retry number ``retry`` (0-based): doubling, jittered ±20 %, or the server's Retry-After."""
        if isinstance(error, LLMRateLimited) and error.retry_after_s is not None:
            return min(self.max_backoff_s, error.retry_after_s)
        return min(self.max_backoff_s, self.backoff_s * 2**retry * rng.uniform(0.8, 1.2))


_executor_lock = threading.Lock()
_executor: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="faultline-llm")
        return _executor


def bounded_call(call: Callable[[float], T], timeout_s: float) -> T:
    """Run ``call(timeout_s)`` and give up waiting shortly after ``timeout_s`` even if it has not returned."""
    future = _pool().submit(call, timeout_s)
    try:
        return future.result(timeout=timeout_s + _GRACE_S)
    except FutureTimeout:
        future.cancel()
        raise LLMTimeout(f"no answer within {timeout_s:.1f} s (request abandoned)") from None


def call_with_retries(
    call: Callable[[float], T],
    policy: RetryPolicy,
    deadline: Deadline,
    *,
    rng: random.Random | None = None,
    on_retry: Callable[[int, LLMError, float], None] | None = None,
) -> T:
    """``call(timeout_s)`` until it succeeds, a non-retryable error, ``policy.max_retries`` retries, or the deadline.

    Raises the last ``LLMError``; when the deadline cut the retries short the error says so.
    """
    rng = rng or random.Random()
    retry = 0
    while True:
        remaining = deadline.remaining()
        if remaining < MIN_ATTEMPT_S:
            raise LLMTimeout(f"narration deadline of {deadline.seconds:.1f} s reached before an answer")
        try:
            return bounded_call(call, min(policy.timeout_s, remaining))
        except LLMError as error:
            if not error.retryable or retry >= policy.max_retries:
                raise
            sleep = policy.sleep_before(retry, error, rng)
            if sleep + MIN_ATTEMPT_S >= deadline.remaining():
                raise type(error)(f"{error} (no time left for a retry within the {deadline.seconds:.1f} s deadline)") from error
            if on_retry is not None:
                on_retry(retry + 1, error, sleep)
            time.sleep(sleep)
            retry += 1
