"""Hostile-network benchmark (issue 15): what attacks of the security probe cost a running ``faultline serve``.

Three scenarios, each against a fresh server process on a free 127.0.0.1 port, while a probe thread calls
``/healthz`` every 50 ms and records how long each answer takes:

* ``uploads`` — tokens configured; 16 concurrent *unauthenticated* clients each send a whole 16 MiB body to
  ``POST /v1/insights``, ``--rounds`` times. Before issue 15 the body was read and parsed before the token check.
* ``listings`` — 13 insights with a stored 16 MiB inline case each (written into the SQLite file before start, marked
  done so nothing re-runs), then 10 parallel ``GET /v1/insights?limit=200``, ``--rounds`` times.
* ``inline`` — token-less; one big inline case (``--rows`` samples; the body cap raised to fit) posted and analysed.

Memory is the server process's peak RSS (``VmHWM``, reset through ``/proc/PID/clear_refs`` before the scenario) minus
its RSS before; for ``inline`` the worker processes' own peaks are not included (they are capped by
``FAULTLINE_INLINE_CASE_MEMORY_BYTES`` and end with the job). ``--repo`` runs another checkout's server (e.g. the
commit before issue 15, extracted with ``git archive``) so both can be compared on the same machine and minute.

Run from the repository root::

    python -m benchmarks.bench_hostile --scenario uploads --scenario listings --scenario inline --out /tmp/h.json
    git archive 7b91341 | tar -x -C /tmp/base && python -m benchmarks.bench_hostile --repo /tmp/base ...
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MiB = 1024 * 1024
TOKEN = "bench-hostile-writer-0123456789"


# -- the server ----------------------------------------------------------------------------------------------------

def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    def __init__(self, repo: Path, workdir: Path, **env: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        full = {**os.environ, "FAULTLINE_HOST": "127.0.0.1", "FAULTLINE_PORT": str(self.port),
                "FAULTLINE_DB_PATH": str(workdir / "bench.sqlite3"), "PYTHONUNBUFFERED": "1", **env}
        full.pop("PYTHONPATH", None)
        self.log = open(workdir / "server.log", "ab")
        self.process = subprocess.Popen([sys.executable, "-m", "api.cli", "serve"], cwd=repo, env=full,
                                        stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"server exited: {(workdir / 'server.log').read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        else:
            raise SystemExit("server did not start")
        time.sleep(3)  # let background start-up work (fork server warm-up, demo seeding) finish

    def stop(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)
        self.log.close()

    def rss(self) -> int:
        return _status(self.process.pid, "VmRSS")

    def reset_peak(self) -> int:
        Path(f"/proc/{self.process.pid}/clear_refs").write_text("5")
        return self.rss()

    def peak(self) -> int:
        return _status(self.process.pid, "VmHWM")

    def cpu_s(self) -> float:
        """CPU seconds the server process has used (user + system): what the attack cost the server itself, apart
        from what the attacking clients cost the machine they share with it."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _status(pid: int, field: str) -> int:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(rf"^{field}:\s+(\d+) kB", text, re.M).group(1)) * 1024  # type: ignore[union-attr]


PROBE = """
import sys, time, httpx
base, interval = sys.argv[1], float(sys.argv[2])
with httpx.Client(timeout=60) as client:
    while True:
        started = time.perf_counter()
        try:
            client.get(base + "/healthz").raise_for_status()
            print(round((time.perf_counter() - started) * 1000, 2), flush=True)
        except httpx.HTTPError:
            print("fail", flush=True)
        time.sleep(interval)
"""


class HealthProbe:
    """``GET /healthz`` every ``interval_s``, from its own process (the attacking threads of this one would otherwise
    hold its GIL and be measured instead of the server); latencies in ms."""

    def __init__(self, base: str, interval_s: float = 0.05) -> None:
        self.base = base
        self.interval_s = interval_s
        self.latencies: list[float] = []
        self.failures = 0
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> "HealthProbe":
        self._process = subprocess.Popen([sys.executable, "-c", PROBE, self.base, str(self.interval_s)],
                                         stdout=subprocess.PIPE, text=True)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._process is not None
        self._process.terminate()
        out, _ = self._process.communicate(timeout=30)
        for line in out.split():
            if line == "fail":
                self.failures += 1
            else:
                self.latencies.append(float(line))

    def summary(self) -> dict[str, Any]:
        values = np.array(self.latencies or [float("nan")])
        return {"healthz_n": len(self.latencies), "healthz_failures": self.failures,
                "healthz_p50_ms": round(float(np.percentile(values, 50)), 1),
                "healthz_p99_ms": round(float(np.percentile(values, 99)), 1),
                "healthz_max_ms": round(float(values.max()), 1)}


