"""What the model must answer: a strict draft of the narrative, its JSON schema, and the ``response_format`` for it.

Why a draft and not ``Narrative`` itself: ``Narrative`` carries fields the model must not fill (``narrator``,
``model``, ``fallback_reason``, the confidence) and full ids; the draft is exactly the model's part, uses the short ids
the prompt shows, and keeps times as the strings the model copied so the grounding check can compare them verbatim.
The model is not asked for a confidence: a model's opinion of itself is not a probability (``narrator.confidence``).

The schema lists the evidence's entity ids and times as ``enum``s: a server that enforces the schema (llama.cpp
grammars, OpenAI strict mode, vLLM guided decoding) then cannot emit an invented id in those fields. Free text
(summary, what happened, actions) cannot be constrained that way — that is what ``grounding`` checks.

Sizing, so an answer is never cut in the middle of a string (``AnswerShape``): where the server honours string
bounds (llama.cpp grammars, vLLM/llama-server json_schema), every free-text field carries one, arrays carry
``maxItems``, and ``answer_bound`` adds up the longest document the schema allows. The request's ``max_tokens`` is
set to that bound (a token is at least one byte), and the shape shrinks until the bound fits the configured
``FAULTLINE_LLM_MAX_TOKENS``. The ``small`` profile (models under ~1B parameters, e.g. SmolLM2-135M) goes further:
a short answer whose free text is printable ASCII without digits, quotes or angle brackets — the model cannot copy
the ``<placeholder>`` of an example, and cannot invent a number, a time or an id with digits in prose; facts travel
in the enum-constrained fields, and each event-chain step's text is picked from the timeline the model was shown
(a selection task a 135M model can do; the timeline's numbers come with it). The bound is then exact.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from topology.timeutil import iso

from .config import ResponseFormatMode
from .evidence import ActionBrief, EvidencePack, TimelineEntry

MAX_STEPS = 8
MAX_FIXES = 4
SCHEMA_NAME = "faultline_narrative"
Profile = Literal["full", "small"]

SMALL_TEXT_CLASS = "[a-zA-Z ,.;()'/_!?-]"
"""Free text of the small profile: letters, spaces and plain punctuation. No digits (no number, time or sha can be
written), no ``:`` or ``@`` (no ``kind:name`` id, no URL), no quotes, backslashes or ``<>`` (no placeholder)."""

__all__ = [
    "AnswerShape", "DraftFix", "DraftStep", "NarrativeDraft", "answer_bound", "draft_schema", "fitted_format",
    "action_line", "response_format", "shape_for", "timeline_line",
]


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


def action_line(action: ActionBrief) -> str:
    """A suggested action as the prompt shows it (``ACTION | ENTITY | RISK``); the small profile picks such lines."""
    return f"{action.action} | {action.entity} | {action.risk}"


def timeline_line(entry: TimelineEntry) -> str:
    """A timeline entry as the prompt shows it (``AT | ENTITY | WHAT``); the small profile's steps are such lines."""
    return f"{iso(entry.at)} | {entry.entity} | {entry.what}"


class NarrativeDraft(BaseModel):
    """The model's answer, validated before any grounding. ``confidence`` is tolerated from servers that do not
    enforce the schema, and ignored. A step given as a timeline line (the small profile) is split into its parts."""

    model_config = ConfigDict(extra="forbid")

    summary: str = Field(min_length=1)
    root_cause: str
    event_chain: list[DraftStep] = Field(max_length=MAX_STEPS * 2)
    fix_suggestions: list[DraftFix] = Field(max_length=MAX_FIXES * 2)
    confidence: float | None = Field(default=None, ge=0.0, le=1.0)

    @field_validator("event_chain", mode="before")
    @classmethod
    def _timeline_lines(cls, value: Any) -> Any:
        if not isinstance(value, list):
            return value
        steps = []
        for item in value:
            if isinstance(item, str) and item.count(" | ") >= 2:
                at, entity, what = item.split(" | ", 2)
                item = {"entity": entity, "at": at, "what": what}
            steps.append(item)
        return steps

    @field_validator("fix_suggestions", mode="before")
    @classmethod
    def _action_lines(cls, value: Any) -> Any:
        if not isinstance(value, list):
            return value
        fixes = []
        for item in value:
            if isinstance(item, str) and item.count(" | ") >= 2:
                action, entity, risk = item.split(" | ", 2)
                item = {"action": action, "entity": entity, "risk": risk}
            fixes.append(item)
        return fixes


