"""The generated fleet: AI-app stacks (users -> apps -> rag/llm endpoints -> vLLM pods on GPUs on nodes, vector DBs,
images, commits) padded with unrelated stacks until the requested entity count is reached.

Why a plain mutable builder here and frozen data at the edge: the generator grows the world step by step with one
seeded ``numpy.random.Generator``; only the case writer turns it into the case format. Nothing in here reads the
clock or global random state, so the same seed always gives the same world.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

MODELS = ("deepseek-r1", "qwen2.5-72b", "llama3.1-70b", "mistral-large", "gemma2-27b", "phi4")
STACK_WORDS = ("chat", "search", "assist", "support", "code", "docs", "sales", "legal", "hr", "ops", "triage", "tutor")
AUTHORS = ("ana@example.com", "bo@example.com", "chen@example.com", "dev@example.com", "eli@example.com")
CPU_PODS_PER_NODE = 10
GPUS_PER_NODE = (4, 8)


@dataclass
class Service:
    """A deployable thing with replicas: an app, an llm endpoint or a vector DB."""

    id: str
    role: str  # web | rag | tools | llm | vdb
    stack: str
    pods: list[str] = field(default_factory=list)
    image: str = ""
    commit: str = ""


@dataclass
class Stack:
    name: str
    user: str
    web: str
    rag: str | None
    tools: str | None
    llm: str
    vdb: str | None

    def services(self) -> list[str]:
        return [s for s in (self.web, self.rag, self.tools, self.llm, self.vdb) if s]


@dataclass
class Rel:
    src: str
    kind: str
    dst: str
    valid_from: float | None = None  # epoch seconds
    valid_to: float | None = None


@dataclass
class World:
    """Everything the case writer needs, with indexes the fault injector uses."""

    entities: dict[str, dict] = field(default_factory=dict)  # id -> attrs
    relations: list[Rel] = field(default_factory=list)
    services: dict[str, Service] = field(default_factory=dict)
    stacks: list[Stack] = field(default_factory=list)
    pod_service: dict[str, str] = field(default_factory=dict)
    pod_node: dict[str, str] = field(default_factory=dict)
    pod_gpu: dict[str, str] = field(default_factory=dict)
    gpu_node: dict[str, str] = field(default_factory=dict)
    node_kind: dict[str, str] = field(default_factory=dict)  # node -> cpu | gpu
    node_load: dict[str, int] = field(default_factory=dict)
    free_gpus: dict[str, list[str]] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)  # dependent -> dependency among services/users

    def add(self, entity_id: str, **attrs: object) -> str:
        self.entities.setdefault(entity_id, dict(attrs))
        return entity_id

    def relate(self, src: str, kind: str, dst: str, valid_from: float | None = None, valid_to: float | None = None) -> None:
        self.relations.append(Rel(src, kind, dst, valid_from, valid_to))

    # -- impact graph: dependency -> dependents, the direction a fault travels --------------------------------------
    def dependents(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for r in self.relations:
            if r.valid_to is not None:
                continue
            if r.kind == "ATTACHED_TO":  # a node's CPU trouble does not reach the GPU cards
                continue
            out.setdefault(r.dst, []).append(r.src)
        return out


def _hex(rng: np.random.Generator, n: int = 12) -> str:
    return "".join(rng.choice(list("0123456789abcdef"), size=n))


class WorldBuilder:
    """Grows a ``World`` one stack at a time; nodes and GPUs are created on demand and shared between stacks."""

    def __init__(self, rng: np.random.Generator, t_start: float) -> None:
        self.rng = rng
        self.t_start = t_start
        self.world = World()
        self._n_nodes = 0
        self._stack_no = 0

    # -- infrastructure ----------------------------------------------------------------------------------------------
    def _new_node(self, kind: str) -> str:
        self._n_nodes += 1
        zone = "abc"[self._n_nodes % 3]
        node = self.world.add(f"node:{kind}-node-{self._n_nodes}", pool=kind, zone=f"us-east-1{zone}")
        self.world.node_kind[node] = kind
        self.world.node_load[node] = 0
        if kind == "gpu":
            gpus = []
            for g in range(int(self.rng.choice(GPUS_PER_NODE))):
                gpu = self.world.add(f"gpu:{node.split(':', 1)[1]}/gpu{g}", model="H100", node=node)
                self.world.relate(gpu, "ATTACHED_TO", node)
                self.world.gpu_node[gpu] = node
                gpus.append(gpu)
            self.world.free_gpus[node] = gpus
        return node

    def _cpu_node(self) -> str:
        nodes = [n for n, k in self.world.node_kind.items() if k == "cpu" and self.world.node_load[n] < CPU_PODS_PER_NODE]
        # a new node now and then even when others have room, so stacks spread over several nodes
        if not nodes or self.rng.random() < 0.15:
            return self._new_node("cpu")
        return nodes[int(self.rng.integers(len(nodes)))]

    def _gpu_slot(self) -> tuple[str, str]:
        nodes = [n for n, g in self.world.free_gpus.items() if g]
        node = nodes[int(self.rng.integers(len(nodes)))] if nodes and self.rng.random() < 0.8 else self._new_node("gpu")
        return node, self.world.free_gpus[node].pop(0)

    # -- services ----------------------------------------------------------------------------------------------------
    def _service(self, sid: str, role: str, stack: str, replicas: int) -> Service:
        w, rng = self.world, self.rng
        kind = sid.split(":", 1)[0]
        w.add(sid, namespace=stack, role=role)
        svc = Service(sid, role, stack)
        since = self.t_start - float(rng.uniform(6, 96)) * 3600
        # image and commit of the running version; sometimes an older version is still in the graph (closed)
        if rng.random() < 0.3:
            old_commit = w.add(f"commit:{_hex(rng)}", author=str(rng.choice(AUTHORS)), message="earlier release")
            old_image = w.add(f"image:sha256:{_hex(rng)}", repo=f"registry.local/{stack}/{role}")
            w.relate(old_image, "BUILT_FROM", old_commit)
            svc_old = (old_image, since - float(rng.uniform(24, 72)) * 3600)
        else:
            svc_old = None
        commit = w.add(f"commit:{_hex(rng)}", author=str(rng.choice(AUTHORS)), message=f"{role}: release")
        image = w.add(f"image:sha256:{_hex(rng)}", repo=f"registry.local/{stack}/{role}")
        w.relate(image, "BUILT_FROM", commit)
        svc.image, svc.commit = image, commit
        name = sid.split(":", 1)[1].split("@")[0].replace("/", "-")
        for i in range(replicas):
            pod = w.add(f"pod:{stack}/{name}-{i}", namespace=stack, service=sid)
            svc.pods.append(pod)
            w.pod_service[pod] = sid
            w.relate(sid, "RUNS_ON", pod)
            if svc_old is not None:
                w.relate(pod, "RUNS", svc_old[0], svc_old[1], since)
            w.relate(pod, "RUNS", image, since)
            if kind == "llm":
                node, gpu = self._gpu_slot()
                w.relate(pod, "USES", gpu)
                w.pod_gpu[pod] = gpu
            else:
                node = self._cpu_node()
            w.node_load[node] = w.node_load.get(node, 0) + 1
            w.relate(pod, "SCHEDULED_ON", node)
            w.pod_node[pod] = node
            w.entities[pod]["node"] = node.split(":", 1)[1]
        w.services[sid] = svc
        return svc

    def add_stack(self, *, need_rag: bool = False, need_tools: bool = False, minimal: bool = False) -> Stack:
        w, rng = self.world, self.rng
        self._stack_no += 1
        word = STACK_WORDS[(self._stack_no - 1) % len(STACK_WORDS)]
        name = word if self._stack_no <= len(STACK_WORDS) else f"{word}{self._stack_no}"
        rep = (lambda lo, hi: 1) if minimal else (lambda lo, hi: int(rng.integers(lo, hi + 1)))
        user = w.add(f"user:{name}-users", namespace=name)
        web = self._service(f"app:{name}-web", "web", name, rep(1, 3)).id
        rag = self._service(f"app:{name}-rag", "rag", name, rep(1, 3)).id if (need_rag or rng.random() < 0.75) else None
        vdb = self._service(f"vectordb:{name}-vdb", "vdb", name, rep(1, 2)).id if rag else None
        tools = (
            self._service(f"app:{name}-tools", "tools", name, rep(1, 2)).id
            if (need_tools or (not minimal and rng.random() < 0.4))
            else None
        )
        shared = [s for s in w.services.values() if s.role == "llm"]
        if shared and not minimal and rng.random() < 0.2 and not (need_rag or need_tools):
            llm = shared[int(rng.integers(len(shared)))].id  # a second app on an existing model endpoint
        else:
            model = MODELS[int(rng.integers(len(MODELS)))]
            llm = self._service(f"llm:{model}@{name}", "llm", name, rep(1, 2)).id
        w.relate(user, "CALLS", web)
        w.calls.append((user, web))
        front = rag or web
        if rag:
            w.relate(web, "CALLS", rag)
            w.calls.append((web, rag))
            w.relate(rag, "QUERIES", vdb)  # type: ignore[arg-type]
            w.calls.append((rag, vdb))  # type: ignore[arg-type]
        w.relate(front, "CALLS", llm)
        w.calls.append((front, llm))
        if tools:
            w.relate(web, "CALLS", tools)
            w.calls.append((web, tools))
        stack = Stack(name, user, web, rag, tools, llm, vdb)
        w.stacks.append(stack)
        return stack
