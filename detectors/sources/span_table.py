"""Spans as columns: what the trace evidence reads, at a tenth of the memory of ``Span`` objects.

Why columns: one incident window of a busy system holds hundreds of thousands of spans (a Nezha minute-file holds
23,000); the trace evidence (``trace_series``) is computed with numpy over whole columns — parent links, the service
that owns each span, exclusive time — and the console needs only a few fields of one trace. Spans that carry GenAI
attributes are also kept whole (``genai``): merging streamed chunks and reading token counts needs their attributes,
and they are few.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from topology.otlp import Span

__all__ = ["SpanTable", "series_entity"]

_COLUMNS = ("trace", "span", "parent", "service", "entity", "name", "kind", "start", "end", "error", "message",
            "exception", "peer")


def series_entity(resource: dict) -> str | None:
    """The entity a span's trace evidence describes: ``faultline.entity`` when the resource names one, else the
    service (``app:<service.name>``) — request rates, errors and latencies are a service's, and call edges run
    between services — else the pod."""
    explicit = resource.get("faultline.entity")
    if isinstance(explicit, str) and explicit.strip():
        return explicit.strip()
    service = resource.get("service.name")
    if isinstance(service, str) and service:
        return f"app:{service}"
    namespace, pod = resource.get("k8s.namespace.name"), resource.get("k8s.pod.name")
    if isinstance(namespace, str) and isinstance(pod, str) and namespace and pod:
        return f"pod:{namespace}/{pod}"
    return None


def _exception_type(span: Span) -> str:
    for event in span.events:
        if event.name == "exception":
            kind = event.attributes.get("exception.type")
            return str(kind) if kind else "exception"
    return ""


def peer_of(span: Span) -> str:
    """The service a client span calls, when it says: ``peer.service``, else the host of ``server.address`` (the
    first label of a Kubernetes service name, ``cart.shop.svc.cluster.local`` → ``cart``). Empty otherwise."""
    if span.kind not in ("CLIENT", "PRODUCER") or not span.attributes:
        return ""
    peer = span.attributes.get("peer.service")
    if isinstance(peer, str) and peer:
        return peer
    address = span.attributes.get("server.address") or span.attributes.get("net.peer.name")
    if not isinstance(address, str) or not address:
        return ""
    host = address.rsplit("@", 1)[-1].split(":", 1)[0] if address.count(":") <= 1 else address
    return host.split(".", 1)[0] if ".svc" in host else host


def _is_genai(span: Span) -> bool:
    return any(key.startswith("gen_ai.") for key in span.attributes) or "db.system.name" in span.attributes \
        or "db.system" in span.attributes


@dataclass(frozen=True)
class SpanTable:
    """One row a span. Times are integer nanoseconds; ``parent`` is ``""`` for a root; ``exception`` the type of the
    span's first ``exception`` event (``""`` without one); ``entity`` from ``series_entity``; ``peer`` the callee a
    client span names (``peer_of``)."""

    trace: np.ndarray
    span: np.ndarray
    parent: np.ndarray
    service: np.ndarray
    entity: np.ndarray
    name: np.ndarray
    kind: np.ndarray
    start: np.ndarray
    end: np.ndarray
    error: np.ndarray
    message: np.ndarray
    exception: np.ndarray
    peer: np.ndarray
    genai: tuple[Span, ...] = field(default=())

    def __len__(self) -> int:
        return len(self.start)

    @staticmethod
    def empty() -> "SpanTable":
        obj = np.array([], dtype=object)
        return SpanTable(obj, obj, obj, obj, obj, obj, obj, np.array([], dtype=np.int64), np.array([], dtype=np.int64),
                         np.array([], dtype=bool), obj, obj, obj)

    @staticmethod
    def from_spans(spans: Iterable[Span]) -> "SpanTable":
        cols: dict[str, list] = {c: [] for c in _COLUMNS}
        genai: list[Span] = []
        entities: dict[int, str | None] = {}
        for s in spans:
            key = id(s.resource)
            entity = entities.get(key)
            if key not in entities:
                entity = entities[key] = series_entity(s.resource)
            cols["trace"].append(s.trace_id)
            cols["span"].append(s.span_id)
            cols["parent"].append(s.parent_span_id or "")
            cols["service"].append(s.service or "")
            cols["entity"].append(entity or "")
            cols["name"].append(s.name)
            cols["kind"].append(s.kind)
            cols["start"].append(s.start_ns)
            cols["end"].append(s.end_ns)
            cols["error"].append(s.status == "ERROR")
            cols["message"].append(s.status_message)
            cols["exception"].append(_exception_type(s) if s.events else "")
            cols["peer"].append(peer_of(s))
            if s.attributes and _is_genai(s):
                genai.append(s)
        return SpanTable(
            **{c: np.array(cols[c], dtype=object) for c in _COLUMNS if c not in ("start", "end", "error")},
            start=np.array(cols["start"], dtype=np.int64), end=np.array(cols["end"], dtype=np.int64),
            error=np.array(cols["error"], dtype=bool), genai=tuple(genai),
        )

    @staticmethod
    def concat(tables: Sequence["SpanTable"]) -> "SpanTable":
        tables = [t for t in tables if len(t)]
        if not tables:
            return SpanTable.empty()
        if len(tables) == 1:
            return tables[0]
        return SpanTable(
            **{c: np.concatenate([getattr(t, c) for t in tables]) for c in _COLUMNS},
            genai=tuple(s for t in tables for s in t.genai),
        )

    def take(self, mask: np.ndarray) -> "SpanTable":
        keep = {id(s) for s in self.genai}
        kept = set(self.span[mask].tolist()) if len(self.genai) else set()
        return SpanTable(**{c: getattr(self, c)[mask] for c in _COLUMNS},
                         genai=tuple(s for s in self.genai if id(s) in keep and s.span_id in kept))

    def ended_by(self, t_ns: int) -> "SpanTable":
        """The spans that had ended by ``t_ns``: what an analysis at that moment can know."""
        mask = self.end <= t_ns
        return self if mask.all() else self.take(mask)

    def trace_rows(self, trace_id: str) -> list[dict]:
        """One trace's spans as plain rows, by start time (the console's waterfall)."""
        idx = np.flatnonzero(self.trace == trace_id.lower())
        idx = idx[np.argsort(self.start[idx], kind="stable")]
        return [{"span_id": self.span[i], "parent_span_id": self.parent[i] or None, "service": self.service[i],
                 "name": self.name[i], "kind": self.kind[i], "start_ns": int(self.start[i]), "end_ns": int(self.end[i]),
                 "error": bool(self.error[i]), "status_message": self.message[i],
                 "exception": self.exception[i] or None} for i in idx]
