"""A second generator, independent of ``scenarios.py``: faulty releases among several rollouts.

Why a second generator: the ranker is fitted on generated data too, and one generator teaches its own habits. This
one is written separately, around the situation the first one barely covers: **several services are rolled out
within minutes of each other and one of the releases is bad** — the rule "blame the most recent rollout" is right
only when the bad one happens to be last. It also varies what a real cluster would vary: how a rollout is recorded
(a full rollout record, a record without images, or nothing but the topology's replaced pods), how the bad release
shows (slower new pods, failing new pods, hot new pods, or new pods that crash-loop and never report a sample), and
the call graph itself (random layered microservices, 6–14 services, 2–3 replicas, databases at the leaves).

Every rollout replaces its pods: new pods (new names) start running the new image, staggered by 30 s, and the old
pods stop a minute later (their relations close, their series end). Samples are 1-min; 4 hours of history.

Truth: the bad release's new image (``root_causes``); its commit, the rolled-out service and its new pods are
accepted (the rollout of that service is what an on-call engineer reverts).

Seeds: ``DEV`` (2000–2039) for fitting, ``HELDOUT`` (3000–3039) for reporting only.

Usage::

    python -m benchmarks.releases --suite heldout --out benchmarks/out/cases/releases-heldout
"""

from __future__ import annotations

import argparse
import json
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

STEP = 60
N = 240
T0 = 1795219200.0  # 2026-11-20T00:00:00Z, fixed
DEV = tuple(range(2000, 2040))
HELDOUT = tuple(range(3000, 3040))
EFFECTS = ("slow", "failing", "hot", "crashloop")
NS = "shop"


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _hex(rng: np.random.Generator, n: int = 10) -> str:
    return "".join(rng.choice(list("0123456789abcdef"), n))


@dataclass
class Service:
    name: str
    kind: str
    layer: int
    calls: list[str] = field(default_factory=list)
    pods: list[str] = field(default_factory=list)
    image: str = ""
    commit: str = ""
    base_latency: float = 0.02
    base_error: float = 0.001


@dataclass
class Release:
    service: str
    at: float
    old_pods: list[str]
    new_pods: list[str]
    old_image: str
    new_image: str
    commit: str
    bad: bool
    record: str  # "full", "bare", "none"


