"""The FastAPI application. ``create_app()`` is the only way to build it (no module-level app with settings read at
import time); routers add the insight API, webhooks, topology queries and the console.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from correlators.case_files import case_from_documents
from topology.exceptions import CaseFormatError, StoreUnavailableError, UnknownEntityError

from .errors import user_facing_errors
from .insight import build_insight


class InlineCase(BaseModel):
    """A case sent as JSON: the documents of CASE_FORMAT.md, with metrics as a list of sample objects."""

    model_config = ConfigDict(extra="forbid")

    topology: dict[str, Any]
    metrics: list[dict[str, Any]] = Field(description="samples: {timestamp, entity, metric, value}")
    incident: dict[str, Any]
    changes: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []


def _status_for(exc: Exception) -> int:
    if isinstance(exc, CaseFormatError):
        return 422
    if isinstance(exc, UnknownEntityError):
        return 404
    if isinstance(exc, StoreUnavailableError):
        return 503
    return 400


def create_app() -> FastAPI:
    app = FastAPI(title="faultline", version="0.1.0", description="Root-cause insights for AI-native applications.")

    @app.exception_handler(Exception)
    async def _faultline_errors(request: Request, exc: Exception) -> JSONResponse:  # pragma: no cover - wiring
        if isinstance(exc, user_facing_errors()):
            return JSONResponse(status_code=_status_for(exc), content={"detail": str(exc)})
        return JSONResponse(status_code=500, content={"detail": "internal error"})

    @app.post("/v1/insights", tags=["insights"])
    def analyze_inline_case(body: InlineCase) -> dict[str, Any]:
        """Analyse a case sent inline and return the insight synchronously."""
        case = case_from_documents(body.topology, body.metrics, body.incident, body.changes, body.events, name="inline")
        return build_insight(case).to_public()

    return app