@dataclass(frozen=True)
class AnswerShape:
    """How long an answer may be: items per list and characters per free-text field."""

    steps: int
    fixes: int
    summary: int
    what: int
    action: int
    risk: int
    digits: bool = True
    """May free text hold digits? (False in the small profile: numbers only where the schema pins them.)"""

    _FLOOR = {"steps": 3, "fixes": 1, "summary": 80, "what": 40, "action": 60, "risk": 40}

    def shrink(self) -> AnswerShape | None:
        """The next smaller shape, ``None`` at the floor: a step fewer, then shorter texts, then a fix fewer, in turn,
        so no part is cut to its floor while another is whole."""
        texts = {k: max(self._FLOOR[k], getattr(self, k) * 17 // 20) for k in ("summary", "what", "action", "risk")}
        options = [
            replace(self, steps=self.steps - 1) if self.steps > self._FLOOR["steps"] else None,
            replace(self, **texts) if any(texts[k] != getattr(self, k) for k in texts) else None,
            replace(self, fixes=self.fixes - 1) if self.fixes > max(self._FLOOR["fixes"], self.steps // 3) else None,
        ]
        turn = (self.steps + self.fixes + self.summary) % 3
        for offset in range(3):
            option = options[(turn + offset) % 3]
            if option is not None:
                return option
        return None


FULL = AnswerShape(steps=MAX_STEPS, fixes=MAX_FIXES, summary=600, what=200, action=240, risk=200)
SMALL = AnswerShape(steps=5, fixes=2, summary=160, what=80, action=120, risk=80, digits=False)


def shape_for(profile: Profile) -> AnswerShape:
    return SMALL if profile == "small" else FULL


def _text(max_length: int, lengths: bool, digits: bool) -> dict[str, Any]:
    if not lengths:
        return {"type": "string"}
    if not digits:
        return {"type": "string", "pattern": f"^{SMALL_TEXT_CLASS}{{1,{max_length}}}$"}
    return {"type": "string", "minLength": 1, "maxLength": max_length}


def draft_schema(pack: EvidencePack, *, enums: bool = True, lengths: bool = False, shape: AnswerShape = FULL) -> dict[str, Any]:
    """JSON schema of ``NarrativeDraft`` for this evidence.

    ``enums`` pins entity ids and times to the evidence's; ``lengths`` adds the string bounds of ``shape``
    (honoured by llama.cpp grammars and vLLM; not accepted by OpenAI's strict mode, so off there).
    """
    entity: dict[str, Any] = {"type": "string"}
    time: dict[str, Any] = {"type": "string"}
    if enums:
        entity["enum"] = pack.entity_ids()
        time["enum"] = [iso(t) for t in pack.times()]
    digits = shape.digits or not lengths
    step: dict[str, Any] = {
        "type": "object",
        "properties": {"entity": entity, "at": time, "what": _text(shape.what, lengths, digits)},
        "required": ["entity", "at", "what"],
        "additionalProperties": False,
    }
    if not digits and pack.timeline:  # small profile: a step is a timeline line, copied whole
        step = {"type": "string", "enum": [timeline_line(t) for t in pack.timeline]}
    fix: dict[str, Any] = {
        "type": "object",
        "properties": {"action": _text(shape.action, lengths, digits), "entity": entity,
                       "risk": _text(shape.risk, lengths, digits)},
        "required": ["action", "entity", "risk"],
        "additionalProperties": False,
    }
    if not digits and pack.actions:  # … and a fix one of the actions faultline's rules suggest
        fix = {"type": "string", "enum": [action_line(a) for a in pack.actions]}
    return {
        "type": "object",
        "properties": {
            "summary": _text(shape.summary, lengths, digits),
            "root_cause": entity,
            "event_chain": {"type": "array", "items": step, "maxItems": shape.steps, **({"minItems": 1} if lengths else {})},
            "fix_suggestions": {"type": "array", "items": fix, "maxItems": shape.fixes},
        },
        "required": ["summary", "root_cause", "event_chain", "fix_suggestions"],
        "additionalProperties": False,
    }


_BOUNDED = re.compile(r"\{\d+,(\d+)\}\$$")


def answer_bound(schema: dict[str, Any]) -> int | None:
    """Bytes of the longest JSON document ``schema`` allows with one space between tokens (llama.cpp's grammar), or
    ``None`` when a string is unbounded. Exact for enums and pattern-bounded ASCII text; ``maxLength`` text counts
    one byte a character (an approximation for non-ASCII prose)."""
    if "enum" in schema:
        return max(len(json.dumps(v, ensure_ascii=False).encode()) for v in schema["enum"]) + 1
    kind = schema.get("type")
    if kind == "string":
        if "pattern" in schema and (m := _BOUNDED.search(schema["pattern"])):
            return int(m.group(1)) + 3
        if "maxLength" in schema:
            return int(schema["maxLength"]) + 3
        return None
    if kind == "number":
        return 26
    if kind == "array":
        item = answer_bound(schema["items"])
        if item is None or "maxItems" not in schema:
            return None
        return 3 + int(schema["maxItems"]) * (item + 2)
    if kind == "object":
        total = 3
        for name, sub in schema["properties"].items():
            value = answer_bound(sub)
            if value is None:
                return None
            total += len(json.dumps(name)) + 3 + value + 2
        return total
    return None


@dataclass(frozen=True)
class FittedFormat:
    """The ``response_format`` to send and the ``max_tokens`` that cannot cut its answer short."""

    response_format: dict[str, Any] | None
    max_tokens: int
    shape: AnswerShape
    bound: int | None


def response_format(mode: ResponseFormatMode, pack: EvidencePack, shape: AnswerShape = FULL,
                    lengths: bool | None = None) -> dict[str, Any] | None:
    """The ``response_format`` request field for ``mode`` (``auto`` starts as ``json_schema``).

    ``json_schema`` carries string bounds only when ``lengths`` is true (the small profile, aimed at servers that
    enforce them); ``json_object`` (llama-cpp-python) always does.
    """
    if mode in ("auto", "json_schema"):
        schema = draft_schema(pack, lengths=bool(lengths), shape=shape)
        return {"type": "json_schema", "json_schema": {"name": SCHEMA_NAME, "strict": True, "schema": schema}}
    if mode == "json_object":
        return {"type": "json_object", "schema": draft_schema(pack, lengths=True if lengths is None else lengths, shape=shape)}
    return None


def fitted_format(mode: ResponseFormatMode, pack: EvidencePack, profile: Profile, max_tokens: int) -> FittedFormat:
    """The largest answer shape of ``profile`` whose longest answer fits ``max_tokens``, and the request's
    ``max_tokens`` (that bound plus a small margin, so a bounded answer always completes).

    Without enforced bounds (OpenAI strict ``json_schema``, or ``none``) the answer cannot be bounded: the configured
    ``max_tokens`` is sent and the shape is only a request in the prompt.
    """
    lengths = profile == "small" or mode == "json_object"
    shape: AnswerShape | None = shape_for(profile)
    best = None
    while shape is not None:
        fmt = response_format(mode, pack, shape, lengths)
        schema = _schema_of(fmt)
        bound = answer_bound(schema) if schema is not None and lengths else None
        best = FittedFormat(fmt, max_tokens if bound is None else bound + 16, shape, bound)
        if bound is None or bound + 16 <= max_tokens:
            return best
        shape = shape.shrink()
    assert best is not None
    return best  # even the floor exceeds the budget: send its bound, never a max_tokens that cuts the answer


def _schema_of(fmt: dict[str, Any] | None) -> dict[str, Any] | None:
    if fmt is None:
        return None
    if fmt["type"] == "json_schema":
        return fmt["json_schema"]["schema"]
    return fmt.get("schema")
