"""``faultline serve`` as a real process on a free 127.0.0.1 port, for tests that go through the whole HTTP stack.

The server runs in its own process (uvicorn, the real CLI entry point) so tests can SIGKILL it mid-work and start it
again on the same SQLite file. Its stdout/stderr go to a file so tests can check what it logged (never a secret).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from .common import free_port, unavailable

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 60.0


@dataclass
class FaultlineServer:
    """One ``faultline serve`` process; ``restart()`` keeps the port, database and environment."""

    env: dict[str, str]
    log_path: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "FaultlineServer":
        env = {**os.environ, **self.env, "FAULTLINE_PORT": str(self.port), "FAULTLINE_HOST": "127.0.0.1",
               "PYTHONUNBUFFERED": "1"}
        env.setdefault("FAULTLINE_PUBLIC_URL", self.base_url)
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen([sys.executable, "-m", "api.cli", "-v", "serve"], cwd=ROOT, env=env,
                                        stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                unavailable(f"faultline serve exited with {self.process.returncode}: {self.log()[-2000:]}")
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.kill()
        unavailable(f"faultline serve did not answer /healthz within {START_TIMEOUT_S} s: {self.log()[-2000:]}")
        return self

    def stop(self) -> None:
        """Graceful stop (SIGTERM), as an orchestrator would do."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, exactly like a crash or an OOM kill."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def restart(self) -> "FaultlineServer":
        self.stop()
        return self.start()

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=30.0)

    def wait_insight(self, insight_id: str, *, token: str | None = None, timeout_s: float = 60.0) -> dict[str, Any]:
        with self.client(token) as client:
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                body = client.get(f"/v1/insights/{insight_id}").json()
                if body["status"] in ("done", "failed"):
                    return body
                time.sleep(0.1)
        raise AssertionError(f"insight {insight_id} not finished within {timeout_s} s")


@pytest.fixture(scope="session")
def demo_case_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled demo case, built once per test session."""
    from api.demo import build_demo_case

    return build_demo_case(tmp_path_factory.mktemp("demo")).case_dir


def _launcher(directory: Path, demo_case_dir: Path) -> tuple[Any, list[FaultlineServer]]:
    servers: list[FaultlineServer] = []

    def start(use_demo_case_dir: bool = True, **env: str) -> FaultlineServer:
        full = {"FAULTLINE_DB_PATH": str(directory / f"faultline-{len(servers)}.sqlite3")}
        if use_demo_case_dir:
            full["FAULTLINE_CASE_DIR"] = str(demo_case_dir)
        full.update(env)
        server = FaultlineServer(env=full, log_path=directory / f"server-{len(servers)}.log")
        servers.append(server)
        return server.start()

    return start, servers


@pytest.fixture
def start_faultline(tmp_path: Path, demo_case_dir: Path) -> Iterator[Any]:
    """Factory: ``start_faultline(**env)`` starts a server (demo case, fresh SQLite file unless given)."""
    start, servers = _launcher(tmp_path, demo_case_dir)
    yield start
    for server in servers:
        server.kill()


@pytest.fixture(scope="module")
def faultline(tmp_path_factory: pytest.TempPathFactory, demo_case_dir: Path) -> Iterator[FaultlineServer]:
    """One running server per test module, on the demo case, auth off (loopback demo mode)."""
    start, servers = _launcher(tmp_path_factory.mktemp("faultline"), demo_case_dir)
    yield start()
    for server in servers:
        server.kill()
