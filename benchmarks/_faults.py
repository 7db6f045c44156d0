"""Fault types and distractors, and how a fault's impact travels up the dependency chain.

Each fault function picks its root in the symptom's stack, changes the root's own metrics (often only mildly: a GPU
with Xid errors, a node under a CPU hog), records changes and events, and returns *seeds*: the impact profile at the
entities where the trouble starts. ``propagate`` carries seeds to dependents with per-edge lag and attenuation.

Distractors are things an on-call engineer sees that are *not* the cause: a harmless rollout minutes before the
symptom, noisy unrelated metrics, callers whose CPU rises from retries, another incident elsewhere in the fleet,
an old restart of a sibling pod.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ._signals import GiB, Impact
from ._world import AUTHORS, Rel, Stack, World, _hex

FAULTS = (
    "bad_rollout",
    "gpu_fault",
    "node_cpu_hog",
    "vectordb_slowdown",
    "memory_leak_oom",
    "kv_cache_pressure",
    "downstream_errors",
)


@dataclass
class Fault:
    """What one injected fault did: where it starts, what counts as a right answer."""

    name: str
    seeds: dict[str, Impact]
    root_causes: list[str]
    accept: list[str] = field(default_factory=list)
    onset: int = 0  # sample index where the root's own trouble starts


class Scene:
    """Mutable state of one case under construction: series, changes, events, relation edits."""

    def __init__(self, world: World, times: np.ndarray, rng: np.random.Generator, series_factory: Callable) -> None:
        self.world = world
        self.times = times
        self.n = times.size
        self.rng = rng
        self._factory = series_factory
        self.series: dict[tuple[str, str], np.ndarray] = {}
        self.changes: list[dict] = []
        self.events: list[dict] = []

    def metric(self, entity: str, metric: str) -> np.ndarray:
        """The series (created on first use from the entity's baseline), modified in place by faults."""
        key = (entity, metric)
        if key not in self.series:
            self.series[key] = self._factory(entity, metric)
        return self.series[key]

    def t(self, index: float) -> float:
        return float(self.times[0] + 60.0 * index)

    def ramp(self, start: int, width: int, level: float = 1.0) -> np.ndarray:
        """0 before ``start``, rising linearly over ``width`` samples to ``level``."""
        idx = np.arange(self.n, dtype=float)
        return level * np.clip((idx - start + 1) / max(width, 1), 0.0, 1.0)

    def event(self, entity: str, reason: str, index: float, message: str) -> None:
        self.events.append({"entity": entity, "reason": reason, "at": self.t(index), "message": message})

    def rollout(self, service: str, index: float, note: str) -> tuple[str, str]:
        """Swap the image of every pod of ``service`` at ``index`` (staggered by 30 s); returns (image, commit)."""
        w, rng = self.world, self.rng
        svc = w.services[service]
        commit = w.add(f"commit:{_hex(rng)}", author=str(rng.choice(AUTHORS)), message=note)
        image = w.add(f"image:sha256:{_hex(rng)}", repo=f"registry.local/{svc.stack}/{svc.role}")
        w.relate(image, "BUILT_FROM", commit)
        at0 = self.t(index)
        self.changes.append(
            {"entity": commit, "kind": "commit", "at": at0 - float(rng.uniform(20, 240)) * 60, "attrs": {"message": note}}
        )
        self.changes.append({"entity": service, "kind": "rollout", "at": at0, "attrs": {"image": image, "commit": commit}})
        for i, pod in enumerate(svc.pods):
            at = at0 + 30.0 * i
            for r in w.relations:
                if r.src == pod and r.kind == "RUNS" and r.dst == svc.image and r.valid_to is None:
                    r.valid_to = at
            w.relate(pod, "RUNS", image, at)
            self.changes.append(
                {"entity": pod, "kind": "image_swap", "at": at, "before": svc.image, "after": image, "commit": commit,
                 "attrs": {"author": w.entities[commit]["author"], "message": note}}
            )
            self.event(pod, "Pulled", index + i * 0.5, f"Successfully pulled image {image}")
            self.event(pod, "Started", index + i * 0.5 + 0.2, "Started container")
        svc.image, svc.commit = image, commit
        return image, commit


# -- propagation -----------------------------------------------------------------------------------------------------
def _shift(a: np.ndarray, lag: int) -> np.ndarray:
    if lag <= 0:
        return a
    return np.concatenate([np.zeros(lag), a[:-lag]])


def propagate(world: World, seeds: dict[str, Impact], rng: np.random.Generator) -> dict[str, Impact]:
    """Carry impact from the seeds to every dependent: lag 0-2 samples and attenuation per edge.

    A pod passes only part of its trouble to its service when the service has healthy replicas (p95 still sees the
    slow replica, the error rate is diluted).
    """
    dependents = world.dependents()
    out: dict[str, Impact] = {e: Impact(i.lat.copy(), i.err.copy()) for e, i in seeds.items()}
    queue = deque(sorted(seeds))
    while queue:
        u = queue.popleft()
        src = out[u]
        for v in sorted(dependents.get(u, ())):
            att = float(rng.uniform(0.75, 1.0))
            lag = int(rng.integers(0, 3))
            err_att = att
            if v in world.services and u in world.services[v].pods:
                replicas = len(world.services[v].pods)
                att *= 0.6 + 0.4 / replicas
                err_att *= 1.0 / replicas
            lat, err = _shift(src.lat, lag) * att, _shift(src.err, lag) * err_att
            if v in out:
                cur = out[v]
                new_lat, new_err = np.maximum(cur.lat, lat), np.maximum(cur.err, err)
                if np.allclose(new_lat, cur.lat) and np.allclose(new_err, cur.err):
                    continue
                out[v] = Impact(new_lat, new_err)
            else:
                out[v] = Impact(lat, err)
            queue.append(v)
    return out


# -- the seven fault types -------------------------------------------------------------------------------------------
def _pick(rng: np.random.Generator, items: list[str]) -> str:
    return items[int(rng.integers(len(items)))]


def bad_rollout(sc: Scene, stack: Stack, t0: int) -> Fault:
    """A new image (and the commit behind it) lowers the serving capacity: TTFT and queue rise right after it."""
    rng, w = sc.rng, sc.world
    target = stack.llm if rng.random() < 0.7 or not stack.rag else stack.rag
    image, commit = sc.rollout(target, t0, str(rng.choice(["lower max_num_seqs", "enable chunked prefill", "bump deps"])))
    pods = w.services[target].pods
    delay = int(rng.integers(1, 4))
    for pod in pods:  # new containers start a little different
        cpu = sc.metric(pod, "cpu_usage")
        cpu[t0 + delay :] *= float(rng.uniform(0.75, 1.25))
    level = float(rng.uniform(0.7, 1.2))
    seeds = {p: Impact(sc.ramp(t0 + delay, int(rng.integers(1, 5)), level), np.zeros(sc.n)) for p in pods}
    # the rolled-out service is a right answer too: "the rollout of <service>" is what an on-call engineer reverts
    return Fault("bad_rollout", seeds, [image], [commit, target, *pods], t0)


XID_MESSAGES = (
    "NVRM: Xid (PCI:0000:3b:00): 79, GPU has fallen off the bus",
    "NVRM: Xid (PCI:0000:86:00): 48, An uncorrectable double bit error (DBE) has been detected",
    "NVRM: Xid (PCI:0000:af:00): 94, Contained ECC error",
    "NVRM: Xid (PCI:0000:3b:00): 63, Row remapping event",
)


def gpu_fault(sc: Scene, stack: Stack, t0: int) -> Fault:
    """A GPU throws Xid errors; its own metrics move only a little, the model endpoint on it gets loud."""
    rng, w = sc.rng, sc.world
    pod = _pick(rng, w.services[stack.llm].pods)
    gpu = w.pod_gpu[pod]
    xid = sc.metric(gpu, "xid_errors")
    hits = t0 + np.unique(np.concatenate([[0], rng.integers(0, 8, int(rng.integers(0, 3)))]))
    hits = hits[hits < sc.n]
    xid[hits] += rng.integers(1, 4, hits.size)
    sc.metric(gpu, "gpu_util")[t0:] *= float(rng.uniform(0.7, 0.92))
    sc.metric(gpu, "gpu_temp_c")[t0:] += float(rng.uniform(1.0, 5.0))
    if rng.random() < 0.6:
        sc.event(gpu, "XidError", float(hits[0]), str(rng.choice(XID_MESSAGES)))
    seeds = {gpu: Impact(sc.ramp(t0, int(rng.integers(1, 4)), float(rng.uniform(0.8, 1.2))), sc.ramp(t0, 3, 0.15))}
    return Fault("gpu_fault", seeds, [gpu], [], t0)


def node_cpu_hog(sc: Scene, stack: Stack, t0: int) -> Fault:
    """Something outside Kubernetes' view eats a node's CPU; every pod on the node slows down."""
    rng, w = sc.rng, sc.world
    pods = [p for s in stack.services() if not s.startswith("llm:") for p in w.services[s].pods]
    node = w.pod_node[_pick(rng, pods)]
    cpu = sc.metric(node, "cpu_usage")
    width = int(rng.integers(2, 8))
    cpu[:] = np.clip(cpu + sc.ramp(t0, width, float(rng.uniform(0.3, 0.5))), 0, 0.99)
    seeds = {node: Impact(sc.ramp(t0 + 1, width, float(rng.uniform(0.6, 1.0))), np.zeros(sc.n))}
    return Fault("node_cpu_hog", seeds, [node], [], t0)


def vectordb_slowdown(sc: Scene, stack: Stack, t0: int) -> Fault:
    """The vector DB rebuilds its index: query latency climbs, its pods burn CPU, RAG answers slow down."""
    rng, w = sc.rng, sc.world
    vdb = stack.vdb
    assert vdb is not None
    for pod in w.services[vdb].pods:
        sc.metric(pod, "cpu_usage")[:] *= 1 + sc.ramp(t0, 3, float(rng.uniform(0.5, 1.5)))
    seeds = {vdb: Impact(sc.ramp(t0, int(rng.integers(1, 6)), float(rng.uniform(0.8, 1.3))), np.zeros(sc.n))}
    return Fault("vectordb_slowdown", seeds, [vdb], list(w.services[vdb].pods), t0)


def memory_leak_oom(sc: Scene, stack: Stack, t0: int) -> Fault:
    """A pod's memory climbs for tens of minutes, it is OOMKilled and restarts; requests fail meanwhile."""
    rng, w = sc.rng, sc.world
    services = [s for s in (stack.rag, stack.web, stack.tools, stack.vdb) if s]
    svc = _pick(rng, services)
    pod = _pick(rng, w.services[svc].pods)
    mem = sc.metric(pod, "mem_bytes")
    start = max(5, t0 - int(rng.integers(20, 60)))
    limit = float(np.nanmax(mem)) + float(rng.uniform(1.0, 4.0)) * GiB
    mem[start:t0] += (limit - mem[start:t0]) * np.linspace(0, 1, t0 - start) ** float(rng.uniform(0.8, 1.5))
    base = mem[t0:].copy()
    regrow = np.linspace(0, 1, sc.n - t0) * (limit - base) * float(rng.uniform(0.3, 0.8))
    mem[t0:] = base + regrow
    restarts = sc.metric(pod, "restarts")
    restarts[t0:] += 1
    sc.event(pod, "OOMKilled", t0 - 0.3, "Container killed: memory limit exceeded (exit code 137)")
    if rng.random() < 0.5:
        restarts[t0 + 3 :] += 1
        sc.event(pod, "BackOff", t0 + 3, "Back-off restarting failed container")
    burst = np.zeros(sc.n)
    width = int(rng.integers(2, 6))
    burst[t0 : t0 + width] = 1.0
    burst[t0 + width :] = float(rng.uniform(0.3, 0.6))
    seeds = {pod: Impact(burst * float(rng.uniform(0.6, 1.0)), burst * float(rng.uniform(0.6, 1.0)))}
    svc_obj = w.services[svc]
    return Fault("memory_leak_oom", seeds, [pod], [svc_obj.image, svc_obj.commit], start)


def kv_cache_pressure(sc: Scene, stack: Stack, t0: int) -> Fault:
    """Longer prompts fill the KV cache; requests queue and are preempted, TTFT climbs."""
    rng, w = sc.rng, sc.world
    llm = stack.llm
    width = int(rng.integers(3, 10))
    kv = sc.metric(llm, "kv_cache_usage")
    top = float(rng.uniform(0.9, 0.99))
    kv[:] = kv + (top - kv) * sc.ramp(t0, width)
    seeds = {llm: Impact(sc.ramp(t0 + 1, width, float(rng.uniform(0.6, 1.1))), np.zeros(sc.n))}
    return Fault("kv_cache_pressure", seeds, [llm], list(w.services[llm].pods), t0)


def downstream_errors(sc: Scene, stack: Stack, t0: int) -> Fault:
    """A downstream app starts failing; its callers retry (their CPU rises) and pass the errors on."""
    rng, w = sc.rng, sc.world
    tools = stack.tools
    assert tools is not None
    level = float(rng.uniform(0.6, 1.2))
    seeds = {tools: Impact(sc.ramp(t0, 2, 0.2 * level), sc.ramp(t0, int(rng.integers(1, 4)), level))}
    return Fault("downstream_errors", seeds, [tools], list(w.services[tools].pods), t0)


FAULT_FUNCS: dict[str, Callable[[Scene, Stack, int], Fault]] = {
    "bad_rollout": bad_rollout,
    "gpu_fault": gpu_fault,
    "node_cpu_hog": node_cpu_hog,
    "vectordb_slowdown": vectordb_slowdown,
    "memory_leak_oom": memory_leak_oom,
    "kv_cache_pressure": kv_cache_pressure,
    "downstream_errors": downstream_errors,
}


# -- distractors ------------------------------------------------------------------------------------------------------
def harmless_rollout(sc: Scene, stack: Stack, t0: int, fault: Fault) -> str:
    """Another service of the same stack rolls out minutes before (or just after) the onset, and nothing breaks."""
    rng, w = sc.rng, sc.world
    busy = {w.pod_service.get(r, r) for r in fault.root_causes + fault.accept}
    options = [s for s in stack.services() if s not in busy and w.services[s].stack == stack.name]
    if not options:
        return ""
    svc = _pick(rng, options)
    at = int(np.clip(t0 + int(rng.integers(-15, 4)), 2, sc.n - 2))
    sc.rollout(svc, at, str(rng.choice(["update dashboards", "log format tweak", "bump base image"])))
    for pod in w.services[svc].pods:  # a brief warm-up blip only
        cpu = sc.metric(pod, "cpu_usage")
        cpu[at : at + 2] *= float(rng.uniform(1.1, 1.6))
    return f"harmless_rollout:{svc}"


def noisy_metrics(sc: Scene, stack: Stack, t0: int, fault: Fault) -> str:
    """Unrelated metrics in the neighbourhood misbehave: spikes, a level shift, a flapping error rate."""
    rng, w = sc.rng, sc.world
    guilty = set(fault.root_causes + fault.accept)
    near: list[tuple[str, str]] = []
    for s in stack.services():
        for p in w.services[s].pods:
            if p not in guilty:
                near.append((p, "cpu_usage"))
                near.append((p, "mem_bytes"))
                if p in w.pod_gpu and w.pod_gpu[p] not in guilty:
                    near.append((w.pod_gpu[p], "gpu_temp_c"))
    if not near:
        return ""
    picked = []
    for _ in range(int(rng.integers(1, 4))):
        ent, met = near[int(rng.integers(len(near)))]
        v = sc.metric(ent, met)
        style = int(rng.integers(3))
        at = int(rng.integers(sc.n // 3, sc.n - 3))
        if style == 0:  # spikes
            hits = rng.random(sc.n) < 0.05
            v[hits] *= rng.uniform(1.5, 3.0, int(hits.sum()))
        elif style == 1:  # level shift that affects nobody
            v[at:] *= float(rng.uniform(1.3, 1.8)) if met != "gpu_temp_c" else 1.08
        else:  # oscillation
            v *= 1 + 0.2 * np.sin(np.arange(sc.n) / float(rng.uniform(2, 6)))
        picked.append(f"{ent}/{met}")
    return "noisy:" + ",".join(picked)


def loud_caller(sc: Scene, stack: Stack, t0: int, fault: Fault, impacts: dict[str, Impact]) -> str:
    """The front app times out and retries: its pods' CPU climbs with the symptom (applied after propagation)."""
    rng, w = sc.rng, sc.world
    imp = impacts.get(stack.web)
    if imp is None:
        return ""
    gain = float(rng.uniform(0.6, 1.5))
    for pod in w.services[stack.web].pods:
        sc.metric(pod, "cpu_usage")[:] *= 1 + gain * np.clip(imp.lat + imp.err, 0, 1.5)
    return f"loud_caller:{stack.web}"


def sibling_restart(sc: Scene, stack: Stack, t0: int, fault: Fault) -> str:
    """A pod of the stack crash-looped half an hour earlier and recovered: an old, irrelevant restart."""
    rng, w = sc.rng, sc.world
    guilty = set(fault.root_causes + fault.accept)
    pods = [p for s in stack.services() for p in w.services[s].pods if p not in guilty]
    if not pods:
        return ""
    pod = _pick(rng, pods)
    at = max(3, t0 - int(rng.integers(25, 70)))
    sc.metric(pod, "restarts")[at:] += 1
    sc.event(pod, "BackOff", at, "Back-off restarting failed container")
    return f"sibling_restart:{pod}"
