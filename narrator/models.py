"""The narrative an on-call engineer reads: what happened, in order, and what to do."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from topology.timeutil import UtcDatetime


class ChainStep(BaseModel):
    """One step of the event chain, in time order."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    entity: str
    at: UtcDatetime
    what: str


class FixSuggestion(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    action: str
    entity: str
    risk: str


class Narrative(BaseModel):
    """Event chain and fix suggestions. ``narrator`` says who wrote it; ``fallback_reason`` why the template did when
    an LLM was asked and failed or was not grounded."""

    model_config = ConfigDict(frozen=True)

    summary: str
    root_cause: str
    event_chain: tuple[ChainStep, ...]
    fix_suggestions: tuple[FixSuggestion, ...]
    confidence: float = Field(ge=0.0, le=1.0)
    narrator: Literal["template", "llm"] = "template"
    model: str | None = None
    fallback_reason: str | None = None
