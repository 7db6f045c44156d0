"""OTLP/HTTP transport rules for ``POST /v1/traces`` and ``POST /v1/logs``: content types, gzip, answers.

What the OTLP specification (``specification/protocol/otlp.md``, "OTLP/HTTP") asks of a server, and how it is met:

* bodies are binary protobuf (``application/x-protobuf``) or JSON protobuf (``application/json``), multiplexed on
  ``Content-Type``; anything else is **415**;
* ``Content-Encoding: gzip`` must be accepted (the Collector's ``otlphttp`` exporter gzips by default); the body is
  inflated incrementally and refused with **413** as soon as it passes ``max_decompressed_bytes`` — a gzip bomb
  never reaches memory. Other encodings are **415**;
* success is **200** with an ``Export<signal>ServiceResponse`` in the request's own encoding and content type,
  ``partial_success`` unset; when some items were rejected (a span with a bad id, a log record without a time), the
  same message with ``partial_success`` counting them and saying why, the rest kept;
* an empty request (``{}``, zero bytes of protobuf) is a success;
* failures are 4xx/5xx whose body is a ``google.rpc.Status`` in the request's encoding: **400** for data that cannot
  be decoded (truncated protobuf, not JSON, not an export request), with a ``google.rpc.BadRequest`` detail; **413**
  for an oversized body or a batch of more than ``max_items`` spans or records; **503** (retryable) when the store
  cannot take the data, so nothing a client was told is accepted is lost.

This module knows HTTP and encodings only; what happens to the decoded spans and records is
``api.services.otlp_ingest``.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from typing import Any, Literal

from google.protobuf import json_format
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from .exceptions import ApiError

Encoding = Literal["protobuf", "json"]
PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_GRPC_CODES = {400: 3, 413: 8, 415: 3, 429: 8, 500: 13, 503: 14}
"""HTTP status → ``google.rpc.Code`` (INVALID_ARGUMENT, RESOURCE_EXHAUSTED, INTERNAL, UNAVAILABLE): the spec does not
use ``Status.code`` but clients may log it."""


class OtlpHttpError(ApiError):
    """A request the OTLP receiver refuses; ``status`` is the HTTP status, ``field`` names the bad part if any."""

    def __init__(self, status: int, message: str, *, field: str | None = None) -> None:
        self.status = status
        self.field = field
        super().__init__(message)


@dataclass(frozen=True)
class Signal:
    """One OTLP signal: its path, its response message and the name of its rejected-items counter."""

    name: str
    item: str
    response: type
    rejected_field: str


TRACES = Signal("traces", "spans", ExportTraceServiceResponse, "rejected_spans")
LOGS = Signal("logs", "log records", ExportLogsServiceResponse, "rejected_log_records")


def request_encoding(content_type: str | None) -> Encoding:
    """``Content-Type`` → the payload's encoding; 415 for anything OTLP/HTTP does not define."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media == PROTOBUF:
        return "protobuf"
    if media == JSON:
        return "json"
    raise OtlpHttpError(415, f"unsupported Content-Type {media or '(none)'!r}: OTLP/HTTP takes {PROTOBUF} or {JSON}")


def inflate(body: bytes, content_encoding: str | None, max_bytes: int) -> bytes:
    """The body without its ``Content-Encoding`` (none, ``identity`` or ``gzip``), at most ``max_bytes`` long."""
    coding = (content_encoding or "").strip().lower()
    if coding in ("", "identity", "none"):
        if len(body) > max_bytes:
            raise OtlpHttpError(413, f"body of {len(body)} bytes is larger than {max_bytes} bytes")
        return body
    if coding not in ("gzip", "x-gzip"):
        raise OtlpHttpError(415, f"unsupported Content-Encoding {coding!r}: only gzip (or none) is accepted")
    out: list[bytes] = []
    total = 0
    data = body
    while data:
        inflater = zlib.decompressobj(wbits=31)  # 31: gzip header and trailer
        try:
            while data:
                chunk = inflater.decompress(data, max_bytes + 1 - total)
                total += len(chunk)
                out.append(chunk)
                if total > max_bytes:
                    raise OtlpHttpError(413, f"gzip body inflates to more than {max_bytes} bytes")
                data = inflater.unconsumed_tail
                if inflater.eof:
                    break
            if not inflater.eof:
                raise OtlpHttpError(400, "gzip body is truncated", field="body")
        except zlib.error as exc:
            raise OtlpHttpError(400, f"body is not valid gzip: {exc}", field="body") from exc
        data = inflater.unused_data  # a gzip stream may hold several members, one after another
    return b"".join(out)


def _encode(message: Any, encoding: Encoding) -> bytes:
    if encoding == "protobuf":
        return message.SerializeToString()
    return json.dumps(json_format.MessageToDict(message), separators=(",", ":")).encode()


def export_response(signal: Signal, encoding: Encoding, rejected: int = 0, message: str = "") -> bytes:
    """``Export<signal>ServiceResponse``: empty on full success; ``partial_success`` with the rejected count and
    the reasons otherwise (or with 0 rejected and a warning, which the spec allows)."""
    response = signal.response()
    if rejected or message:
        response.partial_success.SetInParent()
        setattr(response.partial_success, signal.rejected_field, rejected)
        response.partial_success.error_message = message
    return _encode(response, encoding)


def status_body(error: OtlpHttpError, encoding: Encoding) -> bytes:
    """``google.rpc.Status`` for a failure, with a ``BadRequest`` field violation for bad data."""
    status = status_pb2.Status(code=_GRPC_CODES.get(error.status, 2), message=str(error))
    if error.status == 400:
        bad = error_details_pb2.BadRequest()
        bad.field_violations.add(field=error.field or "body", description=str(error))
        status.details.add().Pack(bad)
    return _encode(status, encoding)


def media_type(encoding: Encoding) -> str:
    return PROTOBUF if encoding == "protobuf" else JSON
