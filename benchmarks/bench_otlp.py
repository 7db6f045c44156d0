"""OTLP ingest through the HTTP API: protobuf + gzip export requests against a real ``faultline serve``.

What it does: starts ``faultline serve`` on 127.0.0.1 (its own SQLite files in a temporary directory; the bundled demo
case as data source, so spans also feed a topology store), builds the export requests *before* the clock starts —
``ExportTraceServiceRequest`` / ``ExportLogsServiceRequest`` with ``--batch`` items each, every span and record
unique, resource attributes as an SDK sets them (service, pod, namespace, SDK name), span attributes as HTTP server
instrumentation sets them — gzips them as the Collector's ``otlphttp`` exporter does, and posts them from
``--connections`` concurrent keep-alive connections for ``--duration`` seconds, traces then logs. Then it checks
the server's telemetry store file directly: every span and record answered 200 must be there, exactly once.

The client shares the machine's cores with the server; its work per request is one POST of pre-built bytes.

Usage::

    python -m benchmarks.bench_otlp                         # 20 s of traces, 20 s of logs, batches of 512
    python -m benchmarks.bench_otlp --batch 2048 --duration 30
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ("checkout", "cart", "payments", "catalog", "frontend", "shipping", "email", "currency")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _resource(block, service: str, pod: str) -> None:
    for key, value in (("service.name", service), ("k8s.namespace.name", "shop"), ("k8s.pod.name", pod),
                       ("telemetry.sdk.language", "python"), ("telemetry.sdk.name", "opentelemetry"),
                       ("telemetry.sdk.version", "1.45.1")):
        kv = block.resource.attributes.add()
        kv.key, kv.value.string_value = key, value


def trace_requests(n_requests: int, batch: int, seed: int = 0) -> list[bytes]:
    """``n_requests`` gzipped ``ExportTraceServiceRequest`` bodies of ``batch`` unique spans (4-span traces)."""
    rng = random.Random(seed)
    now = time.time_ns()
    bodies = []
    serial = 0
    for r in range(n_requests):
        request = ExportTraceServiceRequest()
        service = SERVICES[r % len(SERVICES)]
        block = request.resource_spans.add()
        _resource(block, service, f"{service}-{r % 3}")
        scope = block.scope_spans.add()
        scope.scope.name = "opentelemetry.instrumentation.asgi"
        trace_id = b""
        for i in range(batch):
            serial += 1
            span = scope.spans.add()
            if i % 4 == 0:
                trace_id = rng.getrandbits(128).to_bytes(16, "big")
            span.trace_id = trace_id
            span.span_id = serial.to_bytes(8, "big")
            if i % 4:
                span.parent_span_id = (serial - 1).to_bytes(8, "big")
            span.name = "GET /api/cart/{id}"
            span.kind = 2 if i % 4 == 0 else 3
            start = now - rng.randrange(60 * 10**9)
            span.start_time_unix_nano = start
            span.end_time_unix_nano = start + rng.randrange(10**6, 10**8)
            for key, value in (("http.request.method", "GET"), ("http.route", "/api/cart/{id}"),
                               ("url.scheme", "http"), ("server.address", "cart")):
                kv = span.attributes.add()
                kv.key, kv.value.string_value = key, value
            kv = span.attributes.add()
            kv.key, kv.value.int_value = "http.response.status_code", 500 if i % 50 == 0 else 200
            if i % 50 == 0:
                span.status.code = 2
        bodies.append(gzip.compress(request.SerializeToString(), compresslevel=6))
    return bodies


def log_requests(n_requests: int, batch: int, seed: int = 1) -> list[bytes]:
    rng = random.Random(seed)
    now = time.time_ns()
    bodies = []
    serial = 0
    for r in range(n_requests):
        request = ExportLogsServiceRequest()
        service = SERVICES[r % len(SERVICES)]
        block = request.resource_logs.add()
        _resource(block, service, f"{service}-{r % 3}")
        scope = block.scope_logs.add()
        scope.scope.name = "app"
        for i in range(batch):
            serial += 1
            record = scope.log_records.add()
            record.time_unix_nano = now - rng.randrange(60 * 10**9)
            record.observed_time_unix_nano = record.time_unix_nano + 1000
            error = i % 40 == 0
            record.severity_number = 17 if error else 9
            record.severity_text = "ERROR" if error else "INFO"
            record.body.string_value = (f"payment {serial} declined: card issuer timeout after {rng.randrange(900)} ms"
                                        if error else f"order {serial} placed by user u{rng.randrange(5000)} "
                                                      f"total {rng.randrange(10000) / 100:.2f} EUR")
            record.trace_id = rng.getrandbits(128).to_bytes(16, "big")
            record.span_id = serial.to_bytes(8, "big")
            kv = record.attributes.add()
            kv.key, kv.value.string_value = "code.function", "place_order"
        bodies.append(gzip.compress(request.SerializeToString(), compresslevel=6))
    return bodies


async def _post_all(url: str, bodies: list[bytes], connections: int, duration: float) -> dict:
    """Cycle through ``bodies`` (each posted once at most) from ``connections`` clients for ``duration`` s."""
    headers = {"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"}
    queue = list(range(len(bodies)))
    accepted: list[int] = []
    failed: list[tuple[int, int]] = []
    latencies: list[float] = []
    deadline = time.perf_counter() + duration

    async def worker(client: httpx.AsyncClient) -> None:
        while queue and time.perf_counter() < deadline:
            index = queue.pop()
            t0 = time.perf_counter()
            r = await client.post(url, content=bodies[index], headers=headers)
            latencies.append(time.perf_counter() - t0)
            if r.status_code == 200 and not r.content:  # full success: no partial_success in the answer
                accepted.append(index)
            else:
                failed.append((index, r.status_code))

    started = time.perf_counter()
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        await asyncio.gather(*(worker(client) for _ in range(connections)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {"accepted": accepted, "failed": failed, "elapsed_s": elapsed,
            "p50_ms": 1000 * latencies[len(latencies) // 2] if latencies else None,
            "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)] if latencies else None}


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="OTLP protobuf+gzip ingest throughput through faultline's HTTP API")
    ap.add_argument("--batch", type=int, default=512, help="spans or log records per export request (SDK default 512)")
    ap.add_argument("--duration", type=float, default=20.0, help="seconds of load per signal")
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--requests", type=int, default=1200, help="distinct requests built per signal (upper bound)")
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    args = ap.parse_args(argv)

    from detectors.sources.telemetry_store import TelemetryStore

    directory = Path(tempfile.mkdtemp(prefix="faultline-bench-otlp-"))
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAULTLINE_")}
    env.update({"FAULTLINE_DB_PATH": str(directory / "faultline.sqlite3"), "FAULTLINE_PORT": str(port),
                "FAULTLINE_TELEMETRY_DB": str(directory / "telemetry.sqlite3"), "FAULTLINE_MAX_BODY_BYTES": str(64 << 20)})
    log = open(directory / "server.log", "wb")
    server = subprocess.Popen([sys.executable, "-m", "api.cli", "serve", "--port", str(port)], cwd=ROOT, env=env,
                              stdout=log, stderr=subprocess.STDOUT)
    result: dict = {"batch": args.batch, "connections": args.connections, "duration_s": args.duration,
                    "cores": os.cpu_count(), "load_before": os.getloadavg()}
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(600):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        print("building requests …", file=sys.stderr)
        traces = trace_requests(args.requests, args.batch)
        logs = log_requests(args.requests, args.batch)
        result["gzip_bytes_per_request"] = {"traces": sum(map(len, traces)) // len(traces),
                                            "logs": sum(map(len, logs)) // len(logs)}
        for signal, bodies in (("traces", traces), ("logs", logs)):
            asyncio.run(_post_all(f"{base}/v1/{signal}", bodies[:8], 2, 5.0))  # warm-up: first store open, caches
            cpu0 = _cpu_seconds(server.pid)
            run = asyncio.run(_post_all(f"{base}/v1/{signal}", bodies[8:], args.connections, args.duration))
            cpu = _cpu_seconds(server.pid) - cpu0
            items = len(run["accepted"]) * args.batch
            result[signal] = {"requests": len(run["accepted"]), "failed": len(run["failed"]), "items": items,
                              "items_per_s": round(items / run["elapsed_s"]), "elapsed_s": round(run["elapsed_s"], 2),
                              "server_cpu_s": round(cpu, 1), "p50_ms": round(run["p50_ms"], 1),
                              "p99_ms": round(run["p99_ms"], 1), "ran_out_of_requests": len(run["accepted"]) + len(
                                  run["failed"]) >= len(bodies) - 8}
        result["load_after"] = os.getloadavg()
        with TelemetryStore(directory / "telemetry.sqlite3") as store:
            counts = store.counts()
        sent_spans = (8 + result["traces"]["requests"]) * args.batch
        sent_logs = (8 + result["logs"]["requests"]) * args.batch
        result["stored"] = {"spans": counts.spans, "logs": counts.logs,
                            "spans_expected": sent_spans, "logs_expected": sent_logs,
                            "nothing_lost": counts.spans == sent_spans and counts.logs == sent_logs}
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
        shutil.rmtree(directory, ignore_errors=True)
    if args.json:
        print(json.dumps(result))
    else:
        for signal in ("traces", "logs"):
            r = result[signal]
            print(f"{signal}: {r['items_per_s']:,} items/s ({r['requests']} requests of {args.batch} in "
                  f"{r['elapsed_s']} s, {r['failed']} failed; server CPU {r['server_cpu_s']} s; "
                  f"p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms)")
        print(f"stored: {result['stored']}; load {result['load_before']} -> {result['load_after']}")
    return 0 if result["stored"]["nothing_lost"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
