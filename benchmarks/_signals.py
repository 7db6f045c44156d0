"""Baseline series for every (entity, metric) and the mapping from a fault's *impact* to metric changes.

Why this shape: a fault is described once as an impact profile per entity (``lat`` — things get slow, ``err`` — calls
fail), and each metric kind turns impact into its own change (latency multiplies, error rate adds, throughput drops).
That keeps the propagation model in one place (``_faults.propagate``) and makes every fault type travel up the
dependency chain the same way, with lags and attenuation.

Baselines: traffic per stack with a daily cycle (a 3-hour window sees it as a trend) and a short ~hourly cycle,
AR(1) noise, occasional heavy-tailed spikes, and occasional missing samples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

STEP_S = 60
GiB = 1024**3

# metric names per entity kind (the case format's common names)
METRICS: dict[str, tuple[str, ...]] = {
    "app": ("latency_p95_s", "error_rate", "rps"),
    "llm": ("ttft_p95_s", "tpot_p95_s", "tokens_per_s", "queue_len", "kv_cache_usage", "error_rate"),
    "vectordb": ("query_latency_p95_s", "error_rate"),
    "pod": ("cpu_usage", "mem_bytes", "restarts"),
    "gpu": ("gpu_util", "gpu_temp_c", "xid_errors"),
    "node": ("cpu_usage", "mem_usage"),
}


@dataclass
class Impact:
    """How hard an entity is hit over time, 0 = not at all, 1 = fully (values may exceed 1 slightly)."""

    lat: np.ndarray
    err: np.ndarray


def traffic_profile(rng: np.random.Generator, minutes: np.ndarray) -> np.ndarray:
    """Relative request rate around 1.0: daily cycle, a faster cycle (batch jobs), smooth noise."""
    daily = float(rng.uniform(0.15, 0.45)) * np.sin(2 * np.pi * minutes / 1440.0 + float(rng.uniform(0, 2 * np.pi)))
    fast_period = float(rng.uniform(40, 90))
    fast = float(rng.uniform(0.0, 0.08)) * np.sin(2 * np.pi * minutes / fast_period + float(rng.uniform(0, 2 * np.pi)))
    noise = _ar1(rng, minutes.size, 0.9, 0.03)
    return np.clip(1.0 + daily + fast + noise, 0.2, None)


def _ar1(rng: np.random.Generator, n: int, phi: float, sd: float) -> np.ndarray:
    """Stationary AR(1) noise with standard deviation ``sd`` (lfilter: no Python loop per sample)."""
    eps = rng.normal(0.0, sd * np.sqrt(1 - phi * phi), n)
    eps[0] = float(rng.normal(0.0, sd))
    return lfilter([1.0], [1.0, -phi], eps)


def _spikes(rng: np.random.Generator, n: int, rate: float, lo: float, hi: float) -> np.ndarray:
    """Multiplicative heavy-tailed blips (GC pauses, slow queries) that are *not* incidents."""
    mult = np.ones(n)
    hits = rng.random(n) < rate
    mult[hits] = rng.uniform(lo, hi, int(hits.sum()))
    return mult


def baseline(rng: np.random.Generator, kind: str, metric: str, traffic: np.ndarray) -> np.ndarray:
    """One metric's normal behaviour given the traffic its entity sees."""
    n = traffic.size
    noise = lambda sd, phi=0.6: _ar1(rng, n, phi, sd)  # noqa: E731
    if metric in ("latency_p95_s", "ttft_p95_s", "tpot_p95_s", "query_latency_p95_s"):
        base = {
            "latency_p95_s": rng.uniform(0.3, 1.6),
            "ttft_p95_s": rng.uniform(0.2, 0.9),
            "tpot_p95_s": rng.uniform(0.02, 0.07),
            "query_latency_p95_s": rng.uniform(0.02, 0.12),
        }[metric]
        load = 1.0 + float(rng.uniform(0.1, 0.5)) * (traffic - 1.0)
        return base * load * np.exp(noise(float(rng.uniform(0.04, 0.12)))) * _spikes(rng, n, 0.006, 1.3, 2.5)
    if metric == "error_rate":
        base = float(rng.uniform(0.001, 0.012))
        return np.clip(base * (1 + noise(0.35, 0.3)) * _spikes(rng, n, 0.004, 2.0, 5.0), 0.0, 1.0)
    if metric == "rps":
        return float(rng.uniform(5, 300)) * traffic * (1 + noise(0.04, 0.3))
    if metric == "tokens_per_s":
        return float(rng.uniform(400, 3500)) * traffic * (1 + noise(0.05, 0.5))
    if metric == "queue_len":
        return rng.poisson(float(rng.uniform(0.2, 4.0)) * traffic).astype(float)
    if metric == "kv_cache_usage":
        return np.clip(float(rng.uniform(0.25, 0.6)) * np.sqrt(traffic) + noise(0.025, 0.8), 0.0, 1.0)
    if metric == "cpu_usage":
        if kind == "node":
            return np.clip(float(rng.uniform(0.15, 0.55)) * (0.8 + 0.2 * traffic) + noise(0.04, 0.7), 0.01, 1.0)
        return np.clip(float(rng.uniform(0.1, 2.0)) * traffic * (1 + noise(0.08, 0.5)), 0.005, None)
    if metric == "mem_bytes":
        base = float(rng.uniform(0.5, 8.0)) * GiB
        drift = float(rng.uniform(-0.02, 0.03)) * base * np.linspace(0, 1, n)
        return base + drift + base * noise(0.01, 0.9)
    if metric == "mem_usage":
        return np.clip(float(rng.uniform(0.35, 0.75)) + noise(0.015, 0.9), 0.0, 1.0)
    if metric == "restarts":
        return np.full(n, float(rng.choice([0, 0, 0, 1, 2, 5])))
    if metric == "gpu_util":
        return np.clip(float(rng.uniform(0.45, 0.9)) * traffic**0.7 + noise(0.04, 0.6), 0.0, 1.0)
    if metric == "gpu_temp_c":
        return float(rng.uniform(50, 68)) + 8 * (traffic - 1.0) + noise(1.0, 0.9)
    if metric == "xid_errors":
        return np.zeros(n)
    raise ValueError(f"no baseline for {kind}/{metric}")


