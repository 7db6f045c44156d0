"""A real Neo4j 5.26 community engine for the tests (built by ``.ci/services/neo4j.sh`` from ``.ci/neo4j``).

``Neo4jServer`` runs the Java launcher on a free 127.0.0.1 port with its own home directory and Bolt only; auth is
off (loopback, one test session), so any user/password the driver sends is accepted. ``stop()`` / ``start()`` reuse
the same port and home, so a fault test can take the store away mid-run and bring it back with its data.

Fixtures:

* ``neo4j_server`` (session): one engine for the whole run (starting it costs 10-30 s here), stopped at the end.
* ``neo4j_empty`` (function): the same engine, running, with every node and relationship deleted first; the test
  may stop it and the next test gets it back.

The benchmarks import ``Neo4jServer`` directly, with a bigger heap and page cache.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.servers.common import free_port, unavailable, wait_for_port

LAUNCHER_DIR = Path(__file__).resolve().parents[2] / ".ci" / "neo4j" / "target"
READY_MARK = "FAULTLINE-NEO4J READY"


class Neo4jStartError(RuntimeError):
    """The launcher exited or never printed its ready line; the message carries the log tail."""


def launcher_missing() -> str | None:
    """Why the launcher cannot run here, or None when it can."""
    if shutil.which("java") is None:
        return "java not found (Neo4j 5.26 needs Java 17; run .ci/services/neo4j.sh)"
    if not (LAUNCHER_DIR / "classes" / "faultline" / "Neo4jLauncher.class").exists():
        return f"Neo4j launcher not built in {LAUNCHER_DIR} (run .ci/services/neo4j.sh)"
    if not any(LAUNCHER_DIR.glob("lib/neo4j-*.jar")):
        return f"Neo4j jars missing in {LAUNCHER_DIR / 'lib'} (run .ci/services/neo4j.sh)"
    return None


@dataclass
class Neo4jServer:
    """One Neo4j engine process; ``start()`` and ``stop()`` may be called any number of times."""

    home: Path
    port: int = field(default_factory=free_port)
    heap: str = "1g"
    pagecache: str = "256m"
    user: str = "neo4j"
    password: str = "faultline-test"  # ignored by the server (auth off), sent by the driver all the same
    database: str = "neo4j"
    quick_jvm: bool = False  # C1-only JIT + serial GC: starts ~2x faster on 2 busy cores, runs queries slower
    process: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"bolt://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.home / "launcher.log"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout_s: float = 180.0) -> None:
        """Start the engine and block until Bolt accepts connections; ``Neo4jStartError`` otherwise."""
        if self.running:
            return
        self.home.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        log.write(f"--- start on port {self.port}\n".encode())
        log.flush()
        command = [
            "java",
            f"-Xmx{self.heap}",
            *(["-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"] if self.quick_jvm else ["-XX:+UseG1GC"]),
            "-XX:+ExitOnOutOfMemoryError",
            "-cp",
            f"{LAUNCHER_DIR / 'classes'}{os.pathsep}{LAUNCHER_DIR / 'lib' / '*'}",
            "faultline.Neo4jLauncher",
            str(self.port),
            str(self.home / "dbms"),
            self.pagecache,
        ]
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise Neo4jStartError(f"Neo4j launcher exited with {self.process.returncode}: {self._log_tail()}")
            if READY_MARK in self._log_since_last_start():
                if wait_for_port(self.port, timeout_s=10):
                    return
            time.sleep(0.2)
        self.kill()
        raise Neo4jStartError(f"Neo4j not ready on {self.uri} after {timeout_s:.0f} s: {self._log_tail()}")

    def stop(self, timeout_s: float = 60.0) -> None:
        """Clean shutdown (SIGTERM: the launcher checkpoints and releases the store lock)."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None

    def kill(self) -> None:
        """Crash it (SIGKILL): what a node that vanishes looks like to the driver."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def _log_since_last_start(self) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return text.rsplit("--- start on port", 1)[-1]

    def _log_tail(self, chars: int = 3000) -> str:
        return self._log_since_last_start()[-chars:]


def wipe(server: Neo4jServer) -> None:
    """Delete every node and relationship (schema stays: stores create theirs with IF NOT EXISTS)."""
    import neo4j

    with neo4j.GraphDatabase.driver(server.uri, auth=(server.user, server.password)) as driver:
        driver.execute_query("MATCH (n) DETACH DELETE n", database_=server.database)


@pytest.fixture(scope="session")
def neo4j_server() -> Iterator[Neo4jServer]:
    """One real Neo4j engine for the session (see module docstring)."""
    reason = launcher_missing()
    if reason:
        unavailable(reason)
    home = Path(tempfile.mkdtemp(prefix="faultline-neo4j-"))
    server = Neo4jServer(home=home, quick_jvm=True)
    try:
        server.start()
    except Neo4jStartError as exc:
        unavailable(str(exc))
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def neo4j_empty(neo4j_server: Neo4jServer) -> Neo4jServer:
    """The session engine, running (restarted if a fault test stopped it) and empty."""
    try:
        neo4j_server.start()
    except Neo4jStartError as exc:
        unavailable(str(exc))
    wipe(neo4j_server)
    return neo4j_server
