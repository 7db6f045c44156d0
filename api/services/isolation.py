"""Run one heavy job — reading or analysing a big inline case — in a separate process, under a memory budget and a
deadline.

Why a process and not a thread: the expensive steps (``json`` and pydantic-core parsing, building pandas frames) are
single C calls that hold the GIL for their whole length, so in a thread they still stall the event loop — a 5 M-row
case held ``/healthz`` for 13 s. Why a budget: the same case took the server to 6.9 GB. A worker process leaves the
event loop free, can be measured (its RSS is read from ``/proc`` every ``POLL_S``) and stopped the moment it passes
``memory_bytes`` or ``timeout_s``, and gives all its memory back to the system when it ends.

Workers are forked from a ``forkserver`` that imported the analysis stack once (``PRELOAD``): a fork from the
multi-threaded server itself is unsafe, and a fresh interpreter would spend seconds importing pandas per job. The
payload (megabytes of JSON) goes over the pipe as raw bytes, not pickled; arguments and results are small and pickled.

An exception in the job comes back as a ``Failure`` (its kind and message; exceptions with their own ``__init__``
do not survive pickling) and is raised again here as the matching ``ApiError``, so routes and the runner map it to an
HTTP status or a failed insight exactly as if it had been raised in-process.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..exceptions import (
    ApiError,
    BodyInvalid,
    MalformedBody,
    OverMemoryBudget,
    OverTimeBudget,
    PayloadTooLarge,
    RequestProblem,
)

PRELOAD = ["api.services.isolated_jobs"]
POLL_S = 0.02
_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(PRELOAD)
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Failure:
    """What crosses back from a worker whose job raised."""

    kind: str  # malformed | invalid | too_large | problem | internal
    message: str
    problems: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class Usage:
    """What a finished job cost (benchmarks and tests read it)."""

    peak_rss_bytes: int
    seconds: float


def warm_up() -> None:
    """Start the fork server now (it imports pandas and the pipeline: seconds), not on the first big request."""
    from multiprocessing import forkserver

    try:
        forkserver.ensure_running()
    except Exception:  # noqa: BLE001 - a failed warm-up only costs the first big request its start-up time
        logging.getLogger(__name__).exception("could not start the worker fork server; will retry on first use")


def run_isolated(job: Callable[..., Any], payload: bytes, *args: Any, memory_bytes: int, timeout_s: float,
                 what: str, on_progress: Progress | None = None, usage: list[Usage] | None = None) -> Any:
    """``job(payload, *args, progress=...)`` in a worker process; its result, or its error raised here.

    ``job`` must be a module-level function of ``PRELOAD``'s modules. Blocking: call it from a worker thread.
    ``what`` completes the sentence "the inline case needed more than … to {what}".
    Raises ``OverMemoryBudget`` / ``OverTimeBudget`` (both 413) when the worker is stopped.
    """
    started = time.monotonic()
    here, there = _CONTEXT.Pipe(duplex=True)
    process = _CONTEXT.Process(target=_worker, args=(there, job, args), daemon=True, name=f"faultline-{what}")
    process.start()
    there.close()
    peak = 0
    try:
        here.send_bytes(payload)
        while True:
            rss = _rss(process.pid)
            peak = max(peak, rss)
            if rss > memory_bytes:
                _stop(process)
                raise OverMemoryBudget(
                    f"the inline case needed more than {memory_bytes / 2 ** 20:.0f} MiB of memory to {what} "
                    "(FAULTLINE_INLINE_CASE_MEMORY_BYTES); send a smaller case, or serve it as a case directory")
            if time.monotonic() - started > timeout_s:
                _stop(process)
                raise OverTimeBudget(f"the inline case could not {what} within {timeout_s:g} s; send a smaller case, "
                                     "or serve it as a case directory")
            if here.poll(POLL_S):
                try:
                    kind, value = here.recv()
                except EOFError:
                    raise _died(process, memory_bytes, what) from None
                if kind == "progress":
                    if on_progress is not None:
                        on_progress(value)
                    continue
                if kind == "ok":
                    return value
                raise _exception(value)
            if not process.is_alive() and not here.poll():
                raise _died(process, memory_bytes, what)
    except (BrokenPipeError, ConnectionResetError):
        raise _died(process, memory_bytes, what) from None
    finally:
        here.close()
        _stop(process)
        if usage is not None:
            usage.append(Usage(peak_rss_bytes=peak, seconds=time.monotonic() - started))


# -- the worker side -----------------------------------------------------------------------------------------------
def _worker(conn: Any, job: Callable[..., Any], args: tuple[Any, ...]) -> None:
    _die_with_parent()
    try:
        payload = conn.recv_bytes()
        result = job(payload, *args, progress=lambda text: conn.send(("progress", text)))
        del payload
        conn.send(("ok", result))
    except BaseException as exc:  # noqa: BLE001 - everything goes back to the parent, which decides
        conn.send(("error", _failure(exc)))
    finally:
        conn.close()


def _failure(exc: BaseException) -> Failure:
    from ..errors import user_facing_errors

    if isinstance(exc, MalformedBody):
        return Failure("malformed", str(exc))
    if isinstance(exc, BodyInvalid):
        return Failure("invalid", str(exc), tuple(exc.problems))
    if isinstance(exc, PayloadTooLarge):
        return Failure("too_large", str(exc))
    if isinstance(exc, MemoryError):
        return Failure("too_large", "the inline case did not fit in memory")
    if isinstance(exc, (ApiError, *user_facing_errors())):
        return Failure("problem", str(exc))
    traceback.print_exc(file=sys.stderr)
    return Failure("internal", f"internal error ({type(exc).__name__})")


def _die_with_parent() -> None:
    """Linux: SIGKILL this worker when the fork server goes (the server was killed), instead of running on."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


# -- the parent side -----------------------------------------------------------------------------------------------
def _exception(failure: Failure) -> ApiError:
    if failure.kind == "malformed":
        return MalformedBody(failure.message)
    if failure.kind == "invalid":
        return BodyInvalid(list(failure.problems))
    if failure.kind == "too_large":
        return PayloadTooLarge(failure.message)
    if failure.kind == "problem":
        return RequestProblem(failure.message)
    return ApiError(failure.message)


def _died(process: Any, memory_bytes: int, what: str) -> ApiError:
    process.join(timeout=5)
    if process.exitcode == -signal.SIGKILL:  # the kernel's OOM killer, most likely
        return OverMemoryBudget(f"the worker reading the inline case was killed while trying to {what} (out of "
                                f"memory?); FAULTLINE_INLINE_CASE_MEMORY_BYTES is {memory_bytes / 2 ** 20:.0f} MiB")
    return ApiError(f"the worker process for the inline case ended unexpectedly (exit code {process.exitcode})")


def _rss(pid: int | None) -> int:
    try:
        with open(f"/proc/{pid}/statm", "rb") as handle:
            return int(handle.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0


def _stop(process: Any) -> None:
    if process.is_alive():
        process.kill()
    process.join(timeout=10)
