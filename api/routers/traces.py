"""``POST /v1/traces``: an OTLP/HTTP JSON trace receiver that feeds the topology.

Instrumented apps (or an OpenTelemetry Collector's ``otlphttp`` exporter with ``encoding: json``) post
``ExportTraceServiceRequest`` documents here; their service calls, LLM calls (GenAI semantic conventions, streamed
chunks merged) and vector-DB queries become ``CALLS``/``QUERIES`` relations in the analysis backend's graph. Spans
that cannot be read are counted in the OTLP ``partialSuccess`` answer with the first reasons, as the OTLP spec asks;
the rest of the request is kept. Only the JSON encoding is accepted (415 for protobuf).
"""

from __future__ import annotations

import asyncio
import json
import threading

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from topology.collectors import collect_traces
from topology.exceptions import TraceFormatError
from topology.genai import SpanDirectory, calls_from_spans
from topology.otlp import parse_otlp_json

from ..deps import ServicesDep, WriteAccess
from ..exceptions import MalformedBody, RequestProblem
from ..schemas.errors import json_error

router = APIRouter(prefix="/v1", tags=["traces"])

_INGEST = threading.Lock()  # the span directory and the graph store are written by one request at a time


class PartialSuccess(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    rejected_spans: int = Field(alias="rejectedSpans")
    error_message: str = Field(alias="errorMessage")


class ExportTraceServiceResponse(BaseModel):
    """OTLP's answer: empty on full success, ``partialSuccess`` when some spans were rejected."""

    model_config = ConfigDict(populate_by_name=True)

    partial_success: PartialSuccess | None = Field(default=None, alias="partialSuccess")


def _ingest(services, directory: SpanDirectory, document: dict) -> ExportTraceServiceResponse:
    parsed = parse_otlp_json(document, source="POST /v1/traces")
    with _INGEST:
        calls, problems = calls_from_spans(parsed.spans, directory=directory)
        collect_traces(calls, services.require_backend().graph())
    rejected = [*parsed.problems, *problems]
    if not rejected:
        return ExportTraceServiceResponse()
    reasons = "; ".join(str(p) for p in rejected[:5]) + (f"; and {len(rejected) - 5} more" if len(rejected) > 5 else "")
    return ExportTraceServiceResponse(partialSuccess=PartialSuccess(rejectedSpans=len(rejected), errorMessage=reasons))


def _directory(request: Request) -> SpanDirectory:
    """One span directory per app: callers and callees export in separate requests."""
    directory = getattr(request.app.state, "span_directory", None)
    if directory is None:
        directory = request.app.state.span_directory = SpanDirectory()
    return directory


@router.post("/traces", response_model=ExportTraceServiceResponse, response_model_exclude_none=True,
             response_model_by_alias=True, responses={
                 400: {"description": "body is not JSON"}, 413: {"description": "body too large"},
                 415: {"description": "not application/json (protobuf is not accepted)"},
                 422: {"description": "JSON, but not an OTLP trace export request"}},
             openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                 "schema": {"type": "object", "properties": {"resourceSpans": {"type": "array"}}}}}}})
async def export_traces(request: Request, services: ServicesDep, _: WriteAccess):
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        return JSONResponse(status_code=415, content={"detail": "only OTLP/HTTP JSON (application/json) is accepted"})
    body = await request.body()  # capped and depth-checked by api.middleware.body while it streamed in
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError, 4300+ digit ints
        raise MalformedBody(f"request body is not valid JSON: {json_error(exc)}") from None
    if not isinstance(document, dict):
        raise RequestProblem("not an OTLP trace export request: top level must be an object")
    try:
        return await asyncio.to_thread(_ingest, services, _directory(request), document)
    except TraceFormatError as exc:
        raise RequestProblem(str(exc)) from exc
