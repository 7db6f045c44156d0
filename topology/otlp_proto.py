"""OTLP binary protobuf (``application/x-protobuf``) → the same typed ``Span`` records as the JSON parser.

Why a second decoder beside ``topology.otlp``: the standard OTLP exporters (the SDKs' default, the Collector's
``otlphttp``) send binary protobuf, most often gzip-compressed. The bytes are decoded by the OpenTelemetry project's
own generated classes (``opentelemetry-proto``, upb underneath), never by hand; this module only walks the decoded
message into ``Span`` objects with the same per-span checks as the JSON path (ids of the right length and not zero,
times present, end not before start), so a bad span is one ``SourceProblem`` and its neighbours are kept.

Unknown fields (a newer exporter's additions) are ignored by the protobuf runtime, as the OTLP spec requires.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from .exceptions import TraceFormatError
from .otlp import SPAN_KINDS, STATUS_CODES, ParsedTraces, Span, SpanEvent, construct
from .problems import SourceProblem, report

log = logging.getLogger(__name__)

__all__ = ["any_value_pb", "attributes_pb", "count_spans", "decode_trace_request", "parse_otlp_protobuf", "span_problem",
           "spans_from_request"]


def any_value_pb(value: Any) -> Any:
    """An ``AnyValue`` message as a plain Python value (arrays as tuples, kvlists as dicts, bytes as bytes)."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return tuple(any_value_pb(v) for v in value.array_value.values)
    if kind == "kvlist_value":
        return attributes_pb(value.kvlist_value.values)
    return getattr(value, kind)


def attributes_pb(items: Any) -> dict[str, Any]:
    """Repeated ``KeyValue`` → dict (a later duplicate key wins, as in the JSON path)."""
    out: dict[str, Any] = {}
    for kv in items:
        value = kv.value
        kind = value.WhichOneof("value")
        if kind is None:
            out[kv.key] = None
        elif kind == "array_value" or kind == "kvlist_value":
            out[kv.key] = any_value_pb(value)
        else:
            out[kv.key] = getattr(value, kind)
    return out


def _hex(raw: bytes, length: int, what: str) -> str:
    if len(raw) != length:
        raise ValueError(f"{what} must be {length} bytes, got {len(raw)}")
    if not any(raw):
        raise ValueError(f"{what} is all zeros (invalid)")
    return raw.hex()


def span_problem(raw: Any) -> str | None:
    """Why a decoded span cannot be taken (bad ids, missing or reversed times), or None: the checks of ``_span``."""
    for value, length, what in ((raw.trace_id, 16, "traceId"), (raw.span_id, 8, "spanId")):
        if len(value) != length:
            return f"{what} must be {length} bytes, got {len(value)}"
        if not any(value):
            return f"{what} is all zeros (invalid)"
    parent = raw.parent_span_id
    if parent and (len(parent) != 8 or not any(parent)):
        return f"parentSpanId must be 8 bytes and not zero, got {parent.hex()!r}"
    start, end = raw.start_time_unix_nano, raw.end_time_unix_nano
    if start <= 0:
        return "startTimeUnixNano is missing or zero"
    if end <= 0:
        return "endTimeUnixNano is missing or zero"
    if end < start:
        return f"ends before it starts ({end} < {start})"
    return None


def _span(raw: Any, resource: dict[str, Any], scope: str) -> Span:
    start, end = raw.start_time_unix_nano, raw.end_time_unix_nano
    if start <= 0:
        raise ValueError("startTimeUnixNano is missing or zero")
    if end <= 0:
        raise ValueError("endTimeUnixNano is missing or zero")
    if end < start:
        raise ValueError(f"ends before it starts ({end} < {start})")
    events = ()
    if raw.events:
        events = tuple(
            construct(SpanEvent, {"name": e.name, "time_ns": e.time_unix_nano or start,
                                  "attributes": attributes_pb(e.attributes)})
            for e in raw.events
        )
    parent = raw.parent_span_id
    status = raw.status
    # construct: every field is already typed by the protobuf runtime and checked above
    return construct(Span, {
        "trace_id": _hex(raw.trace_id, 16, "traceId"),
        "span_id": _hex(raw.span_id, 8, "spanId"),
        "parent_span_id": _hex(parent, 8, "parentSpanId") if parent else None,
        "name": raw.name, "kind": SPAN_KINDS.get(raw.kind, "UNSPECIFIED"), "start_ns": start, "end_ns": end,
        "status": STATUS_CODES.get(status.code, "UNSET"), "status_message": status.message,
        "attributes": attributes_pb(raw.attributes), "resource": resource, "scope": scope, "events": events,
    })


def decode_trace_request(body: bytes, *, source: str = "request") -> ExportTraceServiceRequest:
    """Bytes → ``ExportTraceServiceRequest``; bytes that are not one (truncated, not protobuf) are a
    ``TraceFormatError``."""
    message = ExportTraceServiceRequest()
    try:
        message.ParseFromString(body)
    except (DecodeError, RuntimeError, ValueError) as exc:  # upb raises DecodeError; RecursionError is a RuntimeError
        raise TraceFormatError(f"{source}: not an OTLP protobuf ExportTraceServiceRequest: {exc}") from exc
    return message


def spans_from_request(message: ExportTraceServiceRequest, source: str,
                       problems: list[SourceProblem]) -> Iterator[Span]:
    """Every readable span of a decoded request; each unreadable one becomes a ``SourceProblem`` in ``problems``."""
    for r, block in enumerate(message.resource_spans):
        resource = attributes_pb(block.resource.attributes)
        for s, scope_block in enumerate(block.scope_spans):
            scope = scope_block.scope.name
            for i, raw in enumerate(scope_block.spans):
                try:
                    yield _span(raw, resource, scope)
                except (ValueError, TypeError, OverflowError) as exc:
                    where = f"{source} resourceSpans[{r}].scopeSpans[{s}].spans[{i}]" + (f" {raw.name!r}" if raw.name else "")
                    problems.append(report(log, SourceProblem(source="otlp", where=where, reason=str(exc))))


def count_spans(message: ExportTraceServiceRequest) -> int:
    return sum(len(scope.spans) for block in message.resource_spans for scope in block.scope_spans)


def parse_otlp_protobuf(body: bytes, *, source: str = "request") -> ParsedTraces:
    """Parse one binary ``ExportTraceServiceRequest``."""
    problems: list[SourceProblem] = []
    spans = tuple(spans_from_request(decode_trace_request(body, source=source), source, problems))
    return ParsedTraces.model_construct(spans=spans, problems=tuple(problems))
