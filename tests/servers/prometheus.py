"""Real Prometheus servers for the tests (Debian package ``prometheus``, installed by ``.ci/services/prometheus.sh``).

``prometheus_factory(targets=..., backfill=...)`` starts one ``prometheus`` process on a free 127.0.0.1 port with a
temporary config and data directory, scraping the given targets every second, and returns a ``PrometheusServer``.
``backfill`` is OpenMetrics text (see ``tests.servers.exporter.openmetrics_history``) turned into TSDB blocks by
``promtool tsdb create-blocks-from openmetrics`` before the server starts: hours of realistic history in a second,
while live scraping covers "the values change now" tests. Every server started is stopped at teardown.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers.common import free_port, unavailable
from tests.servers.exporter import MetricsExporter

StartPrometheus = Callable[..., "PrometheusServer"]


@dataclass
class PrometheusServer:
    url: str
    process: subprocess.Popen[bytes]
    data_dir: Path
    log_path: Path

    def query(self, promql: str) -> list[dict]:
        """Instant query result (``data.result``); for tests that wait on ingestion."""
        with urllib.request.urlopen(f"{self.url}/api/v1/query?query={urllib.request.quote(promql)}", timeout=5) as r:
            return json.loads(r.read())["data"]["result"]

    def wait_for(self, promql: str, *, timeout_s: float = 20.0, min_series: int = 1) -> list[dict]:
        """Poll until ``promql`` returns at least ``min_series`` series (scrapes are asynchronous)."""
        deadline = time.monotonic() + timeout_s
        result: list[dict] = []
        while time.monotonic() < deadline:
            result = self.query(promql)
            if len(result) >= min_series:
                return result
            time.sleep(0.25)
        raise AssertionError(f"prometheus never returned {min_series} series for {promql!r}: {result!r}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def _binaries() -> tuple[str, str]:
    prometheus = shutil.which("prometheus")
    promtool = shutil.which("promtool")
    if not prometheus or not promtool:
        unavailable("prometheus/promtool not installed (run .ci/services/prometheus.sh)")
    assert prometheus and promtool
    return prometheus, promtool


def _config(targets: Mapping[str, Mapping[str, str]], scrape_interval: str) -> str:
    """Config in JSON (YAML is a superset): one static target group per target, with its target labels."""
    groups = [{"targets": [address], "labels": dict(labels)} for address, labels in targets.items()]
    config = {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval},
        "scrape_configs": [{"job_name": "exporter", "scrape_interval": scrape_interval, "static_configs": groups}]
        if groups
        else [],
    }
    return json.dumps(config, indent=2)


def _wait_ready(server: PrometheusServer, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"{server.url}/-/ready", timeout=1) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    return False


@pytest.fixture
def prometheus_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StartPrometheus]:
    """Start real Prometheus servers; ``targets`` maps ``host:port`` to extra target labels (e.g. a ``pod``)."""
    started: list[PrometheusServer] = []

    def start(
        targets: Mapping[str, Mapping[str, str]] | None = None,
        *,
        backfill: str | None = None,
        scrape_interval: str = "1s",
    ) -> PrometheusServer:
        prometheus, promtool = _binaries()
        root = tmp_path_factory.mktemp("prometheus")
        data_dir = root / "data"
        data_dir.mkdir()
        if backfill is not None:
            source = root / "backfill.om"
            source.write_text(backfill, encoding="utf-8")
            done = subprocess.run(
                [promtool, "tsdb", "create-blocks-from", "openmetrics", str(source), str(data_dir)],
                capture_output=True,
                text=True,
                timeout=120,
            )
            if done.returncode != 0:
                raise AssertionError(f"promtool backfill failed: {done.stderr.strip() or done.stdout.strip()}")
        config = root / "prometheus.yml"
        config.write_text(_config(targets or {}, scrape_interval), encoding="utf-8")
        port = free_port()
        log_path = root / "prometheus.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [
                    prometheus,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={data_dir}",
                    "--storage.tsdb.retention.time=3650d",  # keep backfilled history whatever its age
                    f"--web.listen-address=127.0.0.1:{port}",
                    "--web.enable-lifecycle",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        server = PrometheusServer(url=f"http://127.0.0.1:{port}", process=process, data_dir=data_dir, log_path=log_path)
        started.append(server)
        if not _wait_ready(server, timeout_s=30):
            tail = log_path.read_text(errors="replace")[-2000:]
            server.stop()
            unavailable(f"prometheus did not become ready on port {port}: {tail}")
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def metrics_exporter() -> Iterator[MetricsExporter]:
    """A started ``MetricsExporter`` on 127.0.0.1; stopped at teardown."""
    exporter = MetricsExporter()
    exporter.start()
    yield exporter
    exporter.stop()