def idle_probe(base: str, seconds: float = 3.0) -> dict[str, Any]:
    """``/healthz`` on the same server with nothing else going on: the baseline the attack figures compare with."""
    with HealthProbe(base) as probe:
        time.sleep(seconds)
    return {f"idle_{key}": value for key, value in probe.summary().items() if key != "healthz_failures"}


# -- scenarios ------------------------------------------------------------------------------------------------------

ATTACK = """
import json, sys
from concurrent.futures import ThreadPoolExecutor
import httpx
base, clients, rounds, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
body = b'{"symptom": "' + b"x" * (size - 20) + b'"}'
statuses = {}
def upload(_):
    try:
        code = str(httpx.post(base + "/v1/insights", content=body, timeout=120,
                              headers={"Content-Type": "application/json"}).status_code)
    except (httpx.WriteError, httpx.RemoteProtocolError, httpx.ReadError):
        code = "closed while sending"  # answered (401) and closed before the body was all sent
    statuses[code] = statuses.get(code, 0) + 1
with ThreadPoolExecutor(clients) as pool:
    for _ in range(rounds):
        list(pool.map(upload, range(clients)))
print(json.dumps(statuses))
"""


def uploads(repo: Path, workdir: Path, rounds: int, clients: int = 16, size: int = 16 * MiB,
            nice: int = 0) -> dict[str, Any]:
    """The attackers run in their own process; ``nice`` > 0 lowers its priority, which stands in for attackers on
    other machines (on this 2-core box their own CPU use otherwise slows the probe as much as the server does)."""
    server = Server(repo, workdir, FAULTLINE_API_TOKENS=json.dumps([{"name": "w", "token": TOKEN,
                                                                      "scopes": ["read", "write"]}]))
    try:
        idle = idle_probe(server.base)
        before = server.reset_peak()
        cpu = server.cpu_s()
        started = time.perf_counter()
        with HealthProbe(server.base) as probe:
            attack = subprocess.run([sys.executable, "-c", ATTACK, server.base, str(clients), str(rounds), str(size)],
                                    capture_output=True, text=True, check=True,
                                    preexec_fn=(lambda: os.nice(nice)) if nice else None)
        elapsed = time.perf_counter() - started
        return {"scenario": "uploads", "clients": clients, "body_mib": size / MiB, "rounds": rounds,
                "attacker_nice": nice, "seconds": round(elapsed, 1), "statuses": json.loads(attack.stdout),
                "rss_before_mb": round(before / 1e6), "rss_peak_growth_mb": round((server.peak() - before) / 1e6, 1),
                "server_cpu_s": round(server.cpu_s() - cpu, 2), **probe.summary(), **idle}
    finally:
        server.stop()


def _seed_cases(repo: Path, db_path: Path, count: int, size: int) -> None:
    """Write ``count`` finished insights with a ``size``-byte inline case into a new store, with ``repo``'s code."""
    script = f"""
import json
from api.storage import Database, InsightRepository, InsightRequest
from topology.timeutil import parse_time
db = Database({str(db_path)!r}).open()
repo = InsightRepository(db)
case = json.dumps({{"topology": {{"entities": []}}, "metrics": [], "incident": {{}}, "pad": "x" * {size}}})
request = InsightRequest(symptom="user:deepseek-chat-users", at=parse_time("2026-11-20T11:00:00Z"))
for i in range({count}):
    record = repo.create(request, source="api", inline_case=case)
    repo.mark_running(record.id)
    repo.finish(record.id, {{"candidates": [{{"entity": "app:x", "score": 1.0, "chain": []}}]}})
db.close()
"""
    subprocess.run([sys.executable, "-c", script], cwd=repo, check=True,
                   env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})


