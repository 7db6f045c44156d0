"""What the OTLP receivers do with a request once its transport is settled (``api.otlp_http``): decode, check,
store, and — for spans — grow the topology.

Order matters for "nothing accepted is lost": the spans or records are written to the telemetry store (one
transaction) before the answer is sent; a store failure is a 503, which OTLP clients retry. The topology update that
follows is best effort: traces repeat their edges constantly, so a graph store that is down for one request loses
nothing the next requests will not bring again, and the failure is reported as a warning in ``partial_success``
(0 rejected) rather than as an error that would make the client send the stored spans twice.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from detectors.exceptions import LogFormatError, TelemetryStoreError
from detectors.sources.otlp_logs import LogRecord, count_log_records, decode_logs_request, parse_logs_json
from detectors.sources.telemetry_store import TelemetryStore
from topology.collectors._common import merge_known_attrs
from topology.collectors.traces import trace_topology
from topology.exceptions import TraceFormatError
from topology.genai import SERVER_KINDS, SpanDirectory, calls_from_spans
from topology.otlp import SPAN_KINDS, STATUS_CODES, Span, parse_otlp_json
from topology.otlp_proto import attributes_pb, count_spans, decode_trace_request, span_problem, spans_from_request
from topology.problems import SourceProblem, report
from topology.store import GraphStore

from ..otlp_http import LOGS, TRACES, Encoding, OtlpHttpError, export_response, inflate

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_REASONS = 5


@dataclass(frozen=True)
class OtlpLimits:
    max_decompressed_bytes: int = 64 * 1024 * 1024
    """A body that inflates to more than this is refused (413) before it is held in memory: the gzip-bomb bound."""
    max_items: int = 200_000
    """Spans or log records one export request may carry (413 above): the SDKs batch 512 by default."""


@dataclass
class Receipt:
    """What one request delivered: how many items were stored, and what was rejected or only warned about."""

    stored: int = 0
    rejected: list[SourceProblem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def answer(self, encoding: Encoding, signal) -> bytes:
        reasons = [str(p) for p in self.rejected[:MAX_REASONS]]
        if len(self.rejected) > MAX_REASONS:
            reasons.append(f"and {len(self.rejected) - MAX_REASONS} more")
        message = "; ".join(reasons + self.warnings[:MAX_REASONS])
        return export_response(signal, encoding, rejected=len(self.rejected), message=message)


def _json_document(raw: bytes, signal_key: str) -> dict | None:
    """The JSON body as an object; ``None`` for an empty request (no body, ``{}``, or only unknown fields)."""
    if not raw.strip():
        return None
    try:
        document = json.loads(raw)
    except UnicodeDecodeError as exc:
        raise OtlpHttpError(400, "body is not JSON text: it is not UTF-8", field="body") from exc
    except RecursionError as exc:
        raise OtlpHttpError(400, "body is not valid JSON: it nests too deeply", field="body") from exc
    except ValueError as exc:  # JSONDecodeError, and integers of more than 4,300 digits
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "a number is too long"
        raise OtlpHttpError(400, f"body is not valid JSON: {reason}", field="body") from exc
    if not isinstance(document, dict):
        raise OtlpHttpError(400, "not an OTLP export request: the top level must be an object", field="body")
    snake = "".join("_" + c.lower() if c.isupper() else c for c in signal_key)
    if signal_key not in document and snake not in document:
        return None  # unknown fields are ignored (OTLP/JSON): nothing to take
    blocks = document.get(signal_key, document.get(snake))
    if not isinstance(blocks, list):
        raise OtlpHttpError(400, f"not an OTLP export request: {signal_key} must be a list", field=signal_key)
    return document


def _count_json(document: dict, blocks_key: str, scopes_key: str, items_key: str) -> int:
    total = 0
    blocks = document.get(blocks_key)
    for block in blocks if isinstance(blocks, list) else ():
        scopes = block.get(scopes_key) if isinstance(block, dict) else None
        for scope in scopes if isinstance(scopes, list) else ():  # the parser reports a non-list, not this count
            if isinstance(scope, dict) and isinstance(scope.get(items_key), list):
                total += len(scope[items_key])
    return total


GENAI_PREFIXES = ("gen_ai.", "db.")
_GENAI_KEYS = ("gen_ai.request.model", "gen_ai.response.model", "gen_ai.operation", "gen_ai.provider", "gen_ai.system",
               "gen_ai.data_source", "db.system", "server.address")


def genai_shape(service: str | None, attributes: dict) -> tuple:
    return (service, "genai", tuple(sorted((k, str(v)) for k, v in attributes.items() if k.startswith(_GENAI_KEYS))))


class TopologyFeed:
    """Spans → ``CALLS``/``QUERIES`` relations in the graph store, writing only what the graph does not have yet.

    The span directory links a callee's server span to a caller span that arrived in another request. Entities and
    relations already written are remembered (per graph store), so a steady stream of the same calls costs no
    graph writes — a file-backed ``MemoryStore`` rewrites its file on every upsert.
    """

    def __init__(self) -> None:
        self.directory = SpanDirectory()
        self._lock = threading.Lock()
        self._graph_id: int | None = None
        self._entities: set[str] = set()
        self._relations: set[tuple] = set()

    def _shapes(self, spans: Sequence[Span]) -> set[tuple]:
        """What topology a batch could show, cheaply: (callee, caller service) of every server span, and the
        GenAI / database attributes of every span that has some. A batch whose shapes were all seen before cannot
        add an entity or a relation, and skips the full call analysis."""
        services = {s.span_id: s.service for s in spans}
        shapes: set[tuple] = set()
        for s in spans:
            if s.kind in SERVER_KINDS:
                shapes.add(self.server_shape(s.service, s.parent_span_id, services))
            if s.attributes and any(k.startswith(GENAI_PREFIXES) for k in s.attributes):
                shapes.add(genai_shape(s.service, s.attributes))
        return shapes

    def server_shape(self, service: str | None, parent: str | None, services: dict[str, str | None]) -> tuple:
        caller = services.get(parent) if parent in services else self.directory.service_of(parent)
        return (service, caller, bool(parent))

    def skip(self, shapes: set[tuple], services: dict[str, str], graph: GraphStore) -> bool:
        """When a batch can add nothing to ``graph`` (every shape seen, no waiting callee adopted): remember its
        spans' services for later batches and answer True; else False (run ``feed``)."""
        with self._lock:
            if id(graph) != self._graph_id or not shapes <= self._shapes_seen \
                    or self.directory.would_adopt_ids(services):
                return False
            self.directory.remember_services(services)
            return True

    def feed(self, spans: Sequence[Span], graph: GraphStore) -> list[SourceProblem]:
        with self._lock:
            if id(graph) != self._graph_id:
                self._graph_id, self._entities, self._relations = id(graph), set(), set()
                self._shapes_seen: set[tuple] = set()
            shapes = self._shapes(spans)
            if shapes <= self._shapes_seen and not self.directory.would_adopt_ids(s.span_id for s in spans):
                self.directory.remember(spans)
                return []
            calls, problems = calls_from_spans(spans, directory=self.directory)
            self._shapes_seen |= shapes
            entities, relations = trace_topology(calls)
            new_entities = [e for e in entities if e.id not in self._entities]
            new_relations = [r for r in relations if (r.src, r.kind, r.dst) not in self._relations]
            if new_entities:
                graph.upsert_entities(merge_known_attrs(graph, new_entities))
                self._entities.update(e.id for e in new_entities)
            if new_relations:
                graph.upsert_relations(new_relations)
                self._relations.update((r.src, r.kind, r.dst) for r in new_relations)
            return problems


