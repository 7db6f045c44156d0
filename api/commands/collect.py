"""``faultline collect``: build the topology and the series from the real sources, once or ``--watch``-ing.

Each source is logged with what it collected and how long it took; a source that fails is reported and the others
still run. The exit code is 0 when every configured source worked, 1 when at least one failed.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from topology.memory_store import MemoryStore
from topology.timeutil import parse_duration

if TYPE_CHECKING:  # the collectors pull in the kubernetes client and friends: loaded when `collect` runs
    from detectors.sources import PrometheusConfig

    from ..collect import CollectOptions

log = logging.getLogger(__name__)


def _image_commits(pairs: list[str]) -> dict[str, str]:
    mapping = {}
    for pair in pairs:
        image, sep, sha = pair.rpartition("=")
        if not sep or not image or not sha:
            raise SystemExit(f"faultline collect: --image-commit wants IMAGE=SHA, got {pair!r}")
        mapping[image] = sha
    return mapping


def _prometheus_config(args: argparse.Namespace) -> PrometheusConfig:
    from detectors.sources import PrometheusConfig

    if args.prometheus_config:
        config = PrometheusConfig.model_validate_json(Path(args.prometheus_config).read_text(encoding="utf-8"))
    else:
        config = PrometheusConfig()
    return config.model_copy(update={"step_s": args.step}) if args.step else config


def options_from_args(args: argparse.Namespace) -> CollectOptions:
    from ..collect import CollectOptions

    return CollectOptions(
        kubernetes=bool(args.kubeconfig or args.in_cluster or args.kubernetes),
        kubeconfig=args.kubeconfig, kube_context=args.context, in_cluster=args.in_cluster,
        namespaces=tuple(args.namespace or ()), prometheus_url=args.prometheus,
        prometheus=_prometheus_config(args), trace_files=tuple(Path(p) for p in args.traces or ()),
        trace_step_s=args.trace_step, log_files=tuple(Path(p) for p in args.logs or ()),
        telemetry_db=_telemetry_db(args), git_repo=Path(args.git_repo) if args.git_repo else None,
        image_commits=_image_commits(args.image_commit or []), lookback=parse_duration(args.lookback),
        retention=parse_duration(args.retention), out_dir=Path(args.out),
    )


def _telemetry_db(args: argparse.Namespace) -> Path | None:
    if not (args.traces or args.logs):
        return None
    return Path(args.telemetry_db) if args.telemetry_db else Path(args.out) / "telemetry.sqlite3"


def _store(args: argparse.Namespace):
    if args.graph:
        return MemoryStore(args.graph)
    from ..services.backend import _live_store
    from ..settings import Settings

    store = _live_store(Settings())
    return store if store is not None else MemoryStore(Path(args.out) / "graph.json")


def run(args: argparse.Namespace) -> int:
    from ..collect import collect_once, save_collected

    options = options_from_args(args)
    if not (options.kubernetes or options.prometheus_url or options.trace_files or options.log_files
            or options.git_repo):
        print("faultline collect: no source configured (see --help)", file=sys.stderr)
        return 2
    store = _store(args)
    round_no = 0
    worst = 0
    try:
        while True:
            round_no += 1
            now = datetime.now(timezone.utc)
            started = time.perf_counter()
            reports, collected = collect_once(store, options, now=now)
            totals = save_collected(options.out_dir, collected, now=now, retention=options.retention)
            failed = [r for r in reports if not r.ok]
            worst = max(worst, 1 if failed else 0)
            summary = {
                "round": round_no, "at": now.isoformat(), "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                "sources": [{"source": r.source, "ok": r.ok, "counts": r.counts, "duration_ms": round(r.duration_ms, 1),
                             "skipped": r.problems, "error": r.error} for r in reports],
                "graph": dict(zip(("entities", "relations"), store.counts())), "saved": totals,
            }
            if args.json:
                print(json.dumps(summary), flush=True)
            else:
                for report in reports:
                    print(report.line(), flush=True)
                    for problem in report.problems[:20]:
                        print(f"  skipped: {problem}", flush=True)
                print(f"graph: {summary['graph']['entities']} entities, {summary['graph']['relations']} relation "
                      f"versions; saved {totals} to {options.out_dir}", flush=True)
            if not args.watch or (args.rounds and round_no >= args.rounds):
                return worst
            time.sleep(max(args.interval - (time.perf_counter() - started), 0.0))
    finally:
        store.close()


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("collect", help="collect topology, series, events and changes from live sources")
    k8s = parser.add_argument_group("Kubernetes")
    k8s.add_argument("--kubeconfig", help="kubeconfig file (enables the Kubernetes source)")
    k8s.add_argument("--context", help="kubeconfig context")
    k8s.add_argument("--in-cluster", action="store_true", help="use the pod's service account")
    k8s.add_argument("--kubernetes", action="store_true", help="use the default kubeconfig (~/.kube/config)")
    k8s.add_argument("--namespace", "-n", action="append", help="only these namespaces (repeatable)")
    prom = parser.add_argument_group("Prometheus")
    prom.add_argument("--prometheus", metavar="URL", help="Prometheus base URL")
    prom.add_argument("--prometheus-config", metavar="FILE", help="JSON PrometheusConfig (queries, entity rules)")
    prom.add_argument("--step", type=float, default=None, help="query_range step in seconds (default 30)")
    prom.add_argument("--lookback", default="60m", help="how far back to read series (default 60m)")
    tr = parser.add_argument_group("traces")
    tr.add_argument("--traces", action="append", metavar="FILE", help="OTLP/JSON file or JSON Lines (repeatable)")
    tr.add_argument("--trace-step", type=float, default=60.0, help="bucket of trace-derived series in seconds")
    tr.add_argument("--logs", action="append", metavar="FILE",
                    help="OTLP/JSON log file or JSON Lines, e.g. a Collector file exporter's output (repeatable)")
    tr.add_argument("--telemetry-db", metavar="FILE", help="store for the spans and log records read (default: "
                                                           "OUT/telemetry.sqlite3, which `serve` reads with "
                                                           "FAULTLINE_COLLECTED_DIR=OUT)")
    git = parser.add_argument_group("git")
    git.add_argument("--git-repo", metavar="PATH", help="local clone the images were built from")
    git.add_argument("--image-commit", action="append", metavar="IMAGE=SHA",
                     help="image (id, reference, repo:tag, repo or digest) built from SHA (repeatable)")
    out = parser.add_argument_group("output")
    out.add_argument("--graph", metavar="FILE", help="MemoryStore JSON file (default: settings, else OUT/graph.json)")
    out.add_argument("--out", default="var/collected", help="directory for metrics.csv, events.json, changes.json")
    out.add_argument("--retention", default="24h", help="drop collected samples older than this")
    out.add_argument("--json", action="store_true", help="print one JSON summary line per round")
    parser.add_argument("--watch", action="store_true", help="collect again every --interval seconds")
    parser.add_argument("--interval", type=float, default=60.0, help="seconds between rounds with --watch")
    parser.add_argument("--rounds", type=int, default=0, help="with --watch: stop after this many rounds (0 = never)")
    parser.set_defaults(handler=run)
