"""Helpers shared by the server fixtures: free ports, waiting for a port, skip-or-fail."""

from __future__ import annotations

import os
import socket
import time

import pytest


def servers_required() -> bool:
    """CI sets FAULTLINE_REQUIRE_SERVERS=1: a missing server is then a failure, not a skip."""
    return os.environ.get("FAULTLINE_REQUIRE_SERVERS", "") == "1"


def unavailable(reason: str) -> None:
    """Skip locally, fail in CI, when a real server a test needs cannot be started."""
    if servers_required():
        pytest.fail(f"required server unavailable: {reason}")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout_s: float, host: str = "127.0.0.1") -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.2)
    return False
