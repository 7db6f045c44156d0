"""Replica benchmark: webhooks/s of one ``faultline serve`` vs two replicas sharing one PostgreSQL, zero loss.

The same signed Alertmanager + PagerDuty burst as ``bench_load`` (most deliveries are re-deliveries of an incident
already seen), against N replicas on one real PostgreSQL (``tests/servers/postgresql.py`` starts it: Debian's server,
127.0.0.1, a fresh database per run). One ``wrk`` per replica with ``connections / N`` keep-alive connections, all
started together for ``--duration`` seconds, stands in for a Service spreading load; webhooks/s is the sum of
answers over the burst's wall time. Then the queue and the outbox must drain, and the same independent audit as
``bench_load`` reads the database and the schema-checking fake PagerDuty: one incident per alert group / PagerDuty
incident (de-duplicated *across* replicas), every insight done, one note per PagerDuty incident, every delivery 2xx.

Run from the repository root (wrk: ``apt-get install -y wrk``; PostgreSQL: ``.ci/services/postgresql.sh``)::

    python -m benchmarks.bench_replicas --duration 15 --connections 32 --out /tmp/replicas.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def tree_cpu_s(root_pid: int) -> float:
    """CPU seconds (user + system, reaped children included) of a process and all its descendants, from /proc: on a
    machine shared with other work, wall-clock webhooks/s depends on the neighbours, CPU per webhook does not."""
    ticks = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
        times[int(entry.name)] = sum(int(f) for f in fields[11:15]) / ticks
    tree, frontier = {root_pid}, [root_pid]
    while frontier:
        pid = frontier.pop()
        for child, parent in parents.items():
            if parent == pid and child not in tree:
                tree.add(child)
                frontier.append(child)
    return sum(times.get(pid, 0.0) for pid in tree)


def _pg_fetch(url: str) -> Any:
    import psycopg

    def fetch(sql: str) -> list[tuple[Any, ...]]:
        with psycopg.connect(url) as conn:
            return conn.execute(sql).fetchall()
    return fetch


def run_once(replicas: int, args: argparse.Namespace, pg: Any, workdir: Path, case_dir: Path, plan: Any) -> dict:
    from http.server import ThreadingHTTPServer

    from benchmarks.bench_load import audit, start_server, wait_drained, wrk_script
    from tests.servers.pagerduty import FakePagerDuty, _make_handler, _Validator

    url = pg.create_database()
    fake = FakePagerDuty(token="pd-bench-token")
    pd_server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(fake, _Validator()))
    pd_server.daemon_threads = True
    fake.base_url = f"http://127.0.0.1:{pd_server.server_address[1]}"
    threading.Thread(target=pd_server.serve_forever, daemon=True).start()
    servers = []
    try:
        for i in range(replicas):
            servers.append(start_server(workdir, case_dir, fake.base_url, fake.token, plan.service_map,
                                        args.concurrency, {"FAULTLINE_DB_URL": url, "FAULTLINE_REPLICA_ID": f"r{i}"},
                                        log_name=f"server-{replicas}-{i}.log"))
        script = workdir / "deliveries.lua"
        script.write_text(wrk_script(plan, args.max_requests // replicas, args.threads))
        per = max(args.connections // replicas, args.threads)
        commands = [["wrk", "-t", str(args.threads), "-c", str(per), "-d", f"{args.duration}s", "--timeout", "10s",
                     "-s", str(script), base] for _, base in servers]
        cpu_before = [tree_cpu_s(p.pid) for p, _ in servers] + [tree_cpu_s(pg.process.pid)]
        started = time.monotonic()
        runs = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for c in commands]
        outputs = [r.communicate(timeout=args.duration + 60) for r in runs]
        wall = time.monotonic() - started
        cpu_after = [tree_cpu_s(p.pid) for p, _ in servers] + [tree_cpu_s(pg.process.pid)]
        cpu = [round(b - a, 1) for a, b in zip(cpu_before, cpu_after)]
        loads = []
        for out, err in outputs:
            line = next((x for x in out.splitlines() if x.startswith("BENCH-JSON ")), None)
            if line is None:
                raise SystemExit(f"wrk gave no summary:\n{out}\n{err}")
            loads.append(json.loads(line[len("BENCH-JSON "):]))
        fetch = _pg_fetch(url)
        drain_s = wait_drained(fetch, len(plan.pd_incidents), fake, timeout_s=600)
        answered = sum(x["answered"] for x in loads)
        ok = sum(x["ok"] for x in loads)
        burst_s = max(x["duration_us"] for x in loads) / 1e6
        result = {
            "replicas": replicas, "connections_per_replica": per, "webhooks_answered": answered, "webhooks_2xx": ok,
            "webhooks_per_s": round(answered / burst_s, 1),
            "per_replica_per_s": [round(x["answered"] / (x["duration_us"] / 1e6), 1) for x in loads],
            "latency_ms_p50": [round(x["latency_us"]["p50"] / 1000, 1) for x in loads],
            "latency_ms_p99": [round(x["latency_us"]["p99"] / 1000, 1) for x in loads],
            "errors": [x["errors"] for x in loads], "wall_s": round(wall, 1),
            "burst_cpu_s": {"replicas": cpu[:-1], "postgresql": cpu[-1]},
            "webhooks_per_replica_cpu_s": round(answered / max(sum(cpu[:-1]), 1e-9), 1), "drain_after_burst_s": round(drain_s, 1),
            **audit(fetch, plan, fake),
        }
        if ok != answered or any(v for x in loads for v in x["errors"].values()):
            result["problems"].append("not every delivery was answered 2xx")
        return result
    finally:
        for process, _ in servers:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        pd_server.shutdown()
        pg.drop_database(url)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--connections", type=int, default=32, help="total, split across the replicas")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads per wrk process")
    parser.add_argument("--max-requests", type=int, default=50_000)
    parser.add_argument("--alert-groups", type=int, default=20)
    parser.add_argument("--pd-incidents", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=1, help="FAULTLINE_MAX_CONCURRENT_INSIGHTS per replica")
    parser.add_argument("--replicas", default="1,2", help="comma-separated replica counts to run, in order")
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk not found: apt-get install -y wrk", file=sys.stderr)
        return 2
    sys.path.insert(0, str(ROOT))
    from api.demo import build_demo_case
    from benchmarks.bench_load import build_plan, platform_summary
    from tests.servers.postgresql import start_postgres

    workdir = Path(tempfile.mkdtemp(prefix="faultline-replicas-"))
    case_dir = build_demo_case(workdir / "demo").case_dir
    incident = json.loads((case_dir / "incident.json").read_text())
    at = datetime.fromisoformat(incident["at"].replace("Z", "+00:00")).astimezone(timezone.utc)
    plan = build_plan([incident["symptom"]], at, groups=args.alert_groups, pd_incidents=args.pd_incidents,
                      seed=args.seed)
    load_before = [round(x, 1) for x in os.getloadavg()]
    pg = start_postgres()
    try:
        runs = [run_once(int(n), args, pg, workdir, case_dir, plan) for n in args.replicas.split(",")]
    finally:
        pg.stop()
        shutil.rmtree(pg.root, ignore_errors=True)
    load1 = os.getloadavg()  # 1, 5, 15 min: what else the machine was doing
    result = {
        "command": " ".join(["python -m benchmarks.bench_replicas", *(argv if argv is not None else sys.argv[1:])]),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} cores, {platform_summary()}", "load_average_before": load_before,
        "load_average_after": [round(x, 1) for x in load1],
        "distinct_deliveries": len(plan.deliveries), "runs": runs,
    }
    if len(runs) >= 2 and runs[0]["webhooks_per_s"]:
        result["speedup"] = round(runs[-1]["webhooks_per_s"] / runs[0]["webhooks_per_s"], 2)
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text)
    shutil.rmtree(workdir, ignore_errors=True)
    return 1 if any(r["problems"] for r in runs) else 0


if __name__ == "__main__":
    raise SystemExit(main())