def listings(repo: Path, workdir: Path, rounds: int, cases: int = 13, size: int = 16 * MiB) -> dict[str, Any]:
    _seed_cases(repo, workdir / "bench.sqlite3", cases, size)
    server = Server(repo, workdir)
    try:
        idle = idle_probe(server.base)
        before = server.reset_peak()
        cpu = server.cpu_s()
        started = time.perf_counter()
        with HealthProbe(server.base) as probe, ThreadPoolExecutor(10) as pool:
            for _ in range(rounds):
                pages = list(pool.map(lambda _: httpx.get(f"{server.base}/v1/insights", params={"limit": 200},
                                                          timeout=300), range(10)))
                assert all(p.status_code == 200 for p in pages)
        elapsed = time.perf_counter() - started
        return {"scenario": "listings", "stored_cases": cases, "case_mib": size / MiB, "parallel": 10,
                "rounds": rounds, "seconds": round(elapsed, 1), "rss_before_mb": round(before / 1e6),
                "rss_peak_growth_mb": round((server.peak() - before) / 1e6, 1),
                "server_cpu_s": round(server.cpu_s() - cpu, 2), **probe.summary(), **idle}
    finally:
        server.stop()


def inline(repo: Path, workdir: Path, rows: int) -> dict[str, Any]:
    steps = 5000  # under two days of 30 s samples: the detectors' seasonal (STL) fit is not what is measured here
    series = max(rows // steps, 2)
    samples = [{"timestamp": 1_700_000_000 + 30 * i, "entity": f"app:s{k}", "metric": "rps",
                "value": 5.0 + (3.0 if k == 0 and i > steps - 20 else 0.0) + (i % 7) * 0.01}
               for i in range(steps) for k in range(series)]
    case = {"topology": {"entities": [{"id": f"app:s{k}", "kind": "app"} for k in range(series)],
                         "relations": [{"src": "app:s0", "kind": "CALLS", "dst": f"app:s{k}"}
                                       for k in range(1, series)]},
            "metrics": samples, "incident": {"symptom": "app:s0", "at": 1_700_000_000 + 30 * (steps - 1),
                                             "lookback": "30d"}}
    body = json.dumps({"case": case}).encode()
    del samples, case
    server = Server(repo, workdir, FAULTLINE_MAX_BODY_BYTES=str(len(body) + MiB),
                    FAULTLINE_MAX_METRIC_ROWS=str(rows + 1000), FAULTLINE_INSIGHT_TIMEOUT_S="1800")
    try:
        idle = idle_probe(server.base)
        before = server.reset_peak()
        cpu = server.cpu_s()
        started = time.perf_counter()
        with HealthProbe(server.base) as probe:
            answer = httpx.post(f"{server.base}/v1/insights", content=body, timeout=1800,
                                headers={"Content-Type": "application/json"})
            accepted_s = time.perf_counter() - started
            status, error = str(answer.status_code), None
            if answer.status_code == 202:
                ident = answer.json()["id"]
                while True:
                    record = httpx.get(f"{server.base}/v1/insights/{ident}", timeout=60).json()
                    if record["status"] in ("done", "failed"):
                        status, error = record["status"], record["error"]
                        break
                    time.sleep(0.5)
            else:
                error = answer.json().get("detail")
        elapsed = time.perf_counter() - started
        return {"scenario": "inline", "rows": steps * series, "body_mb": round(len(body) / 1e6, 1),
                "answer_s": round(accepted_s, 1), "seconds": round(elapsed, 1), "outcome": status,
                "error": error, "rss_before_mb": round(before / 1e6),
                "rss_peak_growth_mb": round((server.peak() - before) / 1e6, 1),
                "server_cpu_s": round(server.cpu_s() - cpu, 2), **probe.summary(), **idle}
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", action="append", choices=["uploads", "listings", "inline"])
    parser.add_argument("--repo", type=Path, default=ROOT, help="checkout whose server to run (default: this one)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rows", type=int, default=1_000_000, help="samples in the inline case")
    parser.add_argument("--nice", type=int, default=0, help="niceness of the attacking process (uploads)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    results = []
    for scenario in args.scenario or ["uploads", "listings", "inline"]:
        with tempfile.TemporaryDirectory(prefix="bench-hostile-") as tmp:
            workdir = Path(tmp)
            if scenario == "uploads":
                result = uploads(args.repo, workdir, args.rounds, nice=args.nice)
            elif scenario == "listings":
                result = listings(args.repo, workdir, args.rounds)
            else:
                result = inline(args.repo, workdir, args.rows)
        result["repo"] = str(args.repo)
        result["load_average"] = os.getloadavg()[0]
        print(json.dumps(result), flush=True)
        results.append(result)
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
