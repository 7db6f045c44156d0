"""The jobs ``isolation.run_isolated`` runs in worker processes: reading a ``POST /v1/insights`` body (which may hold
a whole case) and analysing an inline case. Imported by the fork server once, so each worker starts with the
analysis stack already loaded.

``read_insight_body`` is also what the route calls in-process (in a thread) for small bodies: one function, two
placements, the same errors.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from correlators.case_files import case_from_documents
from topology.case_files import CaseLimits

from ..exceptions import BodyInvalid, MalformedBody
from ..schemas.errors import validation_problems
from ..schemas.insights import InsightCreate
from ..storage.records import InsightRequest, dumps
from .analysis import json_safe, run_insight
from .backend import CaseBackend


@dataclass(frozen=True)
class InlineCaseIntake:
    """An ``InsightCreate`` whose case was read and checked: what to analyse, and the case as JSON text to store."""

    request: InsightRequest
    case_json: str


def _noop(text: str) -> None:
    return None


def read_insight_body(payload: bytes, limits: CaseLimits, *, progress: Any = _noop) -> InsightCreate | InlineCaseIntake:
    """Parse and validate a ``POST /v1/insights`` body. A case in it is read like a case directory (``limits``,
    ``CaseFormatError`` naming the place) and comes back as ``InlineCaseIntake``; anything else as ``InsightCreate``.

    pydantic-core parses the bytes straight into the model (no intermediate ``json.loads`` tree, and its parser
    refuses nesting past 200 levels cleanly); the case's documents are the model's own dicts and lists, handed to the
    case reader without a ``model_dump`` copy.
    """
    if not payload.strip():
        raise BodyInvalid(["(body): Field required"])  # what FastAPI answers for a missing body
    try:
        body = InsightCreate.model_validate_json(payload)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False, include_input=False)
        if errors and errors[0].get("type") == "json_invalid":
            why = str(errors[0].get("msg", "")).removeprefix("Invalid JSON: ")
            raise MalformedBody(f"request body is not valid JSON: {why}") from None
        raise BodyInvalid(validation_problems(errors)) from None
    if body.case is None:
        return body
    progress("reading the inline case")
    documents = {"topology": body.case.topology, "metrics": body.case.metrics, "incident": body.case.incident,
                 "changes": body.case.changes, "events": body.case.events}
    case = case_from_documents(documents["topology"], documents["metrics"], documents["incident"],
                               documents["changes"], documents["events"], name="inline", limits=limits)
    incident = case.incident
    request = InsightRequest(symptom=incident.symptom, at=body.at or incident.at, metric=body.metric or incident.metric,
                             lookback=body.lookback or f"{int(incident.lookback.total_seconds())}s",
                             title=body.title or incident.title)
    return InlineCaseIntake(request=request, case_json=dumps(documents))


def analyse_inline_case(payload: bytes, request: InsightRequest, hops: int, use_narrator: bool, limits: CaseLimits,
                        *, progress: Any = _noop) -> dict[str, Any]:
    """Run the insight ``request`` on the stored inline case ``payload`` (its JSON text)."""
    progress("loading data")
    inline = json.loads(payload)
    del payload
    case = case_from_documents(inline["topology"], inline["metrics"], inline["incident"], inline.get("changes"),
                               inline.get("events"), name="inline", limits=limits)
    del inline
    kwargs: dict[str, Any] = {"hops": hops, "on_stage": progress}
    if use_narrator:
        from .container import default_narrator

        narrate = default_narrator()
        if narrate is not None:
            kwargs["narrate"] = narrate
    return json_safe(run_insight(CaseBackend(case, name="case:inline"), request, **kwargs))
