"""Worker processes for big inline cases (``api/services/isolation.py``): results and progress come back, errors come
back as the API's own exceptions, and a worker over its memory budget or its deadline is stopped — the caller gets
a 413-class error at once instead of the server growing or waiting."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest

from api.exceptions import ApiError, BodyInvalid, OverMemoryBudget, OverTimeBudget, RequestProblem
from api.services.isolation import Usage, run_isolated
from topology.exceptions import CaseFormatError

MiB = 1024 * 1024


def echo_job(payload: bytes, factor: int, *, progress: Any) -> dict[str, Any]:
    progress("halfway")
    return {"size": len(payload) * factor, "pid": os.getpid()}


def hungry_job(payload: bytes, *, progress: Any) -> int:
    hoard = []
    for _ in range(200):  # up to 2 GB, 10 MB at a time, touched so it is resident
        hoard.append(bytearray(10 * MiB))
        time.sleep(0.005)
    return len(hoard)


def slow_job(payload: bytes, *, progress: Any) -> None:
    time.sleep(30)


def failing_job(payload: bytes, kind: str, *, progress: Any) -> None:
    if kind == "case":
        raise CaseFormatError("topology", "unknown relation kind 'EATS'", where="relations[0]")
    if kind == "invalid":
        raise BodyInvalid(["case.metrics: Input should be a valid list"])
    if kind == "exit":
        os._exit(3)
    raise KeyError("a bug")


def test_result_and_progress_come_back() -> None:
    stages: list[str] = []
    usage: list[Usage] = []
    result = run_isolated(echo_job, b"x" * (3 * MiB), 2, memory_bytes=2048 * MiB, timeout_s=60, what="echo",
                          on_progress=stages.append, usage=usage)
    assert result["size"] == 6 * MiB and result["pid"] != os.getpid()
    assert stages == ["halfway"]
    assert usage and usage[0].peak_rss_bytes > 0


def test_a_worker_over_its_memory_budget_is_stopped() -> None:
    usage: list[Usage] = []
    started = time.monotonic()
    with pytest.raises(OverMemoryBudget, match="more than 600 MiB of memory to hoard"):
        run_isolated(hungry_job, b"", memory_bytes=600 * MiB, timeout_s=120, what="hoard", usage=usage)
    assert time.monotonic() - started < 60
    # stopped near the budget, not at the 2 GB the job wanted (polling leaves a little overshoot)
    assert 600 * MiB < usage[0].peak_rss_bytes < 900 * MiB


def test_a_worker_past_its_deadline_is_stopped() -> None:
    started = time.monotonic()
    with pytest.raises(OverTimeBudget, match="within 1 s"):
        run_isolated(slow_job, b"", memory_bytes=2048 * MiB, timeout_s=1.0, what="nap")
    assert time.monotonic() - started < 15


@pytest.mark.parametrize("kind, error, text", [
    ("case", RequestProblem, "topology:relations[0]: unknown relation kind 'EATS'"),
    ("invalid", BodyInvalid, "case.metrics: Input should be a valid list"),
    ("bug", ApiError, "internal error (KeyError)"),
    ("exit", ApiError, "ended unexpectedly (exit code 3)"),
])
def test_errors_come_back_as_api_errors(kind: str, error: type[Exception], text: str) -> None:
    with pytest.raises(error) as caught:
        run_isolated(failing_job, b"{}", kind, memory_bytes=2048 * MiB, timeout_s=60, what="fail")
    assert text in str(caught.value)
    if kind == "invalid":
        assert caught.value.problems == ["case.metrics: Input should be a valid list"]
