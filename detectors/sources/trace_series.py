"""Spans → trace evidence as series, per service and per call edge, with exemplar trace ids.

Every series is a row of the case's ``SeriesFrame`` (entity, metric), sampled on the frame's grid, so the detectors
and the ranker read it like any metric; its role comes from the catalogue's ``trace_*`` families. A sample labelled
``t`` covers the spans that **ended** in ``(t - step, t]``: an analysis at time T sees exactly the spans finished by
T, never a bucket that reaches past it.

Per service ``S`` (entity ``app:S``; see ``span_table.series_entity``) — a *request* of S is an entry span, one whose
parent is missing or belongs to another service; its *local subtree* is everything S did for it before handing
over to another service:

=============================  ======================================================================================
``trace_rps``                  requests of S per second
``trace_error_rate``           share of S's requests whose local subtree holds an error that **originates** there: a
                               span with status ERROR none of whose children is ERROR (an error passed up from a
                               callee is the callee's, and a failed call whose callee reported no error is the call
                               edge's, below)
``trace_latency_p50_s`` / ``_p95_s``  percentiles of S's request durations
``trace_self_p50_s`` / ``_p95_s``     percentiles of S's *self time* per request: the local subtree's exclusive time
                               (each span's duration minus the union of its children's intervals), calls to other
                               services excluded — what S itself spent, whatever its callees did
``trace_exception_rate``       share of S's requests with an ``exception`` span event in the local subtree; the
                               exception types and counts are the sample's note
=============================  ======================================================================================

Per call edge S → T the same names with the callee in brackets, on the caller: ``trace_rps[T]``,
``trace_error_rate[T]`` (calls that failed at T or on the way: an origin error in T's local subtree or on the
client span), ``trace_latency_p50_s[T]`` / ``_p95_s[T]`` (the client span's duration when S recorded one, else
T's server span). The ranker credits a bracketed row to the callee (``rca.features.call_edge_owners``): a network
delay into T shows on its callers' calls, not on anything T measures itself.

GenAI and vector-DB calls (``topology.genai``: streamed chunks merged into one call) give, on the model or the vector
DB: ``trace_rps``, ``trace_error_rate``, ``trace_latency_p95_s``, and for models ``trace_ttft_p95_s``,
``trace_tpot_p95_s`` and ``trace_output_tokens_per_s``.

Each sample keeps up to three exemplar trace ids (the slowest requests for latency rows, failed ones for error rows)
as a ``SeriesNote``; an anomaly on the series names those since its onset.

Everything is computed over whole columns with numpy and pandas: parents by one index lookup, the owning request of
every span by pointer jumping, exclusive time by one sorted pass over all children.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from topology.genai import calls_from_spans

from ..models import SeriesKey, SeriesNote
from .samples import Samples
from .span_table import SpanTable

__all__ = ["TelemetrySeries", "bucket_labels", "trace_series"]

CLIENT_KINDS = ("CLIENT", "PRODUCER")
EXEMPLARS = 3
MIN_REQUESTS = {"p50": 3, "p95": 20}
"""A percentile of fewer requests than this in one sample is left out (NaN): the p95 of four requests is their
maximum, one slow request, and would read as a latency shift."""


@dataclass(frozen=True)
class TelemetrySeries:
    """Long-format samples plus the note behind each (series, sample time)."""

    samples: Samples
    notes: Mapping[SeriesKey, Mapping[float, SeriesNote]]

    @staticmethod
    def empty() -> "TelemetrySeries":
        return TelemetrySeries(Samples.empty(), {})

    @staticmethod
    def concat(parts: list["TelemetrySeries"]) -> "TelemetrySeries":
        notes: dict[SeriesKey, dict[float, SeriesNote]] = {}
        for part in parts:
            for key, by_time in part.notes.items():
                notes.setdefault(key, {}).update(by_time)
        return TelemetrySeries(Samples.concat([p.samples for p in parts]), notes)


def bucket_labels(end_ns: np.ndarray, grid_start_s: float, step_s: float) -> np.ndarray:
    """Sample time (epoch s) of each end time: the first grid point at or after it, so ``(t - step, t]`` → ``t``."""
    t = np.asarray(end_ns, dtype=np.float64) / 1e9
    return grid_start_s + np.ceil((t - grid_start_s) / step_s - 1e-9) * step_s


def _structure(table: SpanTable) -> dict[str, np.ndarray]:
    """Parent index, entry flag, owning request, origin errors and exclusive time of every span."""
    n = len(table)
    keys = pd.Index(table.trace + ":" + table.span)
    parent = keys.get_indexer(table.trace + ":" + table.parent)
    parent[table.parent == ""] = -1
    has_parent = parent >= 0
    safe = np.where(has_parent, parent, 0)
    entry = ~has_parent | (table.service[safe] != table.service)
    up = np.where(entry, np.arange(n), parent)
    for _ in range(64):  # pointer jumping: log2(depth) rounds
        nxt = up[up]
        if np.array_equal(nxt, up):
            break
        up = nxt
    owner = up
    child = np.flatnonzero(has_parent)
    has_error_child = np.zeros(n, dtype=bool)
    has_error_child[parent[child[table.error[child]]]] = True
    origin = table.error & ~has_error_child
    remote_child = child[entry[child]]  # entry spans with a parent: calls from another service
    has_remote_child = np.zeros(n, dtype=bool)
    has_remote_child[parent[remote_child]] = True
    client_like = np.isin(table.kind, CLIENT_KINDS) | (~entry & (np.isin(table.kind, ("UNSPECIFIED", "INTERNAL"))))
    named = (table.peer != "") & ~has_remote_child  # a call whose callee sent no span (refused, uninstrumented)
    edge_span = (has_remote_child & client_like) | named  # its time and its own errors belong to the call edge
    # exclusive time: duration minus the union of the children's intervals (clipped to the parent)
    covered = np.zeros(n)
    if len(child):
        p = parent[child]
        ps, pe = table.start[p], table.end[p]
        s = np.clip(table.start[child], ps, pe).astype(np.float64)
        e = np.clip(table.end[child], ps, pe).astype(np.float64)
        order = np.lexsort((s, p))
        p, s, e = p[order], s[order], e[order]
        frame = pd.DataFrame({"p": p, "e": e})
        prev = frame.groupby("p", sort=False)["e"].cummax().groupby(frame["p"], sort=False).shift(1)
        prev = prev.to_numpy(dtype=np.float64, na_value=-np.inf)
        contrib = np.maximum(e - np.maximum(s, prev), 0.0)
        covered = np.bincount(p, weights=contrib, minlength=n)
    exclusive = np.maximum((table.end - table.start).astype(np.float64) - covered, 0.0) / 1e9
    return {"parent": parent, "entry": entry, "owner": owner, "origin": origin, "edge_span": edge_span,
            "exclusive": exclusive, "remote_child": remote_child, "named": np.flatnonzero(named)}


def _exemplars(frame: pd.DataFrame, by: list[str], value: str, ascending: bool, mask: pd.Series | None = None
               ) -> dict[tuple, tuple[str, ...]]:
    rows = frame if mask is None else frame[mask]
    if rows.empty:
        return {}
    top = rows.sort_values(by + [value], ascending=[True] * len(by) + [ascending]).groupby(by, sort=False).head(EXEMPLARS)
    return {k: tuple(dict.fromkeys(g["trace"])) for k, g in top.groupby(by, sort=False)}


def _emit(out: list[pd.DataFrame], notes: dict, stats: pd.DataFrame, entity_col: str, metric: str,
          value_col: str, exemplars: Mapping[tuple, tuple[str, ...]] | None = None,
          details: Mapping[tuple, str] | None = None) -> None:
    rows = stats[[entity_col, "bucket", value_col]].rename(columns={entity_col: "entity", value_col: "value"})
    out.append(rows[rows["value"].notna()].assign(metric=metric))
    for (entity, bucket), traces in (exemplars or {}).items():
        detail = (details or {}).get((entity, bucket))
        notes.setdefault(SeriesKey(entity, metric), {})[float(bucket)] = SeriesNote(traces=traces, detail=detail)


def trace_series(table: SpanTable, *, grid_start_s: float, step_s: float, until_ns: int | None = None,
                 tails: bool = True) -> TelemetrySeries:
    """The trace evidence of ``table`` on the grid ``grid_start_s + k * step_s`` (see the module docstring).

    ``until_ns``: ignore spans that ended later (an analysis at T must not see what finished after T).
    ``tails``: also the p95 rows (left out of fine buckets, where a p95 is one or two slow requests).
    """
    if until_ns is not None:
        table = table.ended_by(until_ns)
    if not len(table):
        return TelemetrySeries.empty()
    duplicate = pd.Index(table.trace + ":" + table.span).duplicated()
    if duplicate.any():  # an export retried after a lost answer: OTLP clients may send a span twice
        table = table.take(~duplicate)
    st = _structure(table)
    out: list[pd.DataFrame] = []
    notes: dict[SeriesKey, dict[float, SeriesNote]] = {}
    bucket = bucket_labels(table.end, grid_start_s, step_s)

    # -- per request of each service -------------------------------------------------------------------------------
    owner = st["owner"]
    local_error = np.zeros(len(table), dtype=bool)
    np.logical_or.at(local_error, owner[st["origin"] & ~st["edge_span"]], True)
    has_exc = table.exception != ""
    local_exc = np.zeros(len(table), dtype=bool)
    np.logical_or.at(local_exc, owner[has_exc], True)
    own_time = np.bincount(owner[~st["edge_span"]], weights=st["exclusive"][~st["edge_span"]], minlength=len(table))
    entries = np.flatnonzero(st["entry"] & (table.entity != ""))
    req = pd.DataFrame({
        "entity": table.entity[entries], "bucket": bucket[entries], "trace": table.trace[entries],
        "latency": (table.end[entries] - table.start[entries]) / 1e9, "self": own_time[entries],
        "error": local_error[entries], "exc": local_exc[entries],
    })
    if not req.empty:
        g = req.groupby(["entity", "bucket"], sort=True)
        stats = g.agg(n=("latency", "size"), err=("error", "mean"), exc=("exc", "mean")).reset_index()
        stats["rps"] = stats["n"] / step_s
        for q, suffix in ((0.5, "p50"), (0.95, "p95")):
            enough = stats["n"].to_numpy() >= MIN_REQUESTS[suffix]
            stats[f"lat_{suffix}"] = np.where(enough, g["latency"].quantile(q).to_numpy(), np.nan)
            stats[f"self_{suffix}"] = np.where(enough, g["self"].quantile(q).to_numpy(), np.nan)
        by = ["entity", "bucket"]
        slow = _exemplars(req, by, "latency", ascending=False)
        selfish = _exemplars(req, by, "self", ascending=False)
        failed = _exemplars(req, by, "latency", ascending=False, mask=req["error"])
        raised = _exemplars(req, by, "latency", ascending=False, mask=req["exc"])
        types = _exception_details(table, owner, bucket, has_exc)
        _emit(out, notes, stats, "entity", "trace_rps", "rps", _exemplars(req, by, "latency", ascending=True))
        _emit(out, notes, stats, "entity", "trace_error_rate", "err", failed)
        _emit(out, notes, stats, "entity", "trace_exception_rate", "exc", raised, types)
        for suffix in ("p50", "p95") if tails else ("p50",):
            _emit(out, notes, stats, "entity", f"trace_latency_{suffix}_s", f"lat_{suffix}", slow)
            _emit(out, notes, stats, "entity", f"trace_self_{suffix}_s", f"self_{suffix}", selfish)

    # -- per call edge S -> T ---------------------------------------------------------------------------------------
    callee = st["remote_child"]
    callee = callee[table.entity[callee] != ""]
    caller_span = st["parent"][callee]
    caller_entity = table.entity[caller_span]
    keep = (caller_entity != "") & (caller_entity != table.entity[callee])
    callee, caller_span, caller_entity = callee[keep], caller_span[keep], caller_entity[keep]
    named = st["named"][table.entity[st["named"]] != ""]  # client spans naming a callee that sent no span
    if len(callee) or len(named):
        client = st["edge_span"][caller_span]
        timed = np.concatenate([np.where(client, caller_span, callee), named])
        failed_edge = np.concatenate([(client & st["origin"][caller_span]) | local_error[callee], st["origin"][named]])
        peer = np.array([e.split(":", 1)[-1] for e in table.entity[callee]] + list(table.peer[named]), dtype=object)
        calls = pd.DataFrame({
            "entity": np.concatenate([caller_entity, table.entity[named]]), "peer": peer,
            "bucket": bucket_labels(table.end[timed], grid_start_s, step_s),
            "trace": table.trace[timed], "latency": (table.end[timed] - table.start[timed]) / 1e9,
            "error": failed_edge,
        })
        calls = calls[calls["entity"] != "app:" + calls["peer"]]
        calls["series"] = calls["entity"] + "\x00" + calls["peer"]
        g = calls.groupby(["series", "bucket"], sort=True)
        stats = g.agg(n=("latency", "size"), err=("error", "mean"), entity=("entity", "first"),
                      peer=("peer", "first")).reset_index()
        stats["rps"] = stats["n"] / step_s
        stats["lat_p50"] = np.where(stats["n"] >= MIN_REQUESTS["p50"], g["latency"].quantile(0.5).to_numpy(), np.nan)
        stats["lat_p95"] = np.where(stats["n"] >= MIN_REQUESTS["p95"], g["latency"].quantile(0.95).to_numpy(), np.nan)
        by = ["series", "bucket"]
        slow = _exemplars(calls, by, "latency", ascending=False)
        failed = _exemplars(calls, by, "latency", ascending=False, mask=calls["error"])
        for column, family, exemplars in (("rps", "trace_rps", None), ("err", "trace_error_rate", failed),
                                          ("lat_p50", "trace_latency_p50_s", slow),
                                          ("lat_p95", "trace_latency_p95_s", slow)):
            if column == "lat_p95" and not tails:
                continue
            rows = stats[["entity", "peer", "bucket", column]]
            rows = rows[rows[column].notna()]
            out.append(pd.DataFrame({"entity": rows["entity"], "bucket": rows["bucket"], "value": rows[column],
                                     "metric": family + "[" + rows["peer"] + "]"}))
            for (series, b), traces in (exemplars or {}).items():
                entity, peer_name = series.split("\x00", 1)
                notes.setdefault(SeriesKey(entity, f"{family}[{peer_name}]"), {})[float(b)] = SeriesNote(traces=traces)

    # -- GenAI and vector-DB calls ------------------------------------------------------------------------------------
    if table.genai and tails:
        out.append(_genai_rows(table, grid_start_s, step_s, notes))
    frames = [f for f in out if not f.empty]
    if not frames:
        return TelemetrySeries.empty()
    long = pd.concat(frames, ignore_index=True)
    return TelemetrySeries(
        Samples(long["bucket"].to_numpy(dtype=float), long["entity"].to_numpy(dtype=object),
                long["metric"].to_numpy(dtype=object), long["value"].to_numpy(dtype=float)),
        notes,
    )


def _exception_details(table: SpanTable, owner: np.ndarray, bucket: np.ndarray, has_exc: np.ndarray
                       ) -> dict[tuple, str]:
    """Per (service, sample): ``"TimeoutError ×12, KeyError ×1"`` from the exception events of its requests."""
    idx = np.flatnonzero(has_exc)
    counts: dict[tuple, Counter] = {}
    for i in idx:
        o = owner[i]
        counts.setdefault((table.entity[o], bucket[o]), Counter())[table.exception[i]] += 1
    return {k: ", ".join(f"{name} ×{n}" for name, n in c.most_common(5)) for k, c in counts.items()}


def _genai_rows(table: SpanTable, grid_start_s: float, step_s: float,
                notes: dict[SeriesKey, dict[float, SeriesNote]]) -> pd.DataFrame:
    calls, _ = calls_from_spans(table.genai)
    calls = [c for c in calls if c.kind in ("llm", "vectordb") and not c.link_only]
    if not calls:
        return pd.DataFrame()
    frame = pd.DataFrame({
        "entity": [c.target for c in calls], "kind": [c.kind for c in calls], "trace": [c.trace_id for c in calls],
        "bucket": bucket_labels(np.array([c.end_ns for c in calls]), grid_start_s, step_s),
        "latency": [c.duration_s for c in calls], "error": [c.error for c in calls],
        "ttft": [np.nan if c.ttft_s is None else c.ttft_s for c in calls],
        "tpot": [np.nan if c.tpot_s is None else c.tpot_s for c in calls],
        "tokens": [np.nan if c.output_tokens is None else c.output_tokens for c in calls],
    })
    g = frame.groupby(["entity", "bucket"], sort=True)
    stats = g.agg(n=("latency", "size"), err=("error", "mean"), kind=("kind", "first"),
                  tokens=("tokens", lambda s: s.sum(min_count=1))).reset_index()
    stats["rps"] = stats["n"] / step_s
    stats["lat"] = g["latency"].quantile(0.95).to_numpy()
    stats["ttft"] = g["ttft"].quantile(0.95).to_numpy()
    stats["tpot"] = g["tpot"].quantile(0.95).to_numpy()
    stats["tps"] = stats["tokens"] / step_s
    by = ["entity", "bucket"]
    slow = _exemplars(frame, by, "latency", ascending=False)
    late = _exemplars(frame, by, "ttft", ascending=False, mask=frame["ttft"].notna())
    failed = _exemplars(frame, by, "latency", ascending=False, mask=frame["error"])
    parts = []
    llm = stats["kind"] == "llm"
    for column, metric, exemplars, rows in (
        ("rps", "trace_rps", None, stats), ("err", "trace_error_rate", failed, stats),
        ("lat", "trace_latency_p95_s", slow, stats), ("ttft", "trace_ttft_p95_s", late, stats[llm]),
        ("tpot", "trace_tpot_p95_s", slow, stats[llm]), ("tps", "trace_output_tokens_per_s", None, stats[llm]),
    ):
        rows = rows[rows[column].notna()]
        parts.append(pd.DataFrame({"entity": rows["entity"], "bucket": rows["bucket"], "value": rows[column],
                                   "metric": metric}))
        for (entity, b), traces in (exemplars or {}).items():
            notes.setdefault(SeriesKey(entity, metric), {})[float(b)] = SeriesNote(traces=traces)
    return pd.concat(parts, ignore_index=True)
