"""Run published RCA methods (RCAEval, Salesforce PyRCA) on faultline case directories.

This file runs *inside .venv-peers* (``benchmarks/setup_peers.sh``) as a subprocess of ``benchmarks/run.py``, so it
imports nothing from faultline: only the standard library, numpy, pandas and the peers themselves. It prints one
JSON line per (case, method).

Adapter choices, the same for every peer (documented in BENCHMARKS.md):

* **Input.** A wide DataFrame, one column per ``entity|metric``, one row per timestamp, gaps forward/back-filled.
  Columns are limited to the entities within 5 dependency hops *below* the symptom (its dependency closure) — every
  root cause of the generated suite lies there, and the causal-discovery peers (PC, PCMCI) cannot run on thousands of
  fleet columns. This narrows the peers' search space; faultline gets the whole case.
* **Anomaly time.** Peers that split normal/abnormal data need an injection time. ``--onset estimate`` (default)
  derives it from the symptom series alone (last crossing of a robust 3-sigma band before the alert), the same
  information faultline has. ``--onset window`` takes the start of the incident window (``at - lookback``), which
  faultline is told too (on RCD Sock Shop that is exactly where the anomalous recording begins). ``--onset oracle`` takes the true onset from truth.json (generated cases only) — an
  advantage faultline never gets.
* **Graph.** PyRCA's random walk and hypothesis testing take a graph: the topology's relations turned into
  metric-level edges, cause (dependency's metrics) -> effect (dependent's metrics).
* **Output.** Each peer ranks metric columns; the entity ranking is the order of first appearance.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import signal
import sys
import time
import traceback
import warnings
from collections import deque
from pathlib import Path

import numpy as np
import pandas as pd

warnings.filterwarnings("ignore")

SEP = "|"
METHODS = ("baro", "nsigma", "circa", "rcd", "microcause", "pyrca_rw", "pyrca_epsilon", "pyrca_ht")


class Timeout(Exception):
    pass


def _alarm(signum, frame):  # noqa: ARG001
    raise Timeout()


def parse_duration(text: str) -> float:
    text = text.strip()
    unit = {"s": 1, "m": 60, "h": 3600}.get(text[-1], None)
    return float(text[:-1]) * unit if unit else float(text)


def parse_time(text) -> float:
    if isinstance(text, (int, float)):
        return float(text)
    return pd.Timestamp(text).timestamp()


def load_case(case: Path, hops: int = 5):
    topo = json.loads((case / "topology.json").read_text())
    incident = json.loads((case / "incident.json").read_text())
    at = parse_time(incident["at"])
    symptom = incident["symptom"]
    down: dict[str, list[str]] = {}
    edges = []
    for r in topo["relations"]:
        if r.get("valid_to") is not None and parse_time(r["valid_to"]) < at - 3 * 3600:
            continue
        down.setdefault(r["src"], []).append(r["dst"])
        edges.append((r["src"], r["dst"]))
    keep = {symptom}
    frontier = deque([(symptom, 0)])
    while frontier:
        node, d = frontier.popleft()
        if d >= hops:
            continue
        for nxt in down.get(node, ()):
            if nxt not in keep:
                keep.add(nxt)
                frontier.append((nxt, d + 1))
    long = pd.read_csv(case / "metrics.csv", dtype={"entity": str, "metric": str})
    long = long[long["entity"].isin(keep)]
    ts = pd.to_numeric(long["timestamp"], errors="coerce")
    if ts.isna().any():
        ts = pd.to_datetime(long["timestamp"], utc=True).astype("int64") / 1e9
    long = long.assign(time=ts.astype(float), col=long["entity"] + SEP + long["metric"])
    wide = long.pivot_table(index="time", columns="col", values="value", aggfunc="mean").sort_index()
    wide = wide[wide.index <= at]
    wide = wide.ffill().bfill().fillna(0.0)
    wide = wide.loc[:, wide.std() > 0]  # constant columns carry nothing and break the correlation-based peers
    wide = wide.loc[:, ~wide.T.duplicated()]  # exact copies (e.g. p50 == p90 at low traffic) make PC's tests singular
    sym_metric = incident.get("metric")
    sym_cols = [c for c in wide.columns if c.startswith(symptom + SEP)]
    sym_col = symptom + SEP + sym_metric if sym_metric and (symptom + SEP + sym_metric) in wide.columns else (sym_cols[0] if sym_cols else None)
    lookback = parse_duration(incident.get("lookback", "60m"))
    kept_edges = [(a, b) for a, b in edges if a in keep and b in keep]
    return wide, sym_col, at, lookback, kept_edges


def estimate_onset(wide: pd.DataFrame, sym_col: str | None, at: float, lookback: float) -> float:
    """Injection time from the symptom alone: start of the final run of samples outside a robust 3-sigma band."""
    times = wide.index.to_numpy()
    fallback = at - min(600.0, lookback / 2)
    if sym_col is None:
        return fallback
    v = wide[sym_col].to_numpy()
    base = v[times < at - lookback]
    if base.size < 10:
        base = v[: max(len(v) // 2, 1)]
    med = np.median(base)
    mad = 1.4826 * np.median(np.abs(base - med)) or (np.std(base) or 1.0)
    out = np.abs(v - med) / mad > 3
    i = len(v) - 1
    if not out[i]:
        return fallback
    while i > 0 and (out[i - 1] or (i > 1 and out[i - 2])) and times[i - 1] >= at - lookback:
        i -= 1
    return float(times[i])


def metric_graph(columns: list[str], edges: list[tuple[str, str]]) -> pd.DataFrame:
    """cause -> effect adjacency over metric columns: a dependency's metrics point to its dependent's."""
    by_entity: dict[str, list[str]] = {}
    for c in columns:
        by_entity.setdefault(c.rsplit(SEP, 1)[0], []).append(c)
    adj = pd.DataFrame(0, index=columns, columns=columns)
    for dependent, dependency in edges:
        for cause in by_entity.get(dependency, ()):
            for effect in by_entity.get(dependent, ()):
                adj.loc[cause, effect] = 1
    return adj


def entity_ranking(ranked_columns) -> list[str]:
    out: list[str] = []
    for c in ranked_columns:
        ent = str(c).rsplit(SEP, 1)[0]
        if ent not in out:
            out.append(ent)
    return out


class PeerFailed(Exception):
    """RCAEval's ``@rca`` wrapper swallowed an error and returned the unranked column order."""


