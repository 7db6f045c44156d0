"""A typed parser for OTLP/HTTP JSON traces (``ExportTraceServiceRequest``, the body of ``POST /v1/traces``).

Why our own parser rather than protobuf's JSON mapping: OTLP/JSON differs from the generic mapping (trace and span
ids are hex, not base64; 64-bit integers arrive as strings; enums as integers), and a collector must survive one bad
span without losing its neighbours. Each span that cannot be read (no ids, bad hex, no times, end before start) is
skipped with a ``SourceProblem`` naming where it was; a body that is not an OTLP document at all is a
``TraceFormatError``.

Both the lowerCamelCase field names of the spec and snake_case (accepted by protobuf JSON parsers) are read.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Callable, Container, Iterable, Iterator, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar, Union

from pydantic import BaseModel, ConfigDict

from .exceptions import TraceFormatError
from .problems import SourceProblem, report

log = logging.getLogger(__name__)

AttrValue = Union[str, bool, int, float, bytes, tuple["AttrValue", ...], dict[str, "AttrValue"], None]

SPAN_KINDS = {0: "UNSPECIFIED", 1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}
STATUS_CODES = {0: "UNSET", 1: "OK", 2: "ERROR"}
MAX_DOCUMENT_BYTES = 64 * 1024 * 1024


def construct(cls: type[BaseModel], values: dict[str, Any]) -> Any:
    """An instance of the pydantic model ``cls`` from values already checked and typed, holding every field.

    Why not ``model_construct``: it also resolves defaults field by field, which costs ~6 µs a call; the OTLP
    receivers build one object per span or log record, 20,000+ a second, and this costs ~1 µs.
    """
    obj = cls.__new__(cls)
    object.__setattr__(obj, "__dict__", values)
    object.__setattr__(obj, "__pydantic_fields_set__", set(values))
    object.__setattr__(obj, "__pydantic_extra__", None)
    object.__setattr__(obj, "__pydantic_private__", None)
    return obj


class SpanEvent(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    time_ns: int
    attributes: dict[str, Any] = {}


class Span(BaseModel):
    """One span with its resource's attributes; times are integer nanoseconds since the epoch."""

    model_config = ConfigDict(frozen=True)

    trace_id: str
    span_id: str
    parent_span_id: str | None = None
    name: str = ""
    kind: str = "UNSPECIFIED"
    start_ns: int
    end_ns: int
    status: str = "UNSET"
    status_message: str = ""
    attributes: dict[str, Any] = {}
    resource: dict[str, Any] = {}
    scope: str = ""
    events: tuple[SpanEvent, ...] = ()

    @property
    def service(self) -> str | None:
        value = self.resource.get("service.name")
        return str(value) if value else None

    @property
    def entity(self) -> str | None:
        """The entity its resource names (``resource_entity``)."""
        return resource_entity(self.resource)

    @property
    def duration_s(self) -> float:
        return (self.end_ns - self.start_ns) / 1e9

    @property
    def start(self) -> datetime:
        return datetime.fromtimestamp(self.start_ns / 1e9, tz=timezone.utc)

    @property
    def is_error(self) -> bool:
        return self.status == "ERROR"

    def attr(self, *keys: str) -> Any:
        """The first of ``keys`` present on the span (then on its resource): semconv renames keep old names alive."""
        for key in keys:
            if key in self.attributes:
                return self.attributes[key]
        for key in keys:
            if key in self.resource:
                return self.resource[key]
        return None


class ParsedTraces(BaseModel):
    model_config = ConfigDict(frozen=True)

    spans: tuple[Span, ...]
    problems: tuple[SourceProblem, ...] = ()


def resource_entity(resource: Mapping[str, Any], known: Container[str] | None = None) -> str | None:
    """The entity a resource's attributes name (``CASE_FORMAT.md``).

    ``faultline.entity`` names it outright and wins. Otherwise ``k8s.namespace.name`` + ``k8s.pod.name`` give
    ``pod:<ns>/<pod>`` and ``service.name`` gives ``app:<name>``; with both, the pod is preferred (logs and spans are
    emitted by a pod), unless ``known`` (the topology's entity ids) holds the app and not the pod — a case whose
    topology stops at services still gets its telemetry on the service.
    """
    explicit = resource.get("faultline.entity")
    if isinstance(explicit, str) and explicit.strip():
        return explicit.strip()
    candidates = []
    namespace, pod = resource.get("k8s.namespace.name"), resource.get("k8s.pod.name")
    if isinstance(namespace, str) and isinstance(pod, str) and namespace and pod:
        candidates.append(f"pod:{namespace}/{pod}")
    service = resource.get("service.name")
    if isinstance(service, str) and service:
        candidates.append(f"app:{service}")
    if known is not None:
        for candidate in candidates:
            if candidate in known:
                return candidate
    return candidates[0] if candidates else None


