"""Seeded scenario generator: AI-app incidents of 20 to 50,000 entities written in the case format.

One seed fixes everything: the fleet (stacks of users -> web app -> rag app -> llm endpoint / vector DB -> pods on
nodes and GPUs, images, commits, padded with unrelated stacks), the baseline series, the fault and its propagation,
the distractors, and ``truth.json``. Nothing reads the clock or global random state.

Two seed sets are kept apart on purpose: ``DEV`` for tuning detectors and the ranker, ``HELDOUT`` for the numbers
that go into BENCHMARKS.md. Tuning on the reported cases would make the numbers meaningless.

Usage::

    python -m benchmarks.scenarios --suite heldout --out benchmarks/out/cases/heldout
    python -m benchmarks.scenarios --seed 7 --fault gpu_fault --entities 5000 --out /tmp/case

Metrics scope: a case holds the series of the symptom stack's neighbourhood (its services, pods, GPUs, nodes, and
the pods and services sharing those nodes) plus at most ``fleet_series`` series sampled from the rest of the fleet,
as an incident recorder querying Prometheus around the symptom would. ``fleet_series=None`` writes every series.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ._faults import (
    FAULT_FUNCS,
    FAULTS,
    Fault,
    Scene,
    harmless_rollout,
    loud_caller,
    noisy_metrics,
    propagate,
    sibling_restart,
)
from ._signals import METRICS, STEP_S, Impact, apply_impact, baseline, missing_mask, traffic_profile
from ._world import Stack, World, WorldBuilder

N_SAMPLES = 180  # 3 hours at one sample a minute
T_BASE = 1795132800.0  # 2026-11-19T00:00:00Z: fixed, so cases never depend on today's date
SIZES = (20, 60, 200, 1000, 5000)
DEV = tuple(range(1000, 1070))  # tune on these
HELDOUT = tuple(range(900_000, 900_105))  # report on these: 15 cases per fault type


@dataclass(frozen=True)
class CaseSpec:
    """Everything that determines one generated case."""

    seed: int
    fault: str
    entities: int
    distractors: tuple[str, ...] = ("harmless_rollout", "noisy", "loud_caller", "simultaneous", "sibling_restart")
    fleet_series: int | None = 1500
    samples: int = N_SAMPLES
    """Samples per series before the cut at the alert (the speed benchmark's 110 MB case uses more)."""
    concurrent: str | None = None
    """A second, independent fault of this kind under the same symptom (``benchmarks/concurrent.py``)."""


@dataclass
class GeneratedCase:
    spec: CaseSpec
    topology: dict
    metrics: dict[tuple[str, str], np.ndarray]
    times: np.ndarray
    incident: dict
    changes: list[dict]
    events: list[dict]
    truth: dict
    notes: list[str] = field(default_factory=list)


def spec_for(seed: int, fleet_series: int | None = 1500) -> CaseSpec:
    """The suite's case for ``seed``: fault types cycle with the seed, the size is drawn from it."""
    rng = np.random.default_rng(seed)
    fault = FAULTS[seed % len(FAULTS)]
    size = int(SIZES[int(rng.integers(len(SIZES)))])
    chosen = tuple(
        d
        for d, p in (("harmless_rollout", 0.6), ("noisy", 0.7), ("loud_caller", 0.5), ("simultaneous", 0.5), ("sibling_restart", 0.4))
        if rng.random() < p
    )
    return CaseSpec(seed=seed, fault=fault, entities=size, distractors=chosen, fleet_series=fleet_series)


def suite(name: str) -> list[CaseSpec]:
    """``dev`` (tuning) or ``heldout`` (reporting)."""
    seeds = {"dev": DEV, "heldout": HELDOUT}[name]
    return [spec_for(s) for s in seeds]


# -- generation -------------------------------------------------------------------------------------------------------
def _build_world(rng: np.random.Generator, spec: CaseSpec, t_start: float) -> tuple[World, Stack]:
    builder = WorldBuilder(rng, t_start)
    need_rag = spec.fault == "vectordb_slowdown" or rng.random() < 0.6 or spec.concurrent == "vectordb_slowdown"
    need_tools = spec.fault == "downstream_errors" or spec.concurrent == "downstream_errors"
    stack = builder.add_stack(need_rag=need_rag, need_tools=need_tools, minimal=spec.entities <= 30)
    while len(builder.world.entities) < spec.entities - 15:
        builder.add_stack()
    return builder.world, stack


def _neighbourhood(world: World, stack: Stack) -> set[str]:
    """Entities whose series a recorder around the symptom would keep."""
    near: set[str] = set(stack.services())
    pods = [p for s in stack.services() for p in world.services[s].pods]
    near.update(pods)
    nodes = {world.pod_node[p] for p in pods}
    near.update(nodes)
    near.update(world.pod_gpu[p] for p in pods if p in world.pod_gpu)
    for pod, node in world.pod_node.items():  # co-tenants of the stack's nodes and the services they carry
        if node in nodes:
            near.add(pod)
            near.add(world.pod_service[pod])
    return near


def generate(spec: CaseSpec) -> GeneratedCase:
    """Build one case in memory (``write_case`` puts it on disk)."""
    if spec.fault not in FAULT_FUNCS:
        raise ValueError(f"unknown fault {spec.fault!r}; choose from {', '.join(FAULTS)}")
    rng = np.random.default_rng([spec.seed, 0x5CE7A])
    t_start = T_BASE + 60.0 * int(rng.integers(0, 1440))
    times = t_start + STEP_S * np.arange(spec.samples, dtype=float)
    minutes = times / 60.0
    world, stack = _build_world(rng, spec, t_start)

    traffic = {s.name: traffic_profile(rng, minutes) for s in world.stacks}
    node_traffic = {n: traffic_profile(rng, minutes) for n in world.node_kind}

    def entity_traffic(entity: str) -> np.ndarray:
        kind = entity.split(":", 1)[0]
        if kind == "node":
            return node_traffic[entity]
        if kind == "gpu":
            pods = [p for p, g in world.pod_gpu.items() if g == entity]
            entity = pods[0] if pods else entity
            kind = "pod" if pods else kind
        if kind == "pod":
            entity = world.pod_service[entity]
        svc = world.services.get(entity)
        return traffic[svc.stack] if svc else node_traffic[next(iter(node_traffic))]

    def factory(entity: str, metric: str) -> np.ndarray:
        # a per-series generator seeded by name: a series looks the same whatever order faults touch it in
        sub = np.random.default_rng([spec.seed, abs(hash_str(entity)) % (2**32), abs(hash_str(metric)) % (2**32)])
        return baseline(sub, entity.split(":", 1)[0], metric, entity_traffic(entity))

    sc = Scene(world, times, rng, factory)
    t0 = spec.samples - 1 - int(rng.integers(10, 30))
    fault = FAULT_FUNCS[spec.fault](sc, stack, t0)
    notes: list[str] = []

    # distractors that act before propagation
    if "harmless_rollout" in spec.distractors:
        notes.append(harmless_rollout(sc, stack, t0, fault))
    if "noisy" in spec.distractors:
        notes.append(noisy_metrics(sc, stack, t0, fault))
    if "sibling_restart" in spec.distractors:
        notes.append(sibling_restart(sc, stack, t0, fault))
    second: Fault | None = None
    if "simultaneous" in spec.distractors:
        others = [s for s in world.stacks if s is not stack and not set(s.services()) & set(stack.services())]
        if others:
            other = others[int(rng.integers(len(others)))]
            kinds = ["memory_leak_oom", "kv_cache_pressure", "gpu_fault", "bad_rollout"]
            if other.tools:
                kinds.append("downstream_errors")
            if other.vdb:
                kinds.append("vectordb_slowdown")
            kind = kinds[int(rng.integers(len(kinds)))]
            second = FAULT_FUNCS[kind](sc, other, int(np.clip(t0 + int(rng.integers(-20, 8)), 70, spec.samples - 3)))
            notes.append(f"simultaneous:{kind}@{second.root_causes[0]}")

    also: Fault | None = None
    if spec.concurrent:  # a second fault in the same stack, starting within a few minutes of the first
        also = FAULT_FUNCS[spec.concurrent](sc, stack, int(np.clip(t0 + int(rng.integers(-4, 5)), 70, spec.samples - 3)))
        notes.append(f"concurrent:{spec.concurrent}@{also.root_causes[0]}")
        fault = Fault(fault.name, {**also.seeds, **fault.seeds}, fault.root_causes, fault.accept, min(fault.onset, also.onset))
    impacts = propagate(world, fault.seeds, rng)
    sym = impacts.get(stack.web)
    peak = float(np.max(sym.lat + sym.err)) if sym is not None else 0.0
    if peak < 0.5:  # the alert fired, so the symptom must be clearly hit: scale this fault up
        factor = min(0.5 / max(peak, 1e-3), 4.0)
        impacts = {e: Impact(i.lat * factor, i.err * factor) for e, i in impacts.items()}
        sym = impacts.get(stack.web)
    if second is not None:
        for e, i in propagate(world, second.seeds, rng).items():
            cur = impacts.get(e)
            impacts[e] = i if cur is None else Impact(np.maximum(cur.lat, i.lat), np.maximum(cur.err, i.err))

    # what exists: the neighbourhood, everything touched, and a sample of the fleet
    near = _neighbourhood(world, stack) | {e for e, _ in sc.series} | set(impacts)
    candidates = sorted(
        (e, m) for e, attrs in world.entities.items() for m in METRICS.get(e.split(":", 1)[0], ()) if True
    )
    keep = [(e, m) for e, m in candidates if e in near]
    rest = [(e, m) for e, m in candidates if e not in near]
    if spec.fleet_series is not None and len(rest) > spec.fleet_series:
        idx = np.sort(rng.choice(len(rest), spec.fleet_series, replace=False))
        rest = [rest[i] for i in idx]
    for e, m in keep + rest:
        sc.metric(e, m)

    for (e, m), v in sc.series.items():
        imp = impacts.get(e)
        if imp is not None:
            sc.series[(e, m)] = apply_impact(rng, e.split(":", 1)[0], m, v, imp)
    # retries: every caller whose calls fail burns CPU (the loud innocent neighbour)
    for svc_id, imp in sorted(impacts.items()):
        svc = world.services.get(svc_id)
        if svc is None or not imp.err.any() or svc_id in fault.root_causes:
            continue
        for pod in svc.pods:
            if (pod, "cpu_usage") in sc.series:
                sc.series[(pod, "cpu_usage")] = sc.series[(pod, "cpu_usage")] * (1 + float(rng.uniform(0.6, 1.5)) * imp.err)
    if "loud_caller" in spec.distractors:
        notes.append(loud_caller(sc, stack, t0, fault, impacts))

    # the alert fires a few minutes after the symptom moves; the recording stops at the alert
    assert sym is not None
    hit = np.flatnonzero(sym.lat + sym.err > 0.15)
    onset_sym = int(hit[0]) if hit.size else t0
    at_idx = int(min(spec.samples - 1, onset_sym + int(rng.integers(2, 7))))
    n_keep = at_idx + 1
    metrics: dict[tuple[str, str], np.ndarray] = {}
    for (e, m), v in sorted(sc.series.items()):
        v = v[:n_keep].copy()
        if m in ("restarts", "xid_errors", "queue_len"):
            v = np.round(v)
        v[missing_mask(rng, n_keep)] = np.nan
        metrics[(e, m)] = v
    times = times[:n_keep]
    at = float(times[-1])

    metric = "error_rate" if float(sym.err[:n_keep].max()) > float(sym.lat[:n_keep].max()) else "latency_p95_s"
    incident = {
        "symptom": stack.web,
        "metric": metric,
        "at": iso(at),
        "lookback": "60m",
        "title": f"{stack.web.split(':', 1)[1]} {'error rate' if metric == 'error_rate' else 'p95 latency'} above SLO",
    }
    changes = sorted(
        ({**c, "at": iso(c["at"])} for c in sc.changes + _background_changes(rng, world, stack, times) if c["at"] <= at),
        key=lambda c: (c["at"], c["entity"]),
    )
    events = sorted(
        ({**e, "at": iso(e["at"])} for e in sc.events + _background_events(rng, world, times) if e["at"] <= at),
        key=lambda e: (e["at"], e["entity"]),
    )
    truth = {
        "root_causes": fault.root_causes,
        "accept": fault.accept,
        "fault": spec.fault,
        "seed": spec.seed,
        "entities": len(world.entities),
        "onset": iso(float(times[min(fault.onset, n_keep - 1)])),
        "distractors": [n for n in notes if n],
    }
    if also is not None:  # either fault is a right answer; the concurrent benchmark asks for both in the top 3
        truth["root_causes"] = fault.root_causes + also.root_causes
        truth["accept"] = fault.accept + also.accept
        truth["faults"] = [{"fault": spec.fault, "answers": fault.root_causes + fault.accept},
                           {"fault": spec.concurrent, "answers": also.root_causes + also.accept}]
    return GeneratedCase(spec, _topology(world), metrics, times, incident, changes, events, truth, notes)


def hash_str(text: str) -> int:
    """A stable string hash (Python's ``hash`` is salted per process)."""
    h = 1469598103934665603
    for ch in text.encode():
        h = ((h ^ ch) * 1099511628211) % (1 << 64)
    return h


def _background_changes(rng: np.random.Generator, world: World, stack: Stack, times: np.ndarray) -> list[dict]:
    """Fleet life: other teams scale and reconfigure things during the window (never the symptom stack)."""
    out = []
    for other in world.stacks:
        if other is stack or rng.random() > 0.08:
            continue
        svc = other.services()[int(rng.integers(len(other.services())))]
        kind = str(rng.choice(["scale", "config_change"]))
        out.append({"entity": svc, "kind": kind, "at": float(rng.uniform(times[0], times[-1])), "attrs": {"by": "ci"}})
    return out


def _background_events(rng: np.random.Generator, world: World, times: np.ndarray) -> list[dict]:
    pods = sorted(world.pod_service)
    out = []
    for _ in range(int(rng.integers(0, 3 + len(pods) // 40))):
        pod = pods[int(rng.integers(len(pods)))]
        out.append(
            {"entity": pod, "reason": "Unhealthy", "at": float(rng.uniform(times[0], times[-1])),
             "message": "Readiness probe failed: HTTP probe failed with statuscode: 503"}
        )
    return out


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _topology(world: World) -> dict:
    entities = [{"id": e, "kind": e.split(":", 1)[0], "attrs": attrs} for e, attrs in sorted(world.entities.items())]
    relations = [
        {"src": r.src, "kind": r.kind, "dst": r.dst,
         "valid_from": iso(r.valid_from) if r.valid_from is not None else None,
         "valid_to": iso(r.valid_to) if r.valid_to is not None else None}
        for r in world.relations
    ]
    return {"entities": entities, "relations": relations}


# -- writing ----------------------------------------------------------------------------------------------------------
def write_case(case: GeneratedCase, out: str | os.PathLike[str], *, with_truth: bool = True,
               iso_times: bool = False, full_precision: bool = False) -> Path:
    """Write the case directory (replacing one that is there).

    ``iso_times`` writes ISO-8601 timestamps instead of epoch seconds and ``full_precision`` every digit of each
    value instead of six, as some exporters do (the speed benchmark's big case uses both).
    """
    path = Path(out)
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    (path / "topology.json").write_text(json.dumps(case.topology, indent=None), encoding="utf-8")
    (path / "incident.json").write_text(json.dumps(case.incident, indent=2), encoding="utf-8")
    (path / "changes.json").write_text(json.dumps(case.changes, indent=1), encoding="utf-8")
    (path / "events.json").write_text(json.dumps(case.events, indent=1), encoding="utf-8")
    if with_truth:
        (path / "truth.json").write_text(json.dumps(case.truth, indent=2), encoding="utf-8")
    stamps = [iso(t) if iso_times else str(int(t)) for t in case.times]
    with open(path / "metrics.csv", "w", encoding="utf-8", newline="") as handle:
        handle.write("timestamp,entity,metric,value\n")
        for (entity, metric), values in case.metrics.items():
            mid = f",{entity},{metric},"
            handle.write(
                "".join(
                    f"{s}{mid}{'' if v != v else repr(v) if full_precision else format(v, '.6g')}\n"
                    for s, v in zip(stamps, values.tolist())
                )
            )
    return path


def write_suite(name: str, out: str | os.PathLike[str], *, limit: int | None = None) -> list[Path]:
    """Generate a whole seed set into ``out/<seed>-<fault>/``."""
    specs = suite(name)[:limit] if limit else suite(name)
    return [write_case(generate(s), Path(out) / f"{s.seed}-{s.fault}") for s in specs]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--suite", choices=["dev", "heldout"])
    ap.add_argument("--limit", type=int)
    ap.add_argument("--seed", type=int)
    ap.add_argument("--fault", choices=FAULTS)
    ap.add_argument("--entities", type=int)
    ap.add_argument("--all-series", action="store_true", help="write every fleet series (large files)")
    args = ap.parse_args(argv)
    if args.suite:
        for p in write_suite(args.suite, args.out, limit=args.limit):
            print(p)
        return 0
    if args.seed is None:
        ap.error("--suite or --seed is required")
    spec = spec_for(args.seed, None if args.all_series else 1500)
    if args.fault or args.entities:
        spec = CaseSpec(
            seed=spec.seed, fault=args.fault or spec.fault, entities=args.entities or spec.entities,
            distractors=spec.distractors, fleet_series=spec.fleet_series,
        )
    print(write_case(generate(spec), args.out))
    return 0


__all__ = ["CaseSpec", "DEV", "FAULTS", "HELDOUT", "GeneratedCase", "generate", "spec_for", "suite", "write_case", "write_suite"]

if __name__ == "__main__":
    raise SystemExit(main())
