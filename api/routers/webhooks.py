"""``POST /v1/webhooks/pagerduty``: PagerDuty V3 webhooks, authenticated by their signature only.

The raw body is verified before it is parsed (``X-PagerDuty-Signature``: 400 when missing, 403 when no signature
matches a configured secret). ``incident.triggered`` maps the incident's service/title to a symptom entity
(``FAULTLINE_PAGERDUTY_SERVICE_MAP``), runs an insight and — through the outbox — posts it back as a note with a link
to the console. A re-delivered event id is answered 200 and not processed again.
"""

from __future__ import annotations

import asyncio
import json

from fastapi import APIRouter, Request, Response
from pydantic import ValidationError

from ..deps import ServicesDep
from ..exceptions import MalformedBody, NotConfiguredError, RequestProblem
from ..schemas.errors import json_error
from ..schemas.openapi import json_body
from ..schemas.pagerduty import PagerDutyResult, PagerDutyWebhook
from ..services import signatures
from ..services.intake import take_pagerduty

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


def _problem(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ())) or "(body)"
    return f"{where}: {first.get('msg', 'invalid value')}"


@router.post("/pagerduty", response_model=PagerDutyResult, responses={
    400: {"description": "signature header missing, or body not JSON"}, 403: {"description": "bad signature"},
    413: {"description": "body too large"}, 422: {"description": "not a V3 webhook payload"},
    503: {"description": "no signing secret configured"}},
    openapi_extra=json_body(PagerDutyWebhook))
async def pagerduty_webhook(request: Request, services: ServicesDep, response: Response) -> PagerDutyResult:
    secrets = services.settings.pagerduty_secrets()
    if not secrets:
        raise NotConfiguredError("PagerDuty webhooks are not configured: set FAULTLINE_PAGERDUTY_WEBHOOK_SECRET")
    body = await request.body()  # capped at 256 KiB and depth-checked by api.middleware.body while it streamed in
    try:
        signatures.verify(body, request.headers.get(signatures.HEADER), secrets)
    except signatures.SignatureError:
        services.telemetry.webhooks.labels(source="pagerduty", outcome="bad_signature").inc()
        raise
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError, 4300+ digit ints
        raise MalformedBody(f"request body is not valid JSON: {json_error(exc)}") from None
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
