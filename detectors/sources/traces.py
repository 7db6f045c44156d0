"""Calls (from OTLP traces) → per-entity series, one bucket per ``step_s``.

For every call target (``app:``, ``llm:``, ``vectordb:``): ``rps`` (calls per second), ``error_rate`` (share of
failed calls) and the p95 latency (``latency_p95_s``; ``query_latency_p95_s`` for vector DBs). For LLM targets also
``ttft_p95_s``, ``tpot_p95_s`` and ``tokens_per_s`` (output tokens per second of wall clock, over all calls in the
bucket) — the signals that tell prefill trouble (TTFT) from decode trouble (TPOT).

Grouping is one pandas ``groupby`` over all calls, not a loop per entity.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from topology.genai import Call

from .samples import Samples


def _p95(values: pd.Series) -> float:
    clean = values.dropna()
    return float(np.quantile(clean.to_numpy(), 0.95)) if len(clean) else float("nan")


def trace_samples(calls: Sequence[Call], *, step_s: float = 60.0) -> Samples:
    calls = [c for c in calls if not c.link_only]
    if not calls:
        return Samples.empty()
    table = pd.DataFrame({
        "entity": [c.target for c in calls],
        "kind": [c.kind for c in calls],
        "start": np.array([c.start_ns for c in calls], dtype=np.float64) / 1e9,
        "latency": [c.duration_s for c in calls],
        "error": np.array([c.error for c in calls], dtype=float),
        "ttft": [c.ttft_s if c.ttft_s is not None else np.nan for c in calls],
        "tpot": [c.tpot_s if c.tpot_s is not None else np.nan for c in calls],
        "tokens": [c.output_tokens if c.output_tokens is not None else np.nan for c in calls],
    })
    table["bucket"] = np.floor(table["start"] / step_s) * step_s
    grouped = table.groupby(["entity", "kind", "bucket"], sort=True)
    stats = grouped.agg(
        calls=("latency", "size"), error_rate=("error", "mean"), latency_p95_s=("latency", _p95),
        ttft_p95_s=("ttft", _p95), tpot_p95_s=("tpot", _p95), tokens=("tokens", lambda s: s.sum(min_count=1)),
    ).reset_index()
    stats["rps"] = stats["calls"] / step_s
    stats["tokens_per_s"] = stats["tokens"] / step_s
    is_vdb = stats["kind"] == "vectordb"
    is_llm = stats["kind"] == "llm"
    stats["query_latency_p95_s"] = stats["latency_p95_s"].where(is_vdb)
    stats["latency_p95_s"] = stats["latency_p95_s"].where(~is_vdb)
    for column in ("ttft_p95_s", "tpot_p95_s", "tokens_per_s"):
        stats[column] = stats[column].where(is_llm)
    metrics = ["rps", "error_rate", "latency_p95_s", "query_latency_p95_s", "ttft_p95_s", "tpot_p95_s",
               "tokens_per_s"]
    long = stats.melt(id_vars=["entity", "kind", "bucket"], value_vars=metrics, var_name="metric", value_name="value")
    # A metric that does not apply to a kind is absent, not NaN; a NaN p95 inside an applicable metric stays.
    applicable = ~(
        ((long["metric"] == "query_latency_p95_s") & (long["kind"] != "vectordb"))
        | ((long["metric"] == "latency_p95_s") & (long["kind"] == "vectordb"))
        | (long["metric"].isin(["ttft_p95_s", "tpot_p95_s", "tokens_per_s"]) & (long["kind"] != "llm"))
    )
    long = long[applicable]
    return Samples(
        long["bucket"].to_numpy(dtype=float), long["entity"].to_numpy(dtype=object),
        long["metric"].to_numpy(dtype=object), long["value"].to_numpy(dtype=float),
    )