def _field(obj: Mapping[str, Any], camel: str) -> Any:
    if camel in obj:
        return obj[camel]
    snake = "".join("_" + c.lower() if c.isupper() else c for c in camel)
    return obj.get(snake)


def any_value(value: Any) -> AttrValue:
    """Decode an OTLP ``AnyValue`` (``{"stringValue": ...}``, ``{"intValue": "42"}``, arrays, kvlists)."""
    if not isinstance(value, Mapping):
        raise ValueError(f"attribute value is not an AnyValue object: {value!r}")
    if not value:
        return None
    for key in ("stringValue", "string_value"):
        if key in value:
            return str(value[key])
    for key in ("boolValue", "bool_value"):
        if key in value:
            return bool(value[key])
    for key in ("intValue", "int_value"):
        if key in value:
            return int(value[key])
    for key in ("doubleValue", "double_value"):
        if key in value:
            raw = value[key]
            return float(raw) if not isinstance(raw, str) else float(raw.replace("Infinity", "inf"))
    for key in ("bytesValue", "bytes_value"):
        if key in value:
            return base64.b64decode(value[key])
    for key in ("arrayValue", "array_value"):
        if key in value:
            return tuple(any_value(v) for v in (value[key] or {}).get("values", ()))
    for key in ("kvlistValue", "kvlist_value"):
        if key in value:
            return attributes((value[key] or {}).get("values", ()))
    raise ValueError(f"unknown AnyValue kind: {sorted(value)!r}")


def attributes(items: Any) -> dict[str, Any]:
    if items is None:
        return {}
    if not isinstance(items, list):
        raise ValueError("attributes is not a list of key/value objects")
    out: dict[str, Any] = {}
    for item in items:
        if not isinstance(item, Mapping) or not isinstance(item.get("key"), str):
            raise ValueError(f"attribute without a string key: {item!r}")
        out[item["key"]] = any_value(item.get("value") or {})
    return out


def _hex_id(raw: Any, length: int, what: str) -> str:
    if not isinstance(raw, str) or len(raw) != length:
        raise ValueError(f"{what} must be {length} hex characters, got {raw!r}")
    try:
        number = int(raw, 16)
    except ValueError:
        raise ValueError(f"{what} is not hex: {raw!r}") from None
    if number == 0:
        raise ValueError(f"{what} is all zeros (invalid)")
    return raw.lower()


MAX_NANOS = 2**63 - 1
"""Nanoseconds since the epoch fit a signed 64-bit integer (OTLP's fixed64; the store keeps int64)."""


def _nanos(raw: Any, what: str) -> int:
    if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
        raise ValueError(f"{what} is not an integer of nanoseconds")
    try:
        value = int(raw)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{what} is not an integer of nanoseconds: {str(raw)[:40]!r}") from None
    if value <= 0:
        raise ValueError(f"{what} is missing or zero")
    if value > MAX_NANOS:
        raise ValueError(f"{what} is beyond the year 2262 (more than 2**63 - 1 nanoseconds)")
    return value


def _enum(raw: Any, table: dict[int, str], prefix: str) -> str:
    if isinstance(raw, int):
        return table.get(raw, "UNSPECIFIED")
    if isinstance(raw, str):
        return raw.removeprefix(prefix) or "UNSPECIFIED"
    return table[0]


def _span(raw: Mapping[str, Any], resource: dict[str, Any], scope: str) -> Span:
    if not isinstance(raw, Mapping):
        raise ValueError("span is not an object")
    parent = _field(raw, "parentSpanId")
    status = _field(raw, "status") or {}
    if not isinstance(status, Mapping):
        raise ValueError("status is not an object")
    raw_events = _field(raw, "events") or []
    if not isinstance(raw_events, list) or not all(isinstance(e, Mapping) for e in raw_events):
        raise ValueError("events is not a list of objects")
    start = _nanos(_field(raw, "startTimeUnixNano"), "startTimeUnixNano")
    end = _nanos(_field(raw, "endTimeUnixNano"), "endTimeUnixNano")
    if end < start:
        raise ValueError(f"ends before it starts ({end} < {start})")
    events = tuple(
        construct(SpanEvent, {"name": str(e.get("name", "")),
                              "time_ns": _nanos(_field(e, "timeUnixNano"), "event timeUnixNano"),
                              "attributes": attributes(e.get("attributes"))})
        for e in raw_events
    )
    # construct: every value was checked and typed above (validation would double the cost of a span)
    return construct(Span, {
        "trace_id": _hex_id(_field(raw, "traceId"), 32, "traceId"),
        "span_id": _hex_id(_field(raw, "spanId"), 16, "spanId"),
        "parent_span_id": _hex_id(parent, 16, "parentSpanId") if parent else None,
        "name": str(raw.get("name", "")),
        "kind": _enum(raw.get("kind"), SPAN_KINDS, "SPAN_KIND_"),
        "start_ns": start, "end_ns": end,
        "status": _enum(status.get("code"), STATUS_CODES, "STATUS_CODE_"),
        "status_message": str(status.get("message", "") or ""),
        "attributes": attributes(raw.get("attributes")), "resource": resource, "scope": scope, "events": events,
    })


