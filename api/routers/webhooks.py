"""``POST /v1/webhooks/pagerduty``: PagerDuty V3 webhooks, authenticated by their signature only.

The raw body is verified before it is parsed (``X-PagerDuty-Signature``: 400 when missing, 403 when no signature
matches a configured secret). ``incident.triggered`` maps the incident's service/title to a symptom entity
(``FAULTLINE_PAGERDUTY_SERVICE_MAP``), runs an insight and — through the outbox — posts it back as a note with a link
to the console. A re-delivered event id is answered 200 and not processed again.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ValidationError

from ..body_limit import read_body
from ..deps import ServicesDep
from ..exceptions import MalformedBody, NotConfiguredError, RequestProblem
from ..schemas.pagerduty import PagerDutyResult, PagerDutyWebhook
from ..services import signatures
from ..services.intake import take_pagerduty

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])

MAX_BODY_BYTES = 256 * 1024  # PagerDuty drops webhooks over 256 KB; anything larger is not from it


def _inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema with every ``$ref`` replaced by its definition.

    Why: the body is read raw (the signature covers the bytes), so FastAPI never registers the model's sub-models in
    ``components``; refs into ``components`` would dangle and clients and fuzzers could not resolve the schema.
    """
    schema = model.model_json_schema()
    definitions = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return resolve(definitions[node["$ref"].rsplit("/", 1)[-1]])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    return resolve(schema)


def _problem(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ())) or "(body)"
    return f"{where}: {first.get('msg', 'invalid value')}"


@router.post("/pagerduty", response_model=PagerDutyResult, responses={
    400: {"description": "signature header missing, or body not JSON"}, 403: {"description": "bad signature"},
    413: {"description": "body too large"}, 422: {"description": "not a V3 webhook payload"},
    503: {"description": "no signing secret configured"}},
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
        "schema": _inline_schema(PagerDutyWebhook)}}}})
async def pagerduty_webhook(request: Request, services: ServicesDep, response: Response) -> PagerDutyResult:
    secrets = services.settings.pagerduty_secrets()
    if not secrets:
        raise NotConfiguredError("PagerDuty webhooks are not configured: set FAULTLINE_PAGERDUTY_WEBHOOK_SECRET")
    body = await read_body(request, MAX_BODY_BYTES)
    try:
        signatures.verify(body, request.headers.get(signatures.HEADER), secrets)
    except signatures.SignatureError:
        services.telemetry.webhooks.labels(source="pagerduty", outcome="bad_signature").inc()
        raise
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedBody(f"request body is not valid JSON: {exc}") from exc
    try:
        payload = PagerDutyWebhook.model_validate(document)
    except ValidationError as exc:
        raise RequestProblem(f"not a PagerDuty V3 webhook: {_problem(exc)}") from exc
    try:
        outcome = await asyncio.to_thread(take_pagerduty, services, payload)
    except ValidationError as exc:
        raise RequestProblem(f"event.data is not a PagerDuty incident: {_problem(exc)}") from exc
    services.telemetry.webhooks.labels(
        source="pagerduty",
        outcome="duplicate" if outcome.duplicate else "ignored" if outcome.ignored else
        "insight" if outcome.new_insight else "recorded",
    ).inc()
    if outcome.new_insight and outcome.insight is not None:
        services.runner.submit(outcome.insight.id)
        response.status_code = 202
    return PagerDutyResult(
        event_id=payload.event.id, event_type=payload.event.event_type, duplicate=outcome.duplicate,
        ignored=outcome.ignored, incident_id=outcome.incident.id if outcome.incident else None,
        insight_id=outcome.insight.id if outcome.insight else None, symptom=outcome.symptom, message=outcome.message,
    )
