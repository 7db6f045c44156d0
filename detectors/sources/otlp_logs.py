"""OTLP log records (``ExportLogsServiceRequest``) in JSON and binary protobuf → typed ``LogRecord`` objects.

The body of ``POST /v1/logs`` and the lines of a case's ``logs.jsonl`` (one export request a line, as the
OpenTelemetry Collector's ``file`` exporter writes them). As for spans (``topology.otlp``), a record that cannot be
read (no timestamp at all, an id of the wrong length) is skipped with a ``SourceProblem`` and its neighbours are
kept; a body that is not an OTLP log document at all is a ``LogFormatError``.

JSON: lowerCamelCase field names as the OTLP spec writes them, snake_case as protobuf JSON parsers also accept, hex
trace/span ids, 64-bit integers as strings or numbers, unknown fields ignored. Protobuf: decoded by the project's
generated classes (``opentelemetry-proto``).

A record's time is ``timeUnixNano``, or ``observedTimeUnixNano`` when the source did not set it (the log data model
allows either to be absent). Its level comes from ``severityNumber`` (the data model's ranges: 1–4 TRACE … 17–20
ERROR, 21–24 FATAL), else from ``severityText``. A structured body (a map, an array) is kept as compact JSON text:
template mining reads text.
"""

from __future__ import annotations

import binascii
import json
import logging
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from pydantic import BaseModel, ConfigDict

from topology.otlp import MAX_DOCUMENT_BYTES, any_value, attributes, construct, parse_export_lines, resource_entity
from topology.otlp_proto import any_value_pb, attributes_pb
from topology.problems import SourceProblem, report

from ..exceptions import LogFormatError

log = logging.getLogger(__name__)

__all__ = [
    "LEVELS", "LogRecord", "ParsedLogs", "count_log_records", "decode_logs_request", "level_of", "parse_logs_json",
    "parse_logs_protobuf", "read_logs_file", "records_from_request",
]

LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
_TEXT_LEVELS = {
    "TRACE": "TRACE", "DEBUG": "DEBUG", "INFO": "INFO", "INFORMATION": "INFO", "NOTICE": "INFO", "WARN": "WARN",
    "WARNING": "WARN", "ERROR": "ERROR", "ERR": "ERROR", "SEVERE": "ERROR", "FATAL": "FATAL", "CRITICAL": "FATAL",
    "CRIT": "FATAL", "ALERT": "FATAL", "EMERGENCY": "FATAL", "PANIC": "FATAL",
}