def apply_impact(rng: np.random.Generator, kind: str, metric: str, values: np.ndarray, imp: Impact) -> np.ndarray:
    """Turn an entity's impact into the change of one of its metrics (returns a new array)."""
    lat, err = imp.lat, imp.err
    if not (lat.any() or err.any()):
        return values
    gain = float(rng.uniform(1.5, 4.0))
    v = values.copy()
    if metric in ("latency_p95_s", "ttft_p95_s", "query_latency_p95_s"):
        v *= 1 + gain * lat + 0.6 * err
    elif metric == "tpot_p95_s":
        v *= 1 + 0.5 * gain * lat
    elif metric == "error_rate":
        jitter = np.exp(rng.normal(0.0, 0.12, v.size))
        v = np.clip(v + (float(rng.uniform(0.1, 0.4)) * err + 0.01 * lat) * jitter, 0.0, 1.0)
    elif metric == "rps":
        v *= 1 - 0.1 * lat - 0.05 * err
    elif metric == "tokens_per_s":
        v *= np.clip(1 - 0.45 * lat, 0.05, None)
    elif metric == "queue_len":
        v += rng.poisson(np.clip(float(rng.uniform(6, 20)) * lat, 0, None))
    elif metric == "kv_cache_usage":
        v = np.clip(v + 0.1 * lat, 0, 1)
    return v


def missing_mask(rng: np.random.Generator, n: int, rate: float = 0.004) -> np.ndarray:
    """Scrape misses: single dropped samples and, rarely, a short gap."""
    mask = rng.random(n) < rate
    if rng.random() < 0.05:
        start = int(rng.integers(0, max(n - 6, 1)))
        mask[start : start + int(rng.integers(2, 6))] = True
    return mask
