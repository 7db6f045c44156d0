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
    """An action on an entity, with its risk. ``command`` (when faultline knows enough to write one) is safe to paste:
    it names its namespace (``-n``), its kube context when known, and the resource kind; ``effect`` says what it
    does and ``undo`` how to take it back."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    action: str
    entity: str
    risk: str
    command: str | None = None
    effect: str | None = None
    undo: str | None = None


class Narrative(BaseModel):
    """Event chain and fix suggestions. ``narrator`` says who wrote it; ``fallback_reason`` why the template did when
    an LLM was asked and failed or was not grounded."""

    model_config = ConfigDict(frozen=True)

    summary: str
    root_cause: str
    event_chain: tuple[ChainStep, ...]
    fix_suggestions: tuple[FixSuggestion, ...]
    confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    """The analysis's calibrated P(root_cause is right); None while the ranker is uncalibrated (never the model's)."""
    narrator: Literal["template", "llm"] = "template"
    model: str | None = None
    fallback_reason: str | None = None
    calibrated_on: int | None = None
    close_calls: tuple[str, ...] = ()
    """Other candidates too close to the top one to call (not on its chain, not the same change)."""
    confidence_text: str = ""
    """What the confidence means, in one or two sentences (shown by the CLI, the console and the PagerDuty note)."""
