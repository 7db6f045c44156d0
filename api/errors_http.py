"""One place that turns errors into HTTP answers: ``ErrorBody`` (``{"detail": "<one clear sentence>", "problems":
[...]}``, ``api/schemas/errors.py``) and the right status. The ASGI middleware answers in the same shape.

| error | status |
|---|---|
| body is not JSON (``MalformedBody`` too) | 400 |
| ``UnsupportedMediaType`` | 415 |
| ``PayloadTooLarge`` (``OverMemoryBudget``, ``OverTimeBudget``) | 413 |
| body does not match the schema (``RequestValidationError``, ``BodyInvalid``) | 422, problems as ``field: message`` |
| unknown path, wrong method (Starlette's ``HTTPException``) | 404 / 405 |
| ``CaseFormatError`` / ``RequestProblem`` / other user-facing pipeline errors | 422 |
| ``NotFoundError`` | 404 |
| ``UnknownEntityError`` | 404 on ``/v1/topology``, 422 when it is a field of a request body |
| ``SignatureError`` | 400 when missing, 403 when wrong |
| ``AuthFailure`` | 401 / 403 |
| ``StoreUnavailableError`` / ``MetricSourceError`` / ``NotConfiguredError`` | 503 |
| ``StorageError`` | 503 |
| anything else | 500 ``internal error`` (logged with its traceback, never sent) |
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from detectors.exceptions import MetricSourceError
from topology.exceptions import CaseFormatError, StoreUnavailableError, UnknownEntityError

from .auth import AuthFailure
from .errors import user_facing_errors
from .exceptions import (
    BodyInvalid,
    MalformedBody,
    NotConfiguredError,
    NotFoundError,
    PayloadTooLarge,
    RequestProblem,
    SignatureError,
    StorageError,
    UnsupportedMediaType,
)
from .middleware.headers import HEADERS
from .schemas.errors import error_body, validation_problems

log = logging.getLogger(__name__)


def _problem_list(exc: RequestValidationError) -> list[str]:
    return validation_problems(list(exc.errors()))


def status_for(exc: Exception) -> int:
    if isinstance(exc, AuthFailure):
        return exc.status
    if isinstance(exc, SignatureError):
        return 400 if exc.missing else 403
    if isinstance(exc, MalformedBody):
        return 400
    if isinstance(exc, BodyInvalid):
        return 422
    if isinstance(exc, UnsupportedMediaType):
        return 415
    if isinstance(exc, PayloadTooLarge):
        return 413
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, UnknownEntityError):
        return 404
    if isinstance(exc, (StoreUnavailableError, MetricSourceError, NotConfiguredError, StorageError)):
        return 503
    if isinstance(exc, (CaseFormatError, RequestProblem)):
        return 422
    if isinstance(exc, user_facing_errors()):
        return 422
    return 500


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if errors and errors[0].get("type") == "json_invalid":
            ctx = errors[0].get("ctx") or {}
            return JSONResponse(status_code=400, content=error_body(
                f"request body is not valid JSON: {ctx.get('error', 'parse error')}"))
        problems = _problem_list(exc)
        return JSONResponse(status_code=422, content=error_body("; ".join(problems), problems))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else "request refused"
        return JSONResponse(status_code=exc.status_code, content=error_body(detail), headers=exc.headers)

    handled = (AuthFailure, SignatureError, MalformedBody, BodyInvalid, UnsupportedMediaType, PayloadTooLarge,
               NotFoundError, RequestProblem, NotConfiguredError, StorageError, MetricSourceError,
               *user_facing_errors())
    for kind in handled:
        @app.exception_handler(kind)
        async def _known(request: Request, exc: Exception) -> JSONResponse:
            status = status_for(exc)
            headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
            if status >= 500:
                log.warning("%s %s -> %d: %s", request.method, request.url.path, status, exc)
            problems = exc.problems if isinstance(exc, BodyInvalid) else ()
            return JSONResponse(status_code=status, content=error_body(str(exc), problems), headers=headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # answered by Starlette's outermost layer, outside the security-headers middleware: add them here
        log.exception("%s %s failed", request.method, request.url.path)
        return JSONResponse(status_code=500, content=error_body("internal error"),
                            headers={name.decode(): value.decode() for name, value in HEADERS})
