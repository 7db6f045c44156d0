"""From spans to calls: who called which service, model or vector DB, and how that call went.

Reads the OpenTelemetry GenAI semantic conventions: ``gen_ai.operation.name`` (chat, text_completion,
generate_content, embeddings, retrieval, …), ``gen_ai.provider.name`` and its deprecated predecessor
``gen_ai.system``, ``gen_ai.request.model`` / ``gen_ai.response.model``, ``gen_ai.usage.input_tokens`` /
``output_tokens`` (and the older ``prompt_tokens`` / ``completion_tokens``), ``gen_ai.response.time_to_first_chunk``,
``gen_ai.request.stream``, ``gen_ai.response.id``, ``gen_ai.data_source.id``, ``gen_ai.conversation.id``; the
database conventions ``db.system.name`` and its deprecated ``db.system``; ``user.id`` (and the older ``enduser.id``),
``session.id``.

Streaming: some instrumentations export one span per streamed chunk. Spans of one trace with the same parent, target
and operation are one call when they share a ``gen_ai.response.id`` or say ``gen_ai.request.stream = true``; the
merged call starts with the first chunk, ends with the last, and its time to first token is when the first chunk
ended. Two plain calls from the same parent (an agent loop) are never merged.

Both the topology collector (CALLS/QUERIES relations) and the detectors' trace source (per-entity series) read the
same ``Call`` list, so the graph and the series always agree on entity ids.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict

from .otlp import Span
from .problems import SourceProblem, report

log = logging.getLogger(__name__)

LLM_OPERATIONS = frozenset({"chat", "text_completion", "generate_content", "embeddings"})
AGENT_OPERATIONS = frozenset({"invoke_agent", "create_agent", "execute_tool", "invoke_workflow"})
VECTOR_DB_SYSTEMS = frozenset({
    "milvus", "qdrant", "weaviate", "chroma", "chromadb", "pinecone", "pgvector", "lancedb", "vespa", "marqo",
    "elasticsearch", "opensearch", "redis", "mongodb", "azure.ai.search", "aws.opensearch", "faiss",
})
SERVER_KINDS = frozenset({"SERVER", "CONSUMER"})

CallKind = Literal["service", "llm", "vectordb"]


class TraceNaming(BaseModel):
    """How spans name entities. ``aliases`` rewrites a derived id (``llm:gpt-4o`` → ``llm:gpt-4o@azure``)."""

    model_config = ConfigDict(frozen=True)

    vector_db_systems: frozenset[str] = VECTOR_DB_SYSTEMS
    aliases: dict[str, str] = {}

    def alias(self, entity_id: str) -> str:
        return self.aliases.get(entity_id, entity_id)


class Call(BaseModel):
    """One call to ``target`` (a service, a model, a vector DB) made by ``caller`` (an app), maybe for ``user``."""

    model_config = ConfigDict(frozen=True)

    kind: CallKind
    target: str
    caller: str | None
    user: str | None = None
    trace_id: str
    span_ids: tuple[str, ...]
    start_ns: int
    end_ns: int
    error: bool = False
    ttft_s: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    provider: str | None = None
    model: str | None = None
    system: str | None = None
    link_only: bool = False
    """A caller→callee edge learnt late (the caller's span came in a later export request): topology only, no series."""

    @property
    def duration_s(self) -> float:
        return (self.end_ns - self.start_ns) / 1e9

    @property
    def tpot_s(self) -> float | None:
        """Time per output token after the first: (duration − TTFT) / (output tokens − 1)."""
        if self.ttft_s is None or not self.output_tokens or self.output_tokens < 2:
            return None
        return max(self.duration_s - self.ttft_s, 0.0) / (self.output_tokens - 1)


def _text(value: object) -> str | None:
    return str(value).strip() or None if value is not None and not isinstance(value, (tuple, dict, bytes)) else None


def _int(value: object) -> int | None:
    try:
        return int(value) if value is not None and not isinstance(value, bool) else None  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return None


def _float(value: object) -> float | None:
    try:
        number = float(value) if value is not None and not isinstance(value, bool) else None  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return None
    return number if number is None or math.isfinite(number) else None


def _user_of_trace(spans: Sequence[Span]) -> str | None:
    for keys, prefix in ((("user.id", "enduser.id"), "user:"),
                         (("session.id", "gen_ai.conversation.id"), "user:session/")):
        for span in sorted(spans, key=lambda s: s.start_ns):
            value = _text(span.attr(*keys))
            if value:
                return prefix + value
    return None


def _llm_target(span: Span) -> str | None:
    operation = _text(span.attributes.get("gen_ai.operation.name"))
    model = _text(span.attributes.get("gen_ai.request.model")) or _text(span.attributes.get("gen_ai.response.model"))
    if operation in AGENT_OPERATIONS or operation == "retrieval":
        return None
    if (operation in LLM_OPERATIONS or operation is None) and model:
        return f"llm:{model}"
    return None


def _vectordb_target(span: Span, naming: TraceNaming) -> tuple[str, str | None] | None:
    operation = _text(span.attributes.get("gen_ai.operation.name"))
    system = _text(span.attr("db.system.name", "db.system"))
    if operation != "retrieval" and (system is None or system.lower() not in naming.vector_db_systems):
        return None
    name = (_text(span.attributes.get("gen_ai.data_source.id")) or system
            or _text(span.attributes.get("server.address")) or "retrieval")
    return f"vectordb:{name}", system


def _merge_key(span: Span, target: str) -> tuple[str, ...] | None:
    response_id = _text(span.attributes.get("gen_ai.response.id"))
    streaming = span.attributes.get("gen_ai.request.stream") is True
    if response_id is None and not streaming:
        return None
    operation = _text(span.attributes.get("gen_ai.operation.name")) or ""
    return (span.trace_id, span.parent_span_id or "", target, operation, response_id or "")


def _tokens(values: list[int]) -> int | None:
    """Chunk usage is either per chunk (sum it) or running totals (strictly increasing: take the last)."""
    if not values:
        return None
    if len(values) > 1 and all(b > a for a, b in zip(values, values[1:])):
        return values[-1]
    return sum(values)


def _llm_call(parts: Sequence[Span], target: str, caller: str | None, user: str | None) -> Call:
    parts = sorted(parts, key=lambda s: (s.start_ns, s.end_ns))
    start, end = parts[0].start_ns, max(s.end_ns for s in parts)
    explicit = next((v for v in (_float(s.attributes.get("gen_ai.response.time_to_first_chunk")) for s in parts)
                     if v is not None), None)
    if explicit is not None:
        ttft = explicit
    elif len(parts) > 1:
        ttft = (min(s.end_ns for s in parts) - start) / 1e9
    else:
        ttft = None
    inputs = [v for s in parts if (v := _int(s.attr("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens")))
              is not None]
    outputs = [v for s in parts if (v := _int(s.attr("gen_ai.usage.output_tokens",
                                                     "gen_ai.usage.completion_tokens"))) is not None]
    first = parts[0]
    return Call(
        kind="llm", target=target, caller=caller, user=user, trace_id=first.trace_id,
        span_ids=tuple(s.span_id for s in parts), start_ns=start, end_ns=end, error=any(s.is_error for s in parts),
        ttft_s=ttft, input_tokens=max(inputs) if inputs else None, output_tokens=_tokens(outputs),
        provider=_text(first.attr("gen_ai.provider.name", "gen_ai.system")),
        model=_text(first.attributes.get("gen_ai.request.model")) or _text(first.attributes.get("gen_ai.response.model")),
    )


class SpanDirectory:
    """Bounded memory of ``span id → service`` across export requests.

    Why: each service exports its own spans, so the callee's SERVER span and the caller's CLIENT span (its parent)
    arrive in different OTLP requests, in either order. The directory remembers recent spans' services, and server
    spans whose parent it has not seen yet; when the parent shows up, the ``app CALLS app`` edge is emitted then.
    """

    def __init__(self, capacity: int = 200_000) -> None:
        from collections import OrderedDict

        self.capacity = capacity
        self._services: OrderedDict[str, str] = OrderedDict()
        self._orphans: OrderedDict[str, list[tuple[str, str, int]]] = OrderedDict()

    def service_of(self, span_id: str | None) -> str | None:
        return self._services.get(span_id or "")

    def remember(self, spans: Iterable[Span]) -> list[tuple[str, str, str, int]]:
        """Record ``spans``; returns ``(trace_id, caller_service, callee_service, start_ns)`` for orphans they adopt."""
        adopted: list[tuple[str, str, str, int]] = []
        for span in spans:
            if not span.service:
                continue
            self._services[span.span_id] = span.service
            self._services.move_to_end(span.span_id)
            for trace_id, child_service, start in self._orphans.pop(span.span_id, ()):
                if child_service != span.service:
                    adopted.append((trace_id, span.service, child_service, start))
        while len(self._services) > self.capacity:
            self._services.popitem(last=False)
        return adopted

    def would_adopt_ids(self, span_ids: Iterable[str]) -> bool:
        """Would remembering these span ids adopt an orphan (a server span that waits for its caller)?"""
        return bool(self._orphans) and any(i in self._orphans for i in span_ids)

    def remember_services(self, services: dict[str, str]) -> None:
        """Record ``span id → service`` pairs of spans that adopt no orphan (``would_adopt_ids`` was False)."""
        self._services.update(services)
        for span_id in services:
            self._services.move_to_end(span_id)
        while len(self._services) > self.capacity:
            self._services.popitem(last=False)

    def orphan(self, parent_id: str, trace_id: str, service: str, start_ns: int) -> None:
        self._orphans.setdefault(parent_id, []).append((trace_id, service, start_ns))
        while len(self._orphans) > self.capacity:
            self._orphans.popitem(last=False)


def calls_from_spans(
    spans: Iterable[Span], naming: TraceNaming = TraceNaming(), directory: SpanDirectory | None = None
) -> tuple[list[Call], list[SourceProblem]]:
    """Every service, LLM and vector-DB call the spans show, streaming chunks merged; plus what was skipped.

    With a ``directory`` (one per receiver, kept across requests) a server span whose parent came in another request
    is still linked to its caller.
    """
    spans = list(spans)
    by_trace: dict[str, list[Span]] = defaultdict(list)
    for span in spans:
        by_trace[span.trace_id].append(span)
    calls: list[Call] = []
    if directory is not None:
        for trace_id, caller, callee, start in directory.remember(spans):
            calls.append(Call(kind="service", target=naming.alias(f"app:{callee}"), caller=naming.alias(f"app:{caller}"),
                              trace_id=trace_id, span_ids=(), start_ns=start, end_ns=start, link_only=True))
    problems: list[SourceProblem] = []
    for trace_id, trace in by_trace.items():
        index = {s.span_id: s for s in trace}
        user = _user_of_trace(trace)
        chunks: dict[tuple[str, ...], list[Span]] = defaultdict(list)
        chunk_caller: dict[tuple[str, ...], str | None] = {}
        for span in trace:
            caller = f"app:{span.service}" if span.service else None
            parent = index.get(span.parent_span_id or "")
            llm = _llm_target(span)
            vdb = _vectordb_target(span, naming) if llm is None else None
            if (llm or vdb) and caller is None:
                problems.append(report(log, SourceProblem(
                    source="otlp", where=f"trace {trace_id} span {span.span_id}",
                    reason="GenAI span without service.name: no caller to attach it to")))
                continue
            if llm:
                target = naming.alias(llm)
                key = _merge_key(span, target)
                if key is None:
                    calls.append(_llm_call([span], target, caller, user))
                else:
                    chunks[key].append(span)
                    chunk_caller[key] = caller
            elif vdb:
                target, system = vdb
                calls.append(Call(kind="vectordb", target=naming.alias(target), caller=caller, user=user,
                                  trace_id=trace_id, span_ids=(span.span_id,), start_ns=span.start_ns,
                                  end_ns=span.end_ns, error=span.is_error, system=system))
            elif span.kind in SERVER_KINDS and span.service:
                parent_service = parent.service if parent is not None else (
                    directory.service_of(span.parent_span_id) if directory is not None else None)
                if parent_service == span.service:
                    continue  # a nested server span inside one service is not a new call
                upstream = parent_service
                if upstream is None and span.parent_span_id and directory is not None:
                    directory.orphan(span.parent_span_id, trace_id, span.service, span.start_ns)
                calls.append(Call(kind="service", target=naming.alias(f"app:{span.service}"),
                                  caller=naming.alias(f"app:{upstream}") if upstream else None,
                                  user=user if not span.parent_span_id else None, trace_id=trace_id,
                                  span_ids=(span.span_id,), start_ns=span.start_ns, end_ns=span.end_ns,
                                  error=span.is_error))
        for key, parts in chunks.items():
            calls.append(_llm_call(parts, key[2], chunk_caller[key], user))
    calls.sort(key=lambda c: (c.start_ns, c.target))
    return calls, problems
