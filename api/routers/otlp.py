"""``POST /v1/traces`` and ``POST /v1/logs``: OTLP/HTTP receivers (protobuf or JSON, gzip or not).

Glue only: the transport rules are ``api.otlp_http``, what is done with the data ``api.services.otlp_ingest``.
Spans and log records go to the telemetry store the analysis reads; spans also grow the topology (service, LLM
and vector-DB calls).
"""

from __future__ import annotations

import asyncio
import threading

import re

from fastapi import APIRouter, Request, Response

from detectors.sources.telemetry_store import TelemetryStore

from ..deps import ReadAccess, ServicesDep, WriteAccess
from ..exceptions import NotFoundError, RequestProblem
from ..otlp_http import JSON, LOGS, PROTOBUF, TRACES, OtlpHttpError, Signal, media_type, request_encoding, status_body
from ..services.otlp_ingest import OtlpIngest, OtlpLimits

router = APIRouter(prefix="/v1", tags=["otlp"])
_CREATE = threading.Lock()


def otlp_ingest(request: Request, services) -> OtlpIngest:
    """The app's receiver state, made on first use (the store file is opened only by apps that receive data)."""
    ingest = getattr(request.app.state, "otlp_ingest", None)
    if ingest is None:
        with _CREATE:
            ingest = getattr(request.app.state, "otlp_ingest", None)
            if ingest is None:
                s = services.settings
                store = TelemetryStore(s.telemetry_path, retention_s=s.telemetry_retention_s,
                                       max_spans=s.telemetry_max_spans, max_logs=s.telemetry_max_logs,
                                       max_bytes=s.telemetry_max_bytes)
                services.extras["telemetry_store"] = store
                ingest = request.app.state.otlp_ingest = OtlpIngest(
                    store, graph=lambda: services.require_backend().graph(),
                    limits=OtlpLimits(s.otlp_max_decompressed_bytes, s.otlp_max_items))
    return ingest


async def _receive(request: Request, services, signal: Signal) -> Response:
    encoding = "json"
    try:
        encoding = request_encoding(request.headers.get("content-type"))
        body = await request.body()
        ingest = otlp_ingest(request, services)
        handler = ingest.traces if signal is TRACES else ingest.logs
        answer = await asyncio.to_thread(handler, body, encoding, request.headers.get("content-encoding"))
    except OtlpHttpError as exc:
        return Response(status_body(exc, encoding), status_code=exc.status, media_type=media_type(encoding),
                        headers={"Retry-After": "5"} if exc.status == 503 else None)
    return Response(answer, media_type=media_type(encoding))


_DOC = {
    200: {"description": "accepted; `partialSuccess` counts and explains rejected items (same encoding as the request)"},
    400: {"description": "cannot be decoded (google.rpc.Status)"}, 413: {"description": "body or batch too large"},
    415: {"description": "Content-Type not application/x-protobuf or application/json, or Content-Encoding not gzip"},
    503: {"description": "the telemetry store cannot take data now: retry"},
}


def _body(key: str) -> dict:
    return {"requestBody": {"required": True, "content": {
        PROTOBUF: {"schema": {"type": "string", "format": "binary"}},
        JSON: {"schema": {"type": "object", "properties": {key: {"type": "array"}}}}}}}


@router.post("/traces", responses=_DOC, openapi_extra=_body("resourceSpans"), response_class=Response,
             summary="OTLP/HTTP trace export (ExportTraceServiceRequest)")
async def export_traces(request: Request, services: ServicesDep, _: WriteAccess) -> Response:
    return await _receive(request, services, TRACES)


@router.post("/logs", responses=_DOC, openapi_extra=_body("resourceLogs"), response_class=Response,
             summary="OTLP/HTTP log export (ExportLogsServiceRequest)")
async def export_logs(request: Request, services: ServicesDep, _: WriteAccess) -> Response:
    return await _receive(request, services, LOGS)


_TRACE_ID = re.compile(r"[0-9a-fA-F]{32}")


@router.get("/traces/{trace_id}", summary="One trace's spans and log lines (the console's waterfall)",
            responses={404: {"description": "no span of this trace is known"}})
async def get_trace(trace_id: str, services: ServicesDep, _: ReadAccess) -> dict:
    if not _TRACE_ID.fullmatch(trace_id):
        raise RequestProblem("a trace id is 32 hex digits")
    backend = await asyncio.to_thread(services.require_backend)
    lookup = getattr(backend, "trace", None)
    view = await asyncio.to_thread(lookup, trace_id) if lookup is not None else None
    if view is None or not view.spans:
        raise NotFoundError("trace", trace_id)
    return {"trace_id": trace_id.lower(), "spans": view.spans, "logs": view.logs}
