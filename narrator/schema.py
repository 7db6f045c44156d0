"""What the model must answer: a strict draft of the narrative, its JSON schema, and the ``response_format`` for it.

Why a draft and not ``Narrative`` itself: ``Narrative`` carries fields the model must not fill (``narrator``,
``model``, ``fallback_reason``) and full ids; the draft is exactly the model's part, uses the short ids the prompt
shows, and keeps times as the strings the model copied so the grounding check can compare them verbatim.

The schema lists the evidence's entity ids and times as ``enum``s: a server that enforces the schema (llama.cpp
grammars, OpenAI strict mode, vLLM guided decoding) then cannot emit an invented id in those fields. Free text
(summary, what happened, actions) cannot be constrained that way — that is what ``grounding`` checks.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from topology.timeutil import iso

from .config import ResponseFormatMode
from .evidence import EvidencePack

MAX_STEPS = 8
MAX_FIXES = 4
SCHEMA_NAME = "faultline_narrative"

__all__ = ["DraftFix", "DraftStep", "NarrativeDraft", "draft_schema", "response_format"]


class DraftStep(BaseModel):
    model_config = ConfigDict(extra="forbid")

    entity: str
    at: str
    what: str = Field(min_length=1)


class DraftFix(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: str = Field(min_length=1)
    entity: str
    risk: str


class NarrativeDraft(BaseModel):
    """The model's answer, validated before any grounding."""

    model_config = ConfigDict(extra="forbid")

    summary: str = Field(min_length=1)
    root_cause: str
    event_chain: list[DraftStep] = Field(max_length=MAX_STEPS * 2)
    fix_suggestions: list[DraftFix] = Field(max_length=MAX_FIXES * 2)
    confidence: float = Field(ge=0.0, le=1.0)


def _string(max_length: int | None, lengths: bool) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    if lengths and max_length:
        schema["maxLength"] = max_length
    return schema


def draft_schema(pack: EvidencePack, *, enums: bool = True, lengths: bool = False) -> dict[str, Any]:
    """JSON schema of ``NarrativeDraft`` for this evidence.

    ``enums`` pins entity ids and times to the evidence's; ``lengths`` adds ``maxLength`` (honoured by llama.cpp
    grammars, where it keeps a small model from rambling; not accepted by OpenAI's strict mode, so off there).
    """
    entity: dict[str, Any] = {"type": "string"}
    time: dict[str, Any] = {"type": "string"}
    if enums:
        entity["enum"] = pack.entity_ids()
        time["enum"] = [iso(t) for t in pack.times()]
    step = {
        "type": "object",
        "properties": {"entity": entity, "at": time, "what": _string(200, lengths)},
        "required": ["entity", "at", "what"],
        "additionalProperties": False,
    }
    fix = {
        "type": "object",
        "properties": {"action": _string(240, lengths), "entity": entity, "risk": _string(200, lengths)},
        "required": ["action", "entity", "risk"],
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "properties": {
            "summary": _string(600, lengths),
            "root_cause": entity,
            "event_chain": {"type": "array", "items": step, "maxItems": MAX_STEPS},
            "fix_suggestions": {"type": "array", "items": fix, "maxItems": MAX_FIXES},
            "confidence": {"type": "number"},
        },
        "required": ["summary", "root_cause", "event_chain", "fix_suggestions", "confidence"],
        "additionalProperties": False,
    }


def response_format(mode: ResponseFormatMode, pack: EvidencePack) -> dict[str, Any] | None:
    """The ``response_format`` request field for ``mode`` (``auto`` starts as ``json_schema``)."""
    if mode in ("auto", "json_schema"):
        return {
            "type": "json_schema",
            "json_schema": {"name": SCHEMA_NAME, "strict": True, "schema": draft_schema(pack, lengths=False)},
        }
    if mode == "json_object":
        return {"type": "json_object", "schema": draft_schema(pack, lengths=True)}
    return None
