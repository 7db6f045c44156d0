"""From an analysis to the chat messages sent to the model, held under the token budget.

The evidence is rebuilt with ever smaller ``EvidenceLimits`` until the rendered messages fit, so a 5,000-entity
incident sends its top candidates and a short timeline, not 5,000 entities. Rendering is cheap (a few ms), so the
search simply re-renders.
"""

from __future__ import annotations

from dataclasses import dataclass

from rca.models import Analysis
from topology.timeutil import iso

from .budget import approx_tokens
from .evidence import EvidenceLimits, EvidencePack, build_evidence
from .prompts import render

__all__ = ["Prompt", "build_prompt", "render_messages", "retry_message"]


@dataclass(frozen=True)
class Prompt:
    """The messages for one narration, the evidence they carry, and their estimated size."""

    pack: EvidencePack
    messages: tuple[dict[str, str], ...]
    approx_tokens: int
    limits: EvidenceLimits
    fits: bool


SMALL_LIMITS = EvidenceLimits(candidates=3, evidence_per_candidate=2, chain_hops=8, changes=3, timeline=10, text_chars=120)
"""Evidence for the ``small`` profile: a 135M model reads a short prompt better, and its context is small."""
SMALL_BUDGET_TOKENS = 1800
"""Prompt budget of the ``small`` profile (estimated tokens; SmolLM2's tokenizer counts ~15 % fewer): on one CPU
thread under load SmolLM2-135M reads ~50-70 prompt tokens a second."""


def render_messages(pack: EvidencePack, *, show_format: bool = True, small: bool = False) -> tuple[dict[str, str], ...]:
    """System and user messages. ``show_format`` adds the answer's shape as an example — needed only when the server
    does not enforce the schema (its ``<placeholders>`` are what small models copy); ``small`` words the rules for
    the small profile."""
    example_entity = pack.candidates[0].entity if pack.candidates else pack.incident.symptom
    system = render("system", example_entity=example_entity, example_time=iso(pack.incident.at),
                    show_format=show_format, small=small)
    user = render(
        "narrate", incident=pack.incident, candidates=pack.candidates, changes=pack.changes, timeline=pack.timeline,
        omitted=pack.omitted, actions=pack.actions,
    )
    return ({"role": "system", "content": system}, {"role": "user", "content": user})


def messages_tokens(messages: tuple[dict[str, str], ...]) -> int:
    """Estimated prompt tokens, with a few per message for the chat template's role markers."""
    return sum(approx_tokens(m["content"]) + 4 for m in messages)


def build_prompt(
    analysis: Analysis, budget_tokens: int, limits: EvidenceLimits = EvidenceLimits(), *,
    show_format: bool = True, small: bool = False,
) -> Prompt:
    """The largest evidence (in ``EvidenceLimits.shrink`` order) whose messages fit ``budget_tokens``.

    ``fits`` is False only when even the smallest limits exceed the budget (e.g. a huge incident title); the
    smallest prompt is returned anyway and the caller decides.
    """
    current: EvidenceLimits | None = limits
    while True:
        assert current is not None
        pack = build_evidence(analysis, current)
        messages = render_messages(pack, show_format=show_format, small=small)
        tokens = messages_tokens(messages)
        if tokens <= budget_tokens:
            return Prompt(pack=pack, messages=messages, approx_tokens=tokens, limits=current, fits=True)
        smaller = current.shrink()
        if smaller is None:
            return Prompt(pack=pack, messages=messages, approx_tokens=tokens, limits=current, fits=False)
        current = smaller


def retry_message(problems: list[str]) -> dict[str, str]:
    """The user turn that tells the model why its answer was rejected (the rejected answer itself is not resent)."""
    return {"role": "user", "content": render("retry", problems=problems)}