def _rcaeval(fn, data: pd.DataFrame, **kwargs) -> list[str]:
    """Call an RCAEval method with aliased columns ``e<entity>_m<column>``.

    RCAEval splits column names on ``_`` into (service, metric); our entity ids and metric names contain ``_``.
    """
    cols = [c for c in data.columns if c != "time"]
    entities: dict[str, int] = {}
    alias = {}
    for i, c in enumerate(cols):
        e = entities.setdefault(c.rsplit(SEP, 1)[0], len(entities))
        alias[c] = f"e{e}_m{i}"
    back = {v: k for k, v in alias.items()}
    if kwargs.get("sli"):
        kwargs["sli"] = alias[kwargs["sli"]]
    captured = io.StringIO()
    with contextlib.redirect_stderr(captured):
        out = fn(data.rename(columns=alias), **kwargs)
    failed = [line for line in captured.getvalue().splitlines() if " failed (" in line]
    if failed:
        raise PeerFailed(failed[-1])
    return [back.get(str(r), str(r)) for r in out["ranks"]]


def run_method(method: str, wide: pd.DataFrame, sym_col: str | None, inject: float, edges) -> list[str]:
    data = wide.reset_index().rename(columns={"index": "time"})
    data["time"] = data["time"].astype(float)
    normal = wide[wide.index < inject]
    abnormal = wide[wide.index >= inject]
    if method == "baro":
        from RCAEval.e2e.baro import baro

        return _rcaeval(baro, data, inject_time=inject, dataset="faultline")
    if method == "nsigma":
        from RCAEval.e2e import nsigma

        return _rcaeval(nsigma, data, inject_time=inject, dataset="faultline")
    if method == "circa":
        from RCAEval.e2e.circa import circa

        # a 1e-6-relative jitter keeps PC's Fisher-z test from failing on collinear columns (seeded, deterministic)
        jitter = np.random.default_rng(0).normal(0.0, 1e-6, size=(len(data), data.shape[1] - 1))
        data.iloc[:, 1:] = data.iloc[:, 1:] + jitter * (data.iloc[:, 1:].std().to_numpy() + 1e-12)
        return _rcaeval(circa, data, inject_time=inject, dataset="faultline")
    if method == "rcd":
        from RCAEval.e2e.rcd import rcd

        return _rcaeval(rcd, data, inject_time=inject, dataset="faultline", seed=0)
    if method == "microcause":
        from RCAEval.e2e.microcause import microcause

        return _rcaeval(microcause, data, inject_time=inject, dataset="faultline", sli=sym_col)
    if method == "pyrca_epsilon":
        from pyrca.analyzers.epsilon_diagnosis import EpsilonDiagnosis, EpsilonDiagnosisConfig

        np.random.seed(0)  # PyRCA bootstraps with the global numpy generator
        m = min(len(normal), len(abnormal))
        model = EpsilonDiagnosis(EpsilonDiagnosisConfig(root_cause_top_k=10_000))
        model.train(normal.tail(m))
        res = model.find_root_causes(abnormal.head(m))
        return [n for n, _ in res.to_dict()["root_cause_nodes"]]
    if method == "pyrca_rw":
        from pyrca.analyzers.random_walk import RandomWalk, RandomWalkConfig

        cols = list(wide.columns)
        model = RandomWalk(RandomWalkConfig(graph=metric_graph(cols, edges), root_cause_top_k=10_000))
        res = model.find_root_causes([sym_col], abnormal if len(abnormal) > 2 else wide, random_seed=0)
        return [n for n, _ in res.to_dict()["root_cause_nodes"]]
    if method == "pyrca_ht":
        import networkx as nx
        from pyrca.analyzers.ht import HT, HTConfig

        cols = list(wide.columns)
        graph = metric_graph(cols, edges)
        model = HT(HTConfig(graph=graph, root_cause_top_k=10_000))
        model.train(normal)
        dag = nx.is_directed_acyclic_graph(nx.from_pandas_adjacency(graph, create_using=nx.DiGraph()))
        res = model.find_root_causes(abnormal, anomalous_metrics=sym_col, adjustment=dag)
        return [n for n, _ in res.to_dict()["root_cause_nodes"]]
    raise ValueError(f"unknown method {method}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--onset", choices=["estimate", "window", "oracle"], default="estimate")
    ap.add_argument("--timeout", type=int, default=120)
    ap.add_argument("cases", nargs="+")
    args = ap.parse_args(argv)
    signal.signal(signal.SIGALRM, _alarm)
    for case in map(Path, args.cases):
        t_load = time.perf_counter()
        try:
            wide, sym_col, at, lookback, edges = load_case(case)
        except Exception as exc:  # a case the adapter cannot read is reported, not fatal
            for m in args.methods.split(","):
                print(json.dumps({"case": str(case), "method": m, "ranking": [], "seconds": 0.0,
                                  "error": f"load: {type(exc).__name__}: {exc}"}), flush=True)
            continue
        load_s = time.perf_counter() - t_load
        inject = estimate_onset(wide, sym_col, at, lookback)
        if args.onset == "window":  # the incident window's start: exactly what faultline is told
            inject = at - lookback
        if args.onset == "oracle" and (case / "truth.json").exists():
            onset = json.loads((case / "truth.json").read_text()).get("onset")
            if onset:
                inject = parse_time(onset)
        for m in args.methods.split(","):
            t0 = time.perf_counter()
            error = None
            ranking: list[str] = []
            signal.alarm(args.timeout)
            try:
                ranking = entity_ranking(run_method(m, wide, sym_col, inject, edges))
            except Timeout:
                error = f"timeout after {args.timeout}s"
            except Exception as exc:
                error = f"{type(exc).__name__}: {str(exc)[:200]}"
                traceback.print_exc(file=sys.stderr)
            finally:
                signal.alarm(0)
            print(json.dumps({
                "case": str(case), "method": m, "ranking": ranking[:50], "seconds": time.perf_counter() - t0 + load_s,
                "error": error, "columns": int(wide.shape[1]), "inject_time": inject,
            }), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