class Builder:
    """Builds one case: the world, the rollouts, the series, then writes the case directory."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.entities: dict[str, dict] = {}
        self.relations: list[dict] = []
        self.services: dict[str, Service] = {}
        self.nodes: list[str] = []
        self.pod_node: dict[str, str] = {}
        self.pod_span: dict[str, tuple[float, float]] = {}
        self.changes: list[dict] = []
        self.events: list[dict] = []
        self.times = T0 + STEP * np.arange(N)

    # -- world -------------------------------------------------------------------------------------------------------
    def add(self, entity: str, **attrs: object) -> str:
        self.entities.setdefault(entity, {"id": entity, "kind": entity.split(":", 1)[0], "attrs": dict(attrs)})
        return entity

    def relate(self, src: str, kind: str, dst: str, start: float | None = None, end: float | None = None) -> None:
        self.relations.append({"src": src, "kind": kind, "dst": dst, "valid_from": iso(start) if start else None,
                               "valid_to": iso(end) if end else None})

    def build_world(self) -> None:
        rng = self.rng
        words = ["cart", "checkout", "catalog", "search", "pricing", "user", "auth", "ship", "payment", "review",
                 "recommend", "stock", "notify", "media", "promo", "session"]
        rng.shuffle(words)
        n = int(rng.integers(6, 15))
        layers = [["frontend"]]
        remaining = words[: n - 1]
        depth = int(rng.integers(2, 4))
        for d in range(depth):
            k = max(1, len(remaining) // (depth - d)) if d < depth - 1 else len(remaining)
            layers.append(remaining[:k])
            remaining = remaining[k:]
        self.nodes = [self.add(f"node:worker-{i}") for i in range(int(rng.integers(3, 7)))]
        for li, layer in enumerate(layers):
            for name in layer:
                leaf = li == len(layers) - 1
                kind = "db" if leaf and rng.random() < 0.4 else "app"
                svc = Service(name=name, kind=kind, layer=li, base_latency=float(rng.uniform(0.005, 0.05)),
                              base_error=float(rng.uniform(0.0, 0.004)))
                self.services[name] = svc
                sid = self.add(f"{kind}:{name}")
                svc.commit = self.add(f"commit:{_hex(rng)}", author=f"dev{int(rng.integers(1, 9))}@example.com")
                svc.image = self.add(f"image:registry.local/{name}@sha256:{_hex(rng, 12)}")
                self.relate(svc.image, "BUILT_FROM", svc.commit)
                for i in range(int(rng.integers(2, 4))):
                    pod = self.new_pod(svc, None)
                    svc.pods.append(pod)
                del sid
        for li, layer in enumerate(layers[:-1]):
            deeper = [s for l2 in layers[li + 1:] for s in l2]
            for name in layer:
                k = int(min(len(deeper), rng.integers(1, 4)))
                targets = list(rng.choice(deeper, size=k, replace=False))
                if li + 1 < len(layers) and not set(targets) & set(layers[li + 1]):
                    targets[0] = str(rng.choice(layers[li + 1]))
                self.services[name].calls = sorted(set(map(str, targets)))
            for callee in layers[li + 1]:  # every service has a caller: all of them sit under the frontend
                if not any(callee in self.services[c].calls for c in layer):
                    self.services[str(rng.choice(layer))].calls.append(callee)
        for svc in self.services.values():
            for callee in svc.calls:
                c = self.services[callee]
                self.relate(self.sid(svc.name), "QUERIES" if c.kind == "db" else "CALLS", self.sid(callee))
        self.add("user:shoppers")
        self.relate("user:shoppers", "CALLS", "app:frontend")

    def sid(self, name: str) -> str:
        return f"{self.services[name].kind}:{name}"

    def new_pod(self, svc: Service, start: float | None, image: str | None = None) -> str:
        pod = self.add(f"pod:{NS}/{svc.name}-{_hex(self.rng, 5)}-{_hex(self.rng, 4)}", namespace=NS)
        node = str(self.rng.choice(self.nodes))
        self.pod_node[pod] = node
        self.pod_span[pod] = (start if start is not None else -np.inf, np.inf)
        self.relate(self.sid(svc.name), "RUNS_ON", pod, start)
        self.relate(pod, "RUNS", image or svc.image, start)
        self.relate(pod, "SCHEDULED_ON", node, start)
        return pod

    def end_pod(self, pod: str, at: float) -> None:
        start, _ = self.pod_span[pod]
        self.pod_span[pod] = (start, at)
        for r in self.relations:
            if (r["src"] == pod or r["dst"] == pod) and r["valid_to"] is None and r["kind"] in ("RUNS_ON", "RUNS", "SCHEDULED_ON"):
                r["valid_to"] = iso(at)

    # -- rollouts ----------------------------------------------------------------------------------------------------
    def roll_out(self, name: str, at: float, bad: bool, record: str) -> Release:
        rng, svc = self.rng, self.services[name]
        commit = self.add(f"commit:{_hex(rng)}", author=f"dev{int(rng.integers(1, 9))}@example.com",
                          message=str(rng.choice(["bump deps", "new pricing rule", "refactor client", "tune pool size"])))
        image = self.add(f"image:registry.local/{name}@sha256:{_hex(rng, 12)}")
        self.relate(image, "BUILT_FROM", commit)
        old = list(svc.pods)
        new = []
        for i, pod in enumerate(old):
            t = at + 30 * i
            new.append(self.new_pod(svc, t, image))
            self.end_pod(pod, t + 60)
            self.events.append({"entity": new[-1], "reason": "Pulled", "at": iso(t + 5), "message": f"pulled {image}"})
            self.events.append({"entity": pod, "reason": "Killing", "at": iso(t + 60), "message": "Stopping container"})
        release = Release(name, at, old, new, svc.image, image, commit, bad, record)
        if record == "full":
            self.changes.append({"entity": self.sid(name), "kind": "rollout", "at": iso(at), "before": svc.image,
                                 "after": image, "commit": commit, "attrs": {"message": self.entities[commit]["attrs"]["message"]}})
        elif record == "bare":
            self.changes.append({"entity": self.sid(name), "kind": "rollout", "at": iso(at), "attrs": {"by": "argo"}})
        svc.pods, svc.image, svc.commit = new, image, commit
        return release

    # -- series ------------------------------------------------------------------------------------------------------
    def series(self, releases: list[Release], effect: str, t_bad: float) -> tuple[dict, str]:
        rng, t = self.rng, self.times
        phase = rng.uniform(0, 2 * np.pi)
        traffic = 100 * (1 + 0.25 * np.sin(2 * np.pi * (t - T0) / 86400 * 6 + phase)) * rng.uniform(0.5, 3)
        bad = next(r for r in releases if r.bad)
        factor = float(rng.uniform(1.8, 5.0))
        own_lat: dict[str, np.ndarray] = {}
        own_err: dict[str, np.ndarray] = {}
        pod_lat: dict[str, np.ndarray] = {}
        pod_err: dict[str, np.ndarray] = {}
        pod_cpu_mult: dict[str, np.ndarray] = {}
        for name, svc in self.services.items():
            all_pods = [p for p in self.pod_span if p.startswith(f"pod:{NS}/{name}-")]
            for pod in all_pods:
                lat = svc.base_latency * (1 + 0.08 * rng.standard_normal(N)) * (1 + 0.1 * (traffic / traffic.mean() - 1))
                err = np.clip(svc.base_error + 0.0008 * rng.standard_normal(N), 0, 1)
                mult = np.ones(N)
                if name == bad.service and pod in bad.new_pods:
                    on = t >= t_bad
                    if effect == "slow":
                        lat = np.where(on, lat + factor * float(rng.uniform(0.05, 0.2)), lat)
                    elif effect == "failing":
                        err = np.where(on, np.clip(err + rng.uniform(0.05, 0.4), 0, 1), err)
                    elif effect == "hot":
                        mult = np.where(on, rng.uniform(2.0, 4.0), 1.0)
                        lat = np.where(on, lat + float(rng.uniform(0.03, 0.2)), lat)
                elif any(pod in r.new_pods for r in releases if not r.bad):
                    mult = mult * rng.uniform(0.85, 1.2)  # a harmless release runs a little differently
                pod_lat[pod], pod_err[pod], pod_cpu_mult[pod] = lat, err, mult
            alive = [(p, (t >= self.pod_span[p][0]) & (t < self.pod_span[p][1])) for p in all_pods]
            if effect == "crashloop" and name == bad.service:
                alive = [(p, a & ~((t >= t_bad) & np.isin(p, bad.new_pods))) for p, a in alive]
            mask = np.array([a for _, a in alive], dtype=float)
            cnt = mask.sum(axis=0)
            lat_mat = np.array([pod_lat[p] for p, _ in alive])
            err_mat = np.array([pod_err[p] for p, _ in alive])
            with np.errstate(invalid="ignore", divide="ignore"):
                own_lat[name] = np.where(cnt > 0, (lat_mat * mask).sum(0) / np.maximum(cnt, 1), 5.0)
                own_err[name] = np.where(cnt > 0, (err_mat * mask).sum(0) / np.maximum(cnt, 1), 1.0)
            if effect == "crashloop" and name == bad.service:
                expected = len(bad.new_pods)
                overload = np.where(t >= t_bad, expected / np.maximum(cnt, 0.5), 1.0)
                own_lat[name] = own_lat[name] * np.minimum(overload, 6.0)
                own_err[name] = np.clip(own_err[name] + np.where((t >= t_bad) & (cnt == 0), 0.9, 0.0), 0, 1)
        total_lat: dict[str, np.ndarray] = {}
        total_err: dict[str, np.ndarray] = {}
        for name in sorted(self.services, key=lambda n: -self.services[n].layer):
            svc = self.services[name]
            lat = own_lat[name].copy()
            err = own_err[name].copy()
            for callee in svc.calls:
                lat += float(rng.uniform(0.6, 1.0)) * total_lat[callee]
                err = 1 - (1 - err) * (1 - float(rng.uniform(0.5, 0.9)) * total_err[callee])
            total_lat[name], total_err[name] = lat, np.clip(err, 0, 1)
        metrics: dict[tuple[str, str], np.ndarray] = {}
        node_cpu = {n: 0.5 + 0.05 * rng.standard_normal(N) for n in self.nodes}
        for name, svc in self.services.items():
            sid = self.sid(name)
            noise = lambda s: 1 + s * rng.standard_normal(N)  # noqa: E731
            metrics[(sid, "latency_p95_s")] = total_lat[name] * noise(0.05)
            metrics[(sid, "error_rate")] = np.clip(total_err[name] + 0.0005 * rng.standard_normal(N), 0, 1)
            metrics[(sid, "rps")] = traffic * noise(0.04) * (1 if svc.layer == 0 else rng.uniform(0.3, 1.5))
            for pod in [p for p in self.pod_span if p.startswith(f"pod:{NS}/{name}-")]:
                start, end = self.pod_span[pod]
                alive = (t >= start) & (t < end)
                if effect == "crashloop" and pod in bad.new_pods:
                    alive &= t < bad.at  # the new pods never report
                    continue
                own = total_lat[name] - own_lat[name] + pod_lat[pod]
                cpu = 0.2 * traffic / traffic.mean() * pod_cpu_mult[pod] * noise(0.06)
                metrics[(pod, "latency_p95_s")] = np.where(alive, own * noise(0.05), np.nan)
                metrics[(pod, "error_rate")] = np.where(alive, np.clip(pod_err[pod], 0, 1), np.nan)
                metrics[(pod, "cpu_usage")] = np.where(alive, cpu, np.nan)
                metrics[(pod, "mem_bytes")] = np.where(alive, 5e8 * rng.uniform(0.5, 2) * noise(0.01), np.nan)
                node_cpu[self.pod_node[pod]] = node_cpu[self.pod_node[pod]] + np.where(alive, cpu / 8, 0.0)
        if effect == "crashloop":
            for i, pod in enumerate(bad.new_pods):
                for k in range(3):
                    self.events.append({"entity": pod, "reason": "BackOff", "at": iso(bad.at + 90 + 120 * k + 10 * i),
                                        "message": "Back-off restarting failed container"})
        for n in self.nodes:
            metrics[(n, "cpu_usage")] = node_cpu[n]
        # distractors: one noisy pod series and one drifting node, unrelated to the release
        noisy = str(rng.choice([p for p, (s, e) in self.pod_span.items() if e == np.inf and p not in bad.new_pods]))
        series = metrics.get((noisy, "cpu_usage"))
        if series is not None:
            k = int(rng.integers(N - 30, N - 5))
            series[k:k + 3] *= rng.uniform(2, 4)
        drift = str(rng.choice(self.nodes))
        metrics[(drift, "cpu_usage")] = metrics[(drift, "cpu_usage")] + np.linspace(0, rng.uniform(0, 0.3), N)
        symptom_metric = "error_rate" if effect == "failing" else "latency_p95_s"
        return metrics, symptom_metric


def generate(seed: int) -> tuple[Builder, dict, dict]:
    b = Builder(seed)
    rng = b.rng
    b.build_world()
    candidates = [n for n in b.services if n != "frontend"]
    k = int(min(len(candidates), rng.integers(2, 5)))
    chosen = [str(x) for x in rng.choice(candidates, size=k, replace=False)]
    start = T0 + STEP * (N - int(rng.integers(25, 40)))
    times = sorted(start + STEP * float(x) for x in rng.uniform(0, 10, size=k))
    bad_index = int(rng.integers(0, k))
    effect = EFFECTS[seed % len(EFFECTS)]
    releases = []
    for i, (name, at) in enumerate(zip(chosen, times)):
        record = str(rng.choice(["full", "full", "bare", "none"]))
        releases.append(b.roll_out(name, float(np.floor(at / STEP) * STEP), i == bad_index, record))
    bad = releases[bad_index]
    t_bad = bad.at + STEP * int(rng.integers(0, 3))
    metrics, sym_metric = b.series(releases, effect, t_bad)
    alert = t_bad + STEP * int(rng.integers(3, 8))
    incident = {"symptom": "app:frontend", "metric": sym_metric, "at": iso(alert), "lookback": "60m",
                "title": f"frontend {sym_metric} above its SLO"}
    truth = {"root_causes": [bad.new_image], "accept": [bad.commit, b.sid(bad.service), *bad.new_pods],
             "fault": f"release_{effect}",
             "seed": seed, "onset": iso(t_bad), "bad_is_latest": bad is releases[-1],
             "releases": [{"service": r.service, "at": iso(r.at), "bad": r.bad, "record": r.record} for r in releases]}
    return b, {"metrics": metrics, "incident": incident}, truth


def write(seed: int, out: Path) -> Path:
    b, data, truth = generate(seed)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    cut = datetime.fromisoformat(data["incident"]["at"].replace("Z", "+00:00")).timestamp() + 5 * STEP
    (out / "topology.json").write_text(json.dumps({"entities": list(b.entities.values()), "relations": b.relations}))
    (out / "incident.json").write_text(json.dumps(data["incident"], indent=2))
    (out / "changes.json").write_text(json.dumps(b.changes, indent=1))
    (out / "events.json").write_text(json.dumps(b.events, indent=1))
    (out / "truth.json").write_text(json.dumps(truth, indent=2))
    with open(out / "metrics.csv", "w", encoding="utf-8") as handle:
        handle.write("timestamp,entity,metric,value\n")
        for (entity, metric), values in sorted(data["metrics"].items()):
            for t, v in zip(b.times, values):
                if t <= cut and v == v:
                    handle.write(f"{int(t)},{entity},{metric},{format(float(v), '.6g')}\n")
    return out


def write_suite(out: Path, seeds: Iterable[int] = DEV) -> list[Path]:
    paths = []
    for seed in seeds:
        target = out / f"{seed}"
        if not (target / "truth.json").exists():
            write(seed, target)
        paths.append(target)
    return paths


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--suite", choices=["dev", "heldout"], default="dev")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    for p in write_suite(Path(args.out), DEV if args.suite == "dev" else HELDOUT):
        print(p)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
