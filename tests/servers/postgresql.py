"""A real PostgreSQL for the insight-store tests: Debian's server binaries (``.ci/services/postgresql.sh``).

One server per test session: ``initdb`` into a fresh directory under /tmp, then ``postgres`` listening on 127.0.0.1 on
a free port (no Unix socket outside that directory), password authentication for the ``faultline`` role. PostgreSQL
refuses to run as root, so when the tests run as root (CI does) both commands run as the ``postgres`` system user and
the directory is handed to it. ``postgres_url`` gives each test its own empty database, dropped afterwards.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .common import free_port, unavailable

USER = "faultline"
START_TIMEOUT_S = 60.0


@dataclass
class PostgresServer:
    port: int
    password: str
    root: Path
    process: subprocess.Popen[bytes] | None = None
    databases: list[str] = field(default_factory=list)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}:{self.password}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        import psycopg

        name = "t_" + secrets.token_hex(5)
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.databases.append(name)
        return self.url(name)

    def drop_database(self, url: str) -> None:
        import psycopg

        name = url.rsplit("/", 1)[1]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def log(self) -> str:
        path = self.root / "postgres.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # SIGTERM: smart shutdown
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None


def _bin_dir() -> Path | None:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name)
                        if p.parent.name.isdigit() else 0)
    for directory in reversed(candidates):
        if (directory / "initdb").exists() and (directory / "postgres").exists():
            return directory
    return None


def _as_owner(command: list[str]) -> list[str]:
    """Run as the postgres system user when we are root (initdb and postgres refuse root)."""
    if os.geteuid() != 0:
        return command
    runuser = shutil.which("runuser")
    if runuser is None:
        raise PostgresUnavailable("running as root and runuser is missing: cannot start PostgreSQL as non-root")
    return [runuser, "-u", "postgres", "--", *command]


class PostgresUnavailable(RuntimeError):
    """PostgreSQL could not be started here (binaries, user, initdb or start-up failed)."""


def start_postgres() -> PostgresServer:
    """initdb + postgres on a free 127.0.0.1 port (also used by ``benchmarks/bench_replicas.py``)."""
    bin_dir = _bin_dir()
    if bin_dir is None:
        raise PostgresUnavailable("PostgreSQL server binaries not installed (run .ci/services/postgresql.sh)")
    try:
        import psycopg
    except ImportError as exc:
        raise PostgresUnavailable("psycopg is not installed (pip install -e '.[test]')") from exc
    root = Path(tempfile.mkdtemp(prefix="faultline-pg-"))
    server = PostgresServer(port=free_port(), password=secrets.token_hex(12), root=root)
    (root / "pwfile").write_text(server.password + "\n", encoding="utf-8")
    owner = None
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError as exc:
            raise PostgresUnavailable("running as root and there is no 'postgres' user "
                                      "(run .ci/services/postgresql.sh)") from exc
        for path in (root, root / "pwfile"):
            os.chown(path, owner.pw_uid, owner.pw_gid)
    os.chmod(root, 0o700)
    data = root / "data"
    done = subprocess.run(_as_owner([str(bin_dir / "initdb"), "-D", str(data), "-U", USER, "--pwfile",
                                     str(root / "pwfile"), "--auth-host=scram-sha-256", "--auth-local=scram-sha-256",
                                     "-E", "UTF8", "--locale=C.UTF-8", "--no-instructions"]),
                          capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        raise PostgresUnavailable(f"initdb failed: {done.stdout[-1500:]} {done.stderr[-1500:]}")
    command = _as_owner([str(bin_dir / "postgres"), "-D", str(data), "-p", str(server.port),
                         "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={root}",
                         "-c", "max_connections=200", "-c", "logging_collector=off"])
    with (root / "postgres.log").open("wb") as log:
        if owner is not None:
            os.chown(root / "postgres.log", owner.pw_uid, -1)
        server.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        problem = None
        if server.process.poll() is not None:
            problem = f"postgres exited with {server.process.returncode}: {server.log()[-2000:]}"
        else:
            try:
                with psycopg.connect(server.url(), connect_timeout=2):
                    return server
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    problem = f"postgres did not accept connections within {START_TIMEOUT_S} s: {server.log()[-2000:]}"
        if problem is not None:
            server.stop()
            shutil.rmtree(root, ignore_errors=True)
            raise PostgresUnavailable(problem)
        time.sleep(0.2)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    try:
        server = start_postgres()
    except PostgresUnavailable as exc:
        unavailable(str(exc))
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.root, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty database on the session's server (``postgresql://faultline:…@127.0.0.1:port/t_…``)."""
    url = postgres_server.create_database()
    yield url
    postgres_server.drop_database(url)