def level_of(severity_number: int, severity_text: str = "") -> str:
    """``TRACE`` … ``FATAL`` from the data model's severity number, else the text; ``INFO`` when neither says."""
    if 1 <= severity_number <= 24:
        return LEVELS[(severity_number - 1) // 4]
    return _TEXT_LEVELS.get(severity_text.strip().upper(), "INFO")


class LogRecord(BaseModel):
    """One log record with its resource's attributes; ``time_ns`` is integer nanoseconds since the epoch."""

    model_config = ConfigDict(frozen=True)

    time_ns: int
    body: str = ""
    severity_number: int = 0
    severity_text: str = ""
    trace_id: str | None = None
    span_id: str | None = None
    attributes: dict[str, Any] = {}
    resource: dict[str, Any] = {}
    scope: str = ""

    @property
    def level(self) -> str:
        return level_of(self.severity_number, self.severity_text)

    @property
    def is_error(self) -> bool:
        return self.level in ("ERROR", "FATAL")

    @property
    def service(self) -> str | None:
        value = self.resource.get("service.name")
        return str(value) if value else None

    @property
    def entity(self) -> str | None:
        return resource_entity(self.resource)

    @property
    def time(self) -> datetime:
        return datetime.fromtimestamp(self.time_ns / 1e9, tz=timezone.utc)


class ParsedLogs(BaseModel):
    model_config = ConfigDict(frozen=True)

    records: tuple[LogRecord, ...]
    problems: tuple[SourceProblem, ...] = ()


def body_text(value: Any) -> str:
    """A log body as text: a string as is, bytes decoded, a map or an array as compact JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, (dict, tuple, list)):
        return json.dumps(value, separators=(",", ":"), default=_json_default, ensure_ascii=False)
    return str(value)


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, tuple):
        return list(value)
    return str(value)


def _time(time_ns: int, observed_ns: int) -> int:
    value = time_ns or observed_ns
    if value <= 0:
        raise ValueError("neither timeUnixNano nor observedTimeUnixNano is set")
    return value


# -- JSON ---------------------------------------------------------------------------------------------------------
def _field(obj: Mapping[str, Any], camel: str) -> Any:
    if camel in obj:
        return obj[camel]
    snake = "".join("_" + c.lower() if c.isupper() else c for c in camel)
    return obj.get(snake)


def _hex_or_none(raw: Any, length: int, what: str) -> str | None:
    if raw in (None, ""):
        return None
    if not isinstance(raw, str) or len(raw) != length:
        raise ValueError(f"{what} must be {length} hex characters, got {raw!r}")
    try:
        number = int(raw, 16)
    except ValueError:
        raise ValueError(f"{what} is not hex: {raw!r}") from None
    return raw.lower() if number else None


def _int(raw: Any, what: str) -> int:
    if raw in (None, ""):
        return 0
    if isinstance(raw, bool):
        raise ValueError(f"{what} is not an integer: {raw!r}")
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise ValueError(f"{what} is not an integer: {raw!r}") from None


def _record_json(raw: Any, resource: dict[str, Any], scope: str) -> LogRecord:
    if not isinstance(raw, Mapping):
        raise ValueError("log record is not an object")
    body = raw.get("body")
    text = body_text(any_value(body)) if body not in (None, {}) else ""
    return construct(LogRecord, {
        "time_ns": _time(_int(_field(raw, "timeUnixNano"), "timeUnixNano"),
                         _int(_field(raw, "observedTimeUnixNano"), "observedTimeUnixNano")),
        "body": text, "severity_number": _int(_field(raw, "severityNumber"), "severityNumber"),
        "severity_text": str(_field(raw, "severityText") or ""),
        "trace_id": _hex_or_none(_field(raw, "traceId"), 32, "traceId"),
        "span_id": _hex_or_none(_field(raw, "spanId"), 16, "spanId"),
        "attributes": attributes(raw.get("attributes")), "resource": resource, "scope": scope,
    })


_READ_ERRORS = (ValueError, TypeError, AttributeError, OverflowError, binascii.Error, RecursionError)


def _iter_json(document: Mapping[str, Any], source: str, problems: list[SourceProblem]) -> Iterator[LogRecord]:
    blocks = _field(document, "resourceLogs")
    if blocks is None and not document:
        return  # ``{}``: an empty export request, which the OTLP spec says to accept
    if blocks is None:
        blocks = []
    if not isinstance(blocks, list):
        raise LogFormatError(f"{source}: not an OTLP log document (resourceLogs is not a list)")

    def skip(where: str, reason: str) -> None:
        problems.append(report(log, SourceProblem(source="otlp-logs", where=f"{source} {where}", reason=reason)))

    for r, block in enumerate(blocks):
        if not isinstance(block, Mapping):
            skip(f"resourceLogs[{r}]", "not an object")
            continue
        raw_resource = block.get("resource") or {}
        try:
            if not isinstance(raw_resource, Mapping):
                raise ValueError("resource is not an object")
            resource = attributes(raw_resource.get("attributes"))
        except _READ_ERRORS as exc:
            skip(f"resourceLogs[{r}]", f"bad resource: {exc}")
            continue
        scopes = _field(block, "scopeLogs") or []
        if not isinstance(scopes, list):
            skip(f"resourceLogs[{r}].scopeLogs", "not a list")
            continue
        for s, scope_block in enumerate(scopes):
            where = f"resourceLogs[{r}].scopeLogs[{s}]"
            if not isinstance(scope_block, Mapping):
                skip(where, "not an object")
                continue
            meta = scope_block.get("scope")
            scope = str(meta.get("name", "")) if isinstance(meta, Mapping) else ""
            raw_records = _field(scope_block, "logRecords") or []
            if not isinstance(raw_records, list):
                skip(f"{where}.logRecords", "not a list")
                continue
            for i, raw in enumerate(raw_records):
                try:
                    yield _record_json(raw, resource, scope)
                except _READ_ERRORS as exc:
                    skip(f"{where}.logRecords[{i}]", str(exc))


def parse_logs_json(body: str | bytes | Mapping[str, Any], *, source: str = "request") -> ParsedLogs:
    """Parse one ``ExportLogsServiceRequest`` in OTLP/JSON."""
    if isinstance(body, (str, bytes)):
        if len(body) > MAX_DOCUMENT_BYTES:
            raise LogFormatError(f"{source}: document larger than {MAX_DOCUMENT_BYTES} bytes")
        try:
            document = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise LogFormatError(f"{source}: not JSON: {exc}") from exc
    else:
        document = body
    if not isinstance(document, Mapping):
        raise LogFormatError(f"{source}: not an OTLP log document (top level is not an object)")
    problems: list[SourceProblem] = []
    records = tuple(_iter_json(document, source, problems))
    return ParsedLogs.model_construct(records=records, problems=tuple(problems))


# -- protobuf -----------------------------------------------------------------------------------------------------
def decode_logs_request(body: bytes, *, source: str = "request") -> ExportLogsServiceRequest:
    message = ExportLogsServiceRequest()
    try:
        message.ParseFromString(body)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise LogFormatError(f"{source}: not an OTLP protobuf ExportLogsServiceRequest: {exc}") from exc
    return message


def _id_pb(raw: bytes, length: int, what: str) -> str | None:
    if not raw:
        return None
    if len(raw) != length:
        raise ValueError(f"{what} must be {length} bytes, got {len(raw)}")
    return raw.hex() if any(raw) else None


def _record_pb(raw: Any, resource: dict[str, Any], scope: str) -> LogRecord:
    body = raw.body
    kind = body.WhichOneof("value")
    if kind == "string_value":
        text = body.string_value
    else:
        text = body_text(any_value_pb(body)) if kind is not None else ""
    return construct(LogRecord, {
        "time_ns": _time(raw.time_unix_nano, raw.observed_time_unix_nano), "body": text,
        "severity_number": int(raw.severity_number), "severity_text": raw.severity_text,
        "trace_id": _id_pb(raw.trace_id, 16, "traceId"), "span_id": _id_pb(raw.span_id, 8, "spanId"),
        "attributes": attributes_pb(raw.attributes) if raw.attributes else {}, "resource": resource, "scope": scope,
    })


def records_from_request(message: ExportLogsServiceRequest, source: str,
                         problems: list[SourceProblem]) -> Iterator[LogRecord]:
    for r, block in enumerate(message.resource_logs):
        resource = attributes_pb(block.resource.attributes)
        for s, scope_block in enumerate(block.scope_logs):
            scope = scope_block.scope.name
            for i, raw in enumerate(scope_block.log_records):
                try:
                    yield _record_pb(raw, resource, scope)
                except _READ_ERRORS as exc:
                    problems.append(report(log, SourceProblem(
                        source="otlp-logs", where=f"{source} resourceLogs[{r}].scopeLogs[{s}].logRecords[{i}]",
                        reason=str(exc))))


def count_log_records(message: ExportLogsServiceRequest) -> int:
    return sum(len(scope.log_records) for block in message.resource_logs for scope in block.scope_logs)


def parse_logs_protobuf(body: bytes, *, source: str = "request") -> ParsedLogs:
    problems: list[SourceProblem] = []
    records = tuple(records_from_request(decode_logs_request(body, source=source), source, problems))
    return ParsedLogs.model_construct(records=records, problems=tuple(problems))


# -- files --------------------------------------------------------------------------------------------------------
def read_logs_file(path: str | Path) -> ParsedLogs:
    """``logs.jsonl``: one OTLP/JSON export request a line (a whole file holding one document is read too).

    A line that is not a log document is a ``SourceProblem``; the other lines are kept.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LogFormatError(f"{path}: cannot read: {exc}") from exc
    try:
        return parse_logs_json(text, source=str(path))
    except LogFormatError:
        if "\n" not in text.strip():
            raise
    problems: list[SourceProblem] = []
    records = tuple(record for parsed in parse_export_lines(enumerate(text.splitlines(), start=1), parse_logs_json,
                                                            LogFormatError, where=path, source="otlp-logs",
                                                            problems=problems)
                    for record in parsed.records)
    return ParsedLogs.model_construct(records=records, problems=tuple(problems))