def _iter_spans(document: Mapping[str, Any], source: str, problems: list[SourceProblem]) -> Iterator[Span]:
    resource_spans = _field(document, "resourceSpans")
    if resource_spans is None and not document:
        return  # ``{}``: an empty export request, which the OTLP spec says to accept
    if not isinstance(resource_spans, list):
        raise TraceFormatError(f"{source}: not an OTLP trace document (no resourceSpans list)")

    def skip(where: str, reason: str) -> None:
        problems.append(report(log, SourceProblem(source="otlp", where=f"{source} {where}", reason=reason)))

    for r, block in enumerate(resource_spans):
        if not isinstance(block, Mapping):
            skip(f"resourceSpans[{r}]", "not an object")
            continue
        raw_resource = block.get("resource") or {}
        try:
            if not isinstance(raw_resource, Mapping):
                raise ValueError("resource is not an object")
            resource = attributes(raw_resource.get("attributes"))
        except (ValueError, TypeError, AttributeError, OverflowError, binascii.Error, RecursionError) as exc:
            skip(f"resourceSpans[{r}]", f"bad resource: {exc}")
            continue
        scopes = _field(block, "scopeSpans") or _field(block, "instrumentationLibrarySpans") or []
        if not isinstance(scopes, list):
            skip(f"resourceSpans[{r}].scopeSpans", "not a list")
            continue
        for s, scope_block in enumerate(scopes):
            where = f"resourceSpans[{r}].scopeSpans[{s}]"
            if not isinstance(scope_block, Mapping):
                skip(where, "not an object")
                continue
            scope_meta = scope_block.get("scope")
            scope = str(scope_meta.get("name", "")) if isinstance(scope_meta, Mapping) else ""
            raw_spans = scope_block.get("spans") or []
            if not isinstance(raw_spans, list):
                skip(f"{where}.spans", "not a list")
                continue
            for i, raw in enumerate(raw_spans):
                try:
                    yield _span(raw, resource, scope)
                except (ValueError, TypeError, AttributeError, OverflowError, binascii.Error, RecursionError) as exc:
                    name = raw.get("name") if isinstance(raw, Mapping) else None
                    skip(f"{where}.spans[{i}]" + (f" {name!r}" if isinstance(name, str) and name else ""), str(exc))


def parse_otlp_json(body: str | bytes | Mapping[str, Any], *, source: str = "request") -> ParsedTraces:
    """Parse one ``ExportTraceServiceRequest`` in OTLP/JSON."""
    if isinstance(body, (str, bytes)):
        if len(body) > MAX_DOCUMENT_BYTES:
            raise TraceFormatError(f"{source}: document larger than {MAX_DOCUMENT_BYTES} bytes")
        try:
            document = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise TraceFormatError(f"{source}: not JSON: {exc}") from exc
    else:
        document = body
    if not isinstance(document, Mapping):
        raise TraceFormatError(f"{source}: not an OTLP trace document (top level is not an object)")
    problems: list[SourceProblem] = []
    spans = tuple(_iter_spans(document, source, problems))
    return ParsedTraces(spans=spans, problems=tuple(problems))


Parsed = TypeVar("Parsed")


def parse_export_lines(
    lines: Iterable[tuple[int, str | bytes]], parse: Callable[..., Parsed], error: type[Exception], *, where: str | Path,
    source: str, problems: list[SourceProblem],
) -> Iterator[Parsed]:
    """JSON Lines of OTLP export requests (what file exporters write), numbered: each non-blank line through
    ``parse``; a line that raises ``error`` becomes a ``SourceProblem`` named ``source`` and the others are kept, their
    own problems added to ``problems``. One loop for the trace and log files, whoever reads them."""
    for number, line in lines:
        if not line.strip():
            continue
        try:
            parsed = parse(line, source=f"{where}:{number}")
        except error as exc:
            problems.append(report(log, SourceProblem(source=source, where=f"{where}:{number}", reason=str(exc))))
            continue
        problems.extend(parsed.problems)
        yield parsed


def read_otlp_file(path: str | Path) -> ParsedTraces:
    """One OTLP/JSON document, or JSON Lines of them (what file exporters write, one export request a line).

    A line that is not a document is a ``SourceProblem``; the other lines are kept.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TraceFormatError(f"{path}: cannot read: {exc}") from exc
    try:
        return parse_otlp_json(text, source=str(path))
    except TraceFormatError:
        if "\n" not in text.strip():
            raise
    problems: list[SourceProblem] = []
    spans = tuple(span for parsed in parse_export_lines(enumerate(text.splitlines(), start=1), parse_otlp_json,
                                                        TraceFormatError, where=path, source="otlp", problems=problems)
                  for span in parsed.spans)
    return ParsedTraces(spans=spans, problems=tuple(problems))
