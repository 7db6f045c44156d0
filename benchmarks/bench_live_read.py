"""Live-read benchmark (issue 11): one insight's read of a ~3,000-series neighbourhood *with its baseline* from a local
Prometheus, as ``faultline serve`` does it.

The neighbourhood is what kube-prometheus-stack, dcgm-exporter and vLLM would store for one slice of a fleet, in their
own metric names and labels (not pre-computed series): ``--pods`` pods with cAdvisor CPU and memory for two
containers each, CFS throttling counters and kube-state-metrics restarts (4 series a pod once read), ``--vllm`` vLLM
pods with a TTFT histogram (12 raw series each), queue and KV-cache gauges, ``--gpus`` GPUs with four DCGM fields and
``--nodes`` nodes with node-exporter CPU (8 cores) and memory. Every raw series has a sample every ``--scrape`` seconds
over 26 h, backfilled with ``promtool tsdb create-blocks-from openmetrics`` (kept in ``--data`` between runs).

One read = ``PrometheusSource.read`` with the server's defaults: the 1-h window and one lookback before it at 30 s,
24 h before that at 300 s, every catalogue family narrowed to the neighbourhood's entity ids, 8 queries in flight,
one 20-s deadline. Reported: wall time (median, min, max over ``--repeat`` reads after one warm-up), the CPU seconds
one read costs Prometheus and faultline (from ``/proc``: what the read needs whatever else the machine runs), the 1-min
load average at the end, series and points returned, and the time to put them on the detectors' grid
(``Samples.to_frame``). Run from the repository
root::

    python -m benchmarks.bench_live_read --out benchmarks/out/live-read.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from detectors.sources import PrometheusConfig, PrometheusSource
from tests.servers.common import free_port

SPAN_S = 26 * 3600
BUCKETS = ("0.05", "0.1", "0.25", "0.5", "1.0", "2.5", "5.0", "10.0", "20.0", "+Inf")


def _labels(pairs: dict[str, str]) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in sorted(pairs.items())) + "}"


class Writer:
    """Streams OpenMetrics lines for promtool: one series at a time, samples in time order."""

    def __init__(self, handle, times: np.ndarray) -> None:
        self.handle = handle
        self.stamps = np.char.mod("%d", times.astype(np.int64))
        self.samples = 0
        self.series = 0

    def series_(self, name: str, labels: dict[str, str], values: np.ndarray) -> None:
        head = name + _labels(labels) + " "
        text = np.char.add(np.char.add(head, np.char.mod("%.6g", values)), np.char.add(" ", self.stamps))
        self.handle.write("\n".join(text.tolist()))
        self.handle.write("\n")
        self.samples += len(values)
        self.series += 1


def write_history(path: Path, *, end: float, scrape: float, pods: int, vllm: int, gpus: int, nodes: int,
                  seed: int = 11) -> dict[str, int]:
    rng = np.random.default_rng(seed)
    times = np.arange(end - SPAN_S, end + 1, scrape)
    n = len(times)

    def walk(level: float, sd: float) -> np.ndarray:
        return np.maximum(level + np.cumsum(rng.normal(0, sd, n)) * 0.05 + rng.normal(0, sd, n), 0)

    def counter(rate: float) -> np.ndarray:
        return np.cumsum(np.maximum(rng.normal(rate, rate * 0.2, n), 0) * scrape)

    with open(path, "w", encoding="utf-8") as handle:
        w = Writer(handle, times)
        for p in range(pods):
            pod = {"namespace": f"ns-{p % 20}", "pod": f"app-{p}", "node": f"node-{p % nodes}",
                   "job": "kubelet", "metrics_path": "/metrics/cadvisor"}
            for container in ("app", "sidecar"):
                labels = {**pod, "container": container}
                w.series_("container_cpu_usage_seconds_total", labels, counter(0.2))
                w.series_("container_memory_working_set_bytes", labels, walk(3e8, 1e6))
                w.series_("container_cpu_cfs_periods_total", labels, counter(10))
                w.series_("container_cpu_cfs_throttled_periods_total", labels, counter(0.5))
            w.series_("kube_pod_container_status_restarts_total",
                      {"namespace": pod["namespace"], "pod": pod["pod"], "container": "app", "job": "kube-state-metrics"},
                      np.zeros(n))
        for v in range(vllm):
            labels = {"namespace": "llm", "pod": f"vllm-{v}", "model_name": f"model-{v % 4}", "job": "vllm"}
            per = np.maximum(rng.normal(20, 3, n), 0) * scrape
            cumulative = np.cumsum(per)
            shares = np.cumsum([0.0, 0.05, 0.2, 0.4, 0.2, 0.1, 0.03, 0.015, 0.005, 0.0])
            for le, share in zip(BUCKETS, shares / shares[-1]):
                w.series_("vllm:time_to_first_token_seconds_bucket", {**labels, "le": le}, cumulative * share)
            w.series_("vllm:time_to_first_token_seconds_sum", labels, cumulative * 0.4)
            w.series_("vllm:time_to_first_token_seconds_count", labels, cumulative)
            w.series_("vllm:num_requests_waiting", labels, np.round(walk(3, 1)))
            w.series_("vllm:kv_cache_usage_perc", labels, np.clip(walk(0.5, 0.02), 0, 1))
        for g in range(gpus):
            labels = {"gpu": str(g % 8), "Hostname": f"gpu-node-{g // 8}", "UUID": f"GPU-{g:04d}", "job": "dcgm"}
            w.series_("DCGM_FI_DEV_GPU_UTIL", labels, np.clip(walk(60, 5), 0, 100))
            w.series_("DCGM_FI_DEV_FB_FREE", labels, walk(20000, 100))
            w.series_("DCGM_FI_DEV_GPU_TEMP", labels, walk(65, 1))
            w.series_("DCGM_FI_DEV_XID_ERRORS", labels, np.zeros(n))
        for node in range(nodes):
            labels = {"instance": f"node-{node}", "job": "node-exporter"}
            for cpu in range(8):
                w.series_("node_cpu_seconds_total", {**labels, "cpu": str(cpu), "mode": "idle"}, counter(0.6))
            w.series_("node_memory_MemAvailable_bytes", labels, walk(8e9, 1e7))
            w.series_("node_memory_MemTotal_bytes", labels, np.full(n, 3.2e10))
        handle.write("# EOF\n")
    return {"raw_series": w.series, "raw_samples": w.samples}


def neighbourhood(pods: int, vllm: int, gpus: int, nodes: int) -> set[str]:
    return ({f"pod:ns-{p % 20}/app-{p}" for p in range(pods)} | {f"pod:llm/vllm-{v}" for v in range(vllm)}
            | {f"gpu:gpu-node-{g // 8}/{g % 8}" for g in range(gpus)} | {f"node:node-{n}" for n in range(nodes)})


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used (``/proc/<pid>/stat``): what a read costs, whatever else runs."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _start_prometheus(data: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    config = data.parent / "prometheus.yml"
    config.write_text('{"global": {"scrape_interval": "15s"}, "scrape_configs": []}', encoding="utf-8")
    log = open(data.parent / "prometheus.log", "ab")
    process = subprocess.Popen(["prometheus", f"--config.file={config}", f"--storage.tsdb.path={data}",
                                "--storage.tsdb.retention.time=3650d", f"--web.listen-address=127.0.0.1:{port}"],
                               stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            with urllib.request.urlopen(f"{url}/-/ready", timeout=1):
                return process, url
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit(f"prometheus did not start: {(data.parent / 'prometheus.log').read_text()[-2000:]}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="benchmarks/out/live-read-tsdb", help="TSDB kept between runs")
    ap.add_argument("--out", default=None, help="write the result as JSON here")
    ap.add_argument("--pods", type=int, default=600)
    ap.add_argument("--vllm", type=int, default=40)
    ap.add_argument("--gpus", type=int, default=80)
    ap.add_argument("--nodes", type=int, default=100)
    ap.add_argument("--scrape", type=float, default=60.0, help="seconds between samples of the backfilled history")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--history-hours", type=float, default=24.0, help="baseline read before the window and one lookback")
    ap.add_argument("--concurrency", type=int, default=PrometheusConfig().concurrency, help="queries in flight")
    args = ap.parse_args(argv)

    root = Path(args.data)
    data = root / "data"
    marker = root / "params.json"
    params = {k: getattr(args, k) for k in ("pods", "vllm", "gpus", "nodes", "scrape")}
    if not marker.exists() or json.loads(marker.read_text())["params"] != params:
        shutil.rmtree(root, ignore_errors=True)
        data.mkdir(parents=True)
        end = float(int(time.time() // 60 * 60))
        with tempfile.TemporaryDirectory() as tmp:
            text = Path(tmp) / "history.om"
            t0 = time.perf_counter()
            sizes = write_history(text, end=end, scrape=args.scrape, pods=args.pods, vllm=args.vllm, gpus=args.gpus,
                                  nodes=args.nodes)
            t1 = time.perf_counter()
            subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", "-q", str(text), str(data)],
                           check=True)
            t2 = time.perf_counter()
        marker.write_text(json.dumps({"params": params, "end": end, **sizes,
                                      "generate_s": round(t1 - t0, 1), "backfill_s": round(t2 - t1, 1)}))
        print(f"backfilled {sizes['raw_series']} raw series, {sizes['raw_samples']} samples "
              f"(text {t1 - t0:.0f} s, promtool {t2 - t1:.0f} s)", file=sys.stderr)
    built = json.loads(marker.read_text())
    process, url = _start_prometheus(data)
    try:
        entities = neighbourhood(args.pods, args.vllm, args.gpus, args.nodes)
        end = datetime.fromtimestamp(built["end"], timezone.utc)
        start = end - timedelta(hours=1)
        # the server's defaults: 30 s, 8 in flight, 20 s
        source = PrometheusSource(url, config=PrometheusConfig(concurrency=args.concurrency))

        def read():
            return source.read(start, end, entities=entities, history_s=args.history_hours * 3600, history_step_s=300,
                               recent_s=3600)

        read()  # warm-up: Prometheus's caches, the metric-name list, imports
        walls, results, prom_cpu, own_cpu = [], [], [], []
        for _ in range(args.repeat):
            c0, p0, t0 = _cpu_s(process.pid), time.process_time(), time.perf_counter()
            result = read()
            walls.append(time.perf_counter() - t0)
            own_cpu.append(time.process_time() - p0)
            prom_cpu.append(_cpu_s(process.pid) - c0)
            results.append(result)
        last = results[-1]
        t0 = time.perf_counter()
        frame = last.samples.to_frame(30.0)
        frame_s = time.perf_counter() - t0
    finally:
        process.terminate()
        process.wait(timeout=30)
    report = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, "
        f"{os.cpu_count()} cores, {platform.python_implementation()} {platform.python_version()}",
        "prometheus": subprocess.run(["prometheus", "--version"], capture_output=True, text=True).stdout.split("\n")[0],
        "neighbourhood_entities": len(entities), "raw_series": built["raw_series"], "raw_samples": built["raw_samples"],
        "scrape_s": args.scrape, "concurrency": args.concurrency, "history_h": args.history_hours, "series_read": len(last.samples.series_keys()), "points_read": len(last.samples),
        "problems": [str(p) for p in last.problems][:5], "calls": last.queries_ok,
        "read_s": {"median": round(statistics.median(walls), 3), "min": round(min(walls), 3),
                   "max": round(max(walls), 3), "runs": len(walls)},
        "cpu_s_per_read": {"prometheus": round(statistics.median(prom_cpu), 3),
                           "faultline": round(statistics.median(own_cpu), 3)},
        "load_average_1m": round(os.getloadavg()[0], 2),
        "to_frame_s": round(frame_s, 3), "frame": [len(frame.keys), len(frame.times)],
    }
    print(json.dumps(report, indent=1))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