class OtlpIngest:
    """The receivers' state for one app: the telemetry store, the topology feed, the limits."""

    def __init__(self, store: TelemetryStore, graph: Callable[[], GraphStore] | None = None,
                 limits: OtlpLimits = OtlpLimits()) -> None:
        self.store = store
        self.graph = graph
        self.limits = limits
        self.topology = TopologyFeed()

    def _too_many(self, n: int, what: str) -> None:
        if n > self.limits.max_items:
            raise OtlpHttpError(413, f"batch of {n} {what} is larger than the {self.limits.max_items} one request "
                                     "may carry: export smaller batches")

    def _traces_protobuf(self, message, source: str) -> Receipt:
        """Protobuf spans straight into store rows (each span's own encoding kept as its detail), the topology
        updated only when the batch shows a call not seen before (then from full ``Span`` objects)."""
        problems: list[SourceProblem] = []
        blocks: list[tuple[dict, list[tuple]]] = []
        services: dict[str, str] = {}
        servers: list[tuple[str | None, str | None]] = []
        shapes: set[tuple] = set()
        for r, block in enumerate(message.resource_spans):
            resource = attributes_pb(block.resource.attributes)
            service = resource.get("service.name")
            service = str(service) if service else None
            rows: list[tuple] = []
            for s, scope_block in enumerate(block.scope_spans):
                for i, raw in enumerate(scope_block.spans):
                    reason = span_problem(raw)
                    if reason:
                        where = f"{source} resourceSpans[{r}].scopeSpans[{s}].spans[{i}]" + (f" {raw.name!r}" if raw.name else "")
                        problems.append(report(log, SourceProblem(source="otlp", where=where, reason=reason)))
                        continue
                    span_id = raw.span_id.hex()
                    parent = raw.parent_span_id.hex() if raw.parent_span_id else None
                    kind = SPAN_KINDS.get(raw.kind, "UNSPECIFIED")
                    rows.append((raw.start_time_unix_nano, raw.end_time_unix_nano, raw.trace_id.hex(), span_id, parent,
                                 raw.name, kind, STATUS_CODES.get(raw.status.code, "UNSET"), raw.SerializeToString()))
                    if service:
                        services[span_id] = service
                    if kind in SERVER_KINDS:
                        servers.append((service, parent))
                    for kv in raw.attributes:
                        if kv.key.startswith(GENAI_PREFIXES):
                            shapes.add(genai_shape(service, attributes_pb(raw.attributes)))
                            break
            blocks.append((resource, rows))
        receipt = Receipt(rejected=problems)
        receipt.stored = self._store(self.store.add_span_rows, blocks)
        if receipt.stored and self.graph is not None:
            try:
                graph = self.graph()
                shapes |= {self.topology.server_shape(svc, parent, services) for svc, parent in servers}
                if not self.topology.skip(shapes, services, graph):
                    spans = list(spans_from_request(message, source, []))
                    for p in self.topology.feed(spans, graph):
                        receipt.warnings.append(f"kept, not in the topology: {p}")
            except Exception as exc:  # noqa: BLE001 - best effort (graph store down, data source not loaded yet)
                log.warning("OTLP traces stored but the topology was not updated: %s", exc)
                receipt.warnings.append(f"spans stored; topology not updated: {exc}")
        return receipt

    def traces(self, body: bytes, encoding: Encoding, content_encoding: str | None) -> bytes:
        raw = inflate(body, content_encoding, self.limits.max_decompressed_bytes)
        source = "POST /v1/traces"
        problems: list[SourceProblem] = []
        spans: list[Span] = []
        try:
            if encoding == "protobuf":
                message = decode_trace_request(raw, source=source)
                self._too_many(count_spans(message), "spans")
                return self._traces_protobuf(message, source).answer(encoding, TRACES)
            else:
                document = _json_document(raw, "resourceSpans")
                if document is not None:
                    self._too_many(_count_json(document, "resourceSpans", "scopeSpans", "spans"), "spans")
                    parsed = parse_otlp_json(document, source=source)
                    spans, problems = list(parsed.spans), list(parsed.problems)
        except TraceFormatError as exc:
            raise OtlpHttpError(400, str(exc), field="body") from exc
        receipt = Receipt(rejected=problems)
        receipt.stored = self._store(self.store.add_spans, spans)
        if spans and self.graph is not None:
            try:
                for p in self.topology.feed(spans, self.graph()):
                    receipt.warnings.append(f"kept, not in the topology: {p}")
            except Exception as exc:  # noqa: BLE001 - best effort (graph store down, data source not loaded yet)
                log.warning("OTLP traces stored but the topology was not updated: %s", exc)
                receipt.warnings.append(f"spans stored; topology not updated: {exc}")
        return receipt.answer(encoding, TRACES)

    def logs(self, body: bytes, encoding: Encoding, content_encoding: str | None) -> bytes:
        raw = inflate(body, content_encoding, self.limits.max_decompressed_bytes)
        source = "POST /v1/logs"
        problems: list[SourceProblem] = []
        records: list[LogRecord] = []
        try:
            if encoding == "protobuf":
                message = decode_logs_request(raw, source=source)
                self._too_many(count_log_records(message), "log records")
                # straight from the message into the store: no object per record on the busiest path
                stored, problems = self._store(self.store.add_logs_request, message, source)
                return Receipt(stored=stored, rejected=problems).answer(encoding, LOGS)
            else:
                document = _json_document(raw, "resourceLogs")
                if document is not None:
                    self._too_many(_count_json(document, "resourceLogs", "scopeLogs", "logRecords"), "log records")
                    parsed = parse_logs_json(document, source=source)
                    records, problems = list(parsed.records), list(parsed.problems)
        except LogFormatError as exc:
            raise OtlpHttpError(400, str(exc), field="body") from exc
        receipt = Receipt(rejected=problems)
        receipt.stored = self._store(self.store.add_logs, records)
        return receipt.answer(encoding, LOGS)

    @staticmethod
    def _store(write: Callable[..., T], *args: Any) -> T:
        """One store write; a store that fails is a 503 the client retries, never a 500 or a silent loss."""
        try:
            return write(*args)
        except TelemetryStoreError as exc:
            log.error("OTLP data refused, the store failed: %s", exc)
            raise OtlpHttpError(503, f"the telemetry store cannot take data now ({exc}); retry later") from exc
