"""Load benchmark: bursts of Alertmanager and PagerDuty webhooks against a running ``faultline serve``.

What it shows (issue 8): under hundreds of webhooks a second — most of them repeats for the same incident — every
delivery is answered 2xx quickly, repeats are de-duplicated (one incident and one insight per alert group / PagerDuty
incident), insights run with bounded concurrency, the PagerDuty notes all go out through the outbox, and nothing
accepted is lost.

How: ``faultline serve`` runs as its own process on a free 127.0.0.1 port (auth on, a write token, a PagerDuty
signing secret, notes posted to the schema-checking fake PagerDuty REST API of ``tests/servers/pagerduty.py``).
``wrk`` (Debian package ``wrk``) is the load generator, a second process: a generated Lua script cycles through a
fixed list of signed deliveries on ``--connections`` keep-alive connections for ``--duration`` seconds, stopping
early at ``--max-requests``. Every delivery after the first of its kind is a re-notification or a re-delivery, which
is exactly what Alertmanager and PagerDuty do under trouble. Bounded: 127.0.0.1 only, time and count capped.

Afterwards the script waits for the queue and the outbox to drain, then checks the server's SQLite file and the
fake PagerDuty independently of the API: one incident and one insight per distinct alert group / PagerDuty incident,
every PagerDuty event id recorded once, every insight ``done``, one note per PagerDuty incident. Insight latency is
``finished_at - created_at`` (queueing included) of the insights started during the burst.

Run from the repository root::

    apt-get install -y wrk        # once
    python -m benchmarks.bench_load --duration 10 --connections 32 --out /tmp/load.json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
WRITE_TOKEN = "bench-writer-token-0123456789abcdef"
SECRET = "bench-webhook-secret-0123456789"


@dataclass(frozen=True)
class Delivery:
    """One HTTP request the load generator sends; ``key`` says what it is a repeat of."""

    source: str
    key: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Plan:
    deliveries: list[Delivery]
    alert_groups: list[str]
    pd_incidents: list[str]
    pd_events: list[str]
    service_map: dict[str, str] = field(default_factory=dict)


def _sign(body: bytes) -> str:
    import hashlib
    import hmac

    return "v1=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


def build_plan(symptoms: list[str], at: datetime, *, groups: int, pd_incidents: int, seed: int) -> Plan:
    """Distinct incidents and their deliveries: per Alertmanager group a first notification and re-notifications with
    a growing alert list; per PagerDuty incident an ``incident.triggered`` plus ``incident.acknowledged`` /
    ``incident.annotated`` events (all with their own ids). The generator cycles through them, so every delivery after
    the first round is a re-delivery of an event id faultline has already seen."""
    rng = random.Random(seed)
    deliveries: list[Delivery] = []
    group_keys, incident_ids, event_ids = [], [], []
    service_map: dict[str, str] = {}
    for g in range(groups):
        key = f'{{}}:{{alertname="ChatLatencyHigh", group="bench-{g}"}}'
        group_keys.append(key)
        symptom = symptoms[g % len(symptoms)]
        for round_ in range(3):
            alerts = [{
                "status": "firing", "labels": {"alertname": "ChatLatencyHigh", "faultline_entity": symptom,
                                               "instance": f"replica-{i}"},
                "annotations": {"summary": f"p95 latency above 4 s on {symptom}"},
                "startsAt": (at - timedelta(minutes=2)).isoformat().replace("+00:00", "Z"),
                "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prometheus.invalid/graph",
                "fingerprint": f"{g:04x}{i:04x}",
            } for i in range(round_ + 1)]
            body = json.dumps({
                "version": "4", "groupKey": key, "truncatedAlerts": 0, "status": "firing", "receiver": "faultline",
                "groupLabels": {"alertname": "ChatLatencyHigh", "group": f"bench-{g}"},
                "commonLabels": {"alertname": "ChatLatencyHigh", "faultline_entity": symptom},
                "commonAnnotations": {"summary": f"p95 latency above 4 s on {symptom}"},
                "externalURL": "http://alertmanager.invalid", "alerts": alerts,
            }).encode()
            deliveries.append(Delivery("alertmanager", key, "/v1/alerts/alertmanager",
                                       {"Authorization": f"Bearer {WRITE_TOKEN}", "Content-Type": "application/json"},
                                       body))
    for p in range(pd_incidents):
        incident_id = f"Q{p:04d}BENCH"
        service_id = f"PBENCH{p % 5}"
        service_map[service_id] = symptoms[p % len(symptoms)]
        incident_ids.append(incident_id)
        for kind in ("incident.triggered", "incident.acknowledged", "incident.annotated"):
            event_id = f"01BENCH{p:04d}{kind.split('.')[1][:4].upper()}"
            event_ids.append(event_id)
            body = json.dumps({"event": {
                "id": event_id, "event_type": kind, "resource_type": "incident",
                "occurred_at": at.isoformat().replace("+00:00", "Z"),
                "agent": None, "client": {"name": "Monitoring"},
                "data": {
                    "id": incident_id, "type": "incident", "self": f"https://api.pagerduty.com/incidents/{incident_id}",
                    "html_url": f"https://acme.pagerduty.com/incidents/{incident_id}", "number": 1000 + p,
                    "status": "triggered" if kind == "incident.triggered" else "acknowledged",
                    "incident_key": f"bench-{p}", "created_at": at.isoformat().replace("+00:00", "Z"),
                    "title": f"Chat answers slow ({p})",
                    "service": {"id": service_id, "type": "service_reference", "summary": "Chat API",
                                "html_url": f"https://acme.pagerduty.com/services/{service_id}",
                                "self": f"https://api.pagerduty.com/services/{service_id}"},
                    "assignees": [], "teams": [], "priority": None, "urgency": "high", "conference_bridge": None,
                    "resolve_reason": None,
                },
            }}).encode()
            deliveries.append(Delivery("pagerduty", incident_id, "/v1/webhooks/pagerduty",
                                       {"X-PagerDuty-Signature": _sign(body), "Content-Type": "application/json",
                                        "User-Agent": "PagerDuty-Webhook/V3.0"}, body))
    rng.shuffle(deliveries)
    return Plan(deliveries, group_keys, incident_ids, event_ids, service_map)


def _lua_string(text: str) -> str:
    level = 0
    while f"]{'=' * level}]" in text:
        level += 1
    return f"[{'=' * level}[{text}]{'=' * level}]"


def wrk_script(plan: Plan, max_requests: int, threads: int) -> str:
    """Lua for wrk: each thread cycles through its share of the deliveries, counts answers by status, stops at its
    share of ``max_requests``. ``done`` prints one JSON line that the Python side parses."""
    entries = []
    for d in plan.deliveries:
        headers = ", ".join(f"[ {_lua_string(k)} ] = {_lua_string(v)}" for k, v in d.headers.items())
        entries.append(f"  {{path = {_lua_string(d.path)}, headers = {{{headers}}}, body = {_lua_string(d.body.decode())}}},")
    return "\n".join([
        "local deliveries = {", *entries, "}",
        "local threads = {}",
        "local counter = 0",
        "function setup(thread)",
        "  thread:set('id', counter)",
        "  counter = counter + 1",
        "  table.insert(threads, thread)",
        "end",
        "function init(args)",
        f"  nthreads = {threads}  -- each thread has its own Lua state: setup()'s counter is not visible here",
        "  mine = {}",
        "  for i, d in ipairs(deliveries) do",
        "    if (i - 1) % nthreads == id then",
        "      table.insert(mine, wrk.format('POST', d.path, d.headers, d.body))",
        "    end",
        "  end",
        f"  cap = math.ceil({max_requests} / nthreads)",
        "  sent = 0; answered = 0; ok = 0; statuses = {}",
        "end",
        "function request()",
        "  sent = sent + 1",
        "  return mine[((sent - 1) % #mine) + 1]",
        "end",
        "function response(status, headers, body)",
        "  answered = answered + 1",
        "  if status >= 200 and status < 300 then ok = ok + 1 end",
        "  statuses[status] = (statuses[status] or 0) + 1",
        "  if answered >= cap then wrk.thread:stop() end",
        "end",
        "function done(summary, latency, requests)",
        "  local answered_all, ok_all, codes = 0, 0, {}",
        "  for _, t in ipairs(threads) do",
        "    answered_all = answered_all + t:get('answered')",
        "    ok_all = ok_all + t:get('ok')",
        "    for code, n in pairs(t:get('statuses')) do codes[tostring(code)] = (codes[tostring(code)] or 0) + n end",
        "  end",
        "  local parts = {}",
        "  for code, n in pairs(codes) do table.insert(parts, string.format('\"%s\": %d', code, n)) end",
        "  io.write(string.format('BENCH-JSON {\"answered\": %d, \"ok\": %d, \"statuses\": {%s}, '",
        "    .. '\"duration_us\": %d, \"requests\": %d, \"errors\": {\"connect\": %d, \"read\": %d, \"write\": %d, '",
        "    .. '\"status\": %d, \"timeout\": %d}, \"latency_us\": {\"p50\": %d, \"p90\": %d, \"p99\": %d, \"max\": %d, '",
        "    .. '\"mean\": %.1f}}\\n', answered_all, ok_all, table.concat(parts, ', '), summary.duration, "
        "summary.requests, summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.status, "
        "summary.errors.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, "
        "latency.mean))",
        "end",
    ]) + "\n"


# -- the server under test --------------------------------------------------------------------------------------

def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(workdir: Path, case_dir: Path, pd_url: str, pd_token: str, service_map: dict[str, str],
                 concurrency: int, extra_env: dict[str, str] | None = None,
                 log_name: str = "server.log") -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {
        **os.environ, "FAULTLINE_HOST": "127.0.0.1", "FAULTLINE_PORT": str(port),
        "FAULTLINE_DB_PATH": str(workdir / "faultline.sqlite3"), "FAULTLINE_CASE_DIR": str(case_dir),
        "FAULTLINE_API_TOKENS": json.dumps([{"name": "bench", "token": WRITE_TOKEN, "scopes": ["read", "write"]}]),
        "FAULTLINE_PAGERDUTY_WEBHOOK_SECRET": SECRET, "FAULTLINE_PAGERDUTY_API_TOKEN": pd_token,
        "FAULTLINE_PAGERDUTY_FROM": "oncall@example.com", "FAULTLINE_PAGERDUTY_API_URL": pd_url,
        "FAULTLINE_PAGERDUTY_SERVICE_MAP": json.dumps(service_map), "FAULTLINE_OUTBOX_POLL_S": "0.2",
        "FAULTLINE_MAX_CONCURRENT_INSIGHTS": str(concurrency), "PYTHONUNBUFFERED": "1", **(extra_env or {}),
    }
    log = open(workdir / log_name, "ab")
    process = subprocess.Popen([sys.executable, "-m", "api.cli", "serve"], cwd=ROOT, env=env, stdout=log,
                               stderr=subprocess.STDOUT)
    log.close()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"faultline serve exited: {(workdir / log_name).read_text()[-2000:]}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return process, base
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise SystemExit("faultline serve did not come up within 60 s")


class GaugeSampler(threading.Thread):
    """Reads ``faultline_insights_in_progress`` from /metrics every 100 ms: the concurrency bound, observed."""

    def __init__(self, base: str) -> None:
        super().__init__(daemon=True)
        self.base = base
        self.peak = 0.0
        self.samples = 0
        self.stop_event = threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=self.base, headers={"Authorization": f"Bearer {WRITE_TOKEN}"}, timeout=5) as client:
            while not self.stop_event.is_set():
                try:
                    text = client.get("/metrics").text
                    match = re.search(r"^faultline_insights_in_progress\s+([0-9.e+]+)$", text, re.M)
                    if match:
                        self.peak = max(self.peak, float(match.group(1)))
                        self.samples += 1
                except httpx.HTTPError:
                    pass
                self.stop_event.wait(0.1)


Fetch = Any
"""``fetch(sql) -> list of row tuples``: how the audit reads the store (SQLite file or PostgreSQL)."""


def sqlite_fetch(db_path: Path) -> Fetch:
    def fetch(sql: str) -> list[tuple[Any, ...]]:
        with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5) as db:
            return db.execute(sql).fetchall()
    return fetch


def wait_drained(db: Path | Fetch, expected_notes: int, fake: Any, timeout_s: float) -> float:
    fetch = sqlite_fetch(db) if isinstance(db, Path) else db
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        busy = fetch("SELECT count(*) FROM insights WHERE status IN ('queued', 'running')")[0][0]
        pending = fetch("SELECT count(*) FROM outbox WHERE status != 'sent'")[0][0]
        if busy == 0 and pending == 0 and sum(len(n) for n in fake.notes.values()) >= expected_notes:
            return time.monotonic() - started
        time.sleep(0.5)
    raise SystemExit(f"queue/outbox not drained within {timeout_s} s")


def _seconds(text: str | None) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() if text else float("nan")


def audit(db: Path | Fetch, plan: Plan, fake: Any) -> dict[str, Any]:
    """Independent of the API: what the server's store and the fake PagerDuty hold after the run."""
    fetch = sqlite_fetch(db) if isinstance(db, Path) else db
    incidents = fetch("SELECT source, external_key, latest_insight FROM incidents")
    insights = fetch("SELECT id, status, created_at, started_at, finished_at FROM insights")
    events = {r[0] for r in fetch("SELECT event_id FROM webhook_events WHERE source = 'pagerduty'")}
    outbox = fetch("SELECT status, count(*) FROM outbox GROUP BY status")
    by_source: dict[str, list[str]] = {}
    for source, key, _ in incidents:
        by_source.setdefault(source, []).append(key)
    latency = np.array([_seconds(f) - _seconds(c) for _, s, c, _, f in insights if s == "done"])
    runtime = np.array([_seconds(f) - _seconds(st) for _, s, _, st, f in insights if s == "done"])
    notes = {incident: len(n) for incident, n in fake.notes.items()}
    problems = []
    if sorted(by_source.get("alertmanager", [])) != sorted(plan.alert_groups):
        problems.append("alert groups and incidents differ")
    if sorted(by_source.get("pagerduty", [])) != sorted(plan.pd_incidents):
        problems.append("PagerDuty incidents and stored incidents differ")
    if events != set(plan.pd_events):
        problems.append(f"PagerDuty events recorded {len(events)} != sent {len(set(plan.pd_events))}")
    if len(insights) != len(plan.alert_groups) + len(plan.pd_incidents):
        problems.append(f"{len(insights)} insights for {len(plan.alert_groups) + len(plan.pd_incidents)} incidents")
    if any(s != "done" for _, s, *_ in insights):
        problems.append("not every insight is done: " + ", ".join(sorted({s for _, s, *_ in insights})))
    if sorted(notes) != sorted(plan.pd_incidents) or any(n != 1 for n in notes.values()):
        problems.append(f"notes per PagerDuty incident: {notes}")
    if fake.violations:
        problems.append(f"{len(fake.violations)} note requests broke PagerDuty's schema")
    return {
        "incidents": len(incidents), "insights": len(insights), "pagerduty_events_recorded": len(events),
        "notes_posted": sum(notes.values()), "outbox": dict(outbox),
        "insight_latency_s": {"p50": round(float(np.percentile(latency, 50)), 2),
                              "p95": round(float(np.percentile(latency, 95)), 2),
                              "max": round(float(latency.max()), 2)} if latency.size else {},
        "insight_runtime_s": {"p50": round(float(np.percentile(runtime, 50)), 2),
                              "p95": round(float(np.percentile(runtime, 95)), 2)} if runtime.size else {},
        "problems": problems,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds of load (wrk -d)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-requests", type=int, default=20_000, help="stop early after this many deliveries")
    parser.add_argument("--alert-groups", type=int, default=20)
    parser.add_argument("--pd-incidents", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=2, help="FAULTLINE_MAX_CONCURRENT_INSIGHTS")
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk not found: apt-get install -y wrk", file=sys.stderr)
        return 2
    sys.path.insert(0, str(ROOT))
    from api.demo import build_demo_case
    from tests.servers.pagerduty import FakePagerDuty, _make_handler, _Validator
    from http.server import ThreadingHTTPServer

    workdir = Path(tempfile.mkdtemp(prefix="faultline-load-"))
    case_dir = build_demo_case(workdir / "demo").case_dir
    incident = json.loads((case_dir / "incident.json").read_text())
    at = datetime.fromisoformat(incident["at"].replace("Z", "+00:00")).astimezone(timezone.utc)
    symptoms = [incident["symptom"]]
    plan = build_plan(symptoms, at, groups=args.alert_groups, pd_incidents=args.pd_incidents, seed=args.seed)

    fake = FakePagerDuty(token="pd-bench-token")
    pd_server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(fake, _Validator()))
    pd_server.daemon_threads = True
    fake.base_url = f"http://127.0.0.1:{pd_server.server_address[1]}"
    threading.Thread(target=pd_server.serve_forever, daemon=True).start()

    process, base = start_server(workdir, case_dir, fake.base_url, fake.token, plan.service_map, args.concurrency)
    sampler = GaugeSampler(base)
    try:
        script = workdir / "deliveries.lua"
        script.write_text(wrk_script(plan, args.max_requests, args.threads))
        sampler.start()
        command = ["wrk", "-t", str(args.threads), "-c", str(args.connections), "-d", f"{args.duration}s",
                   "--timeout", "10s", "-s", str(script), base]
        started = time.monotonic()
        done = subprocess.run(command, capture_output=True, text=True, timeout=args.duration + 60)
        wall = time.monotonic() - started
        line = next((l for l in done.stdout.splitlines() if l.startswith("BENCH-JSON ")), None)
        if line is None:
            raise SystemExit(f"wrk gave no summary:\n{done.stdout}\n{done.stderr}")
        load = json.loads(line[len("BENCH-JSON "):])
        drain_s = wait_drained(workdir / "faultline.sqlite3", len(plan.pd_incidents), fake, timeout_s=600)
        sampler.stop_event.set()
        sampler.join(timeout=5)
        result = {
            "command": " ".join(["python -m benchmarks.bench_load", *(argv if argv is not None else sys.argv[1:])]),
            "wrk": " ".join(command[:-3] + ["deliveries.lua", "http://127.0.0.1:PORT"]),
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
            "machine": f"{os.cpu_count()} cores, {platform_summary()}",
            "distinct_deliveries": len(plan.deliveries),
            "webhooks_answered": load["answered"], "webhooks_2xx": load["ok"], "statuses": load["statuses"],
            "errors": load["errors"],
            "webhooks_per_s": round(load["answered"] / (load["duration_us"] / 1e6), 1),
            "webhook_latency_ms": {k: round(v / 1000, 1) for k, v in load["latency_us"].items()},
            "wall_s": round(wall, 1), "drain_after_burst_s": round(drain_s, 1),
            "in_progress_peak": sampler.peak, "in_progress_samples": sampler.samples,
            "concurrency_limit": args.concurrency,
            **audit(workdir / "faultline.sqlite3", plan, fake),
        }
        if load["ok"] != load["answered"] or any(load["errors"].values()):
            result["problems"].append("not every delivery was answered 2xx")
        if sampler.peak > args.concurrency:
            result["problems"].append(f"{sampler.peak} insights ran at once (limit {args.concurrency})")
    finally:
        sampler.stop_event.set()
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        pd_server.shutdown()
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text)
    shutil.rmtree(workdir, ignore_errors=True)
    return 1 if result["problems"] else 0


def platform_summary() -> str:
    import platform

    model = ""
    try:
        model = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{model or platform.processor()}, Python {platform.python_version()}, {platform.system()} {platform.release()}"


if __name__ == "__main__":
    sys.exit(main())
