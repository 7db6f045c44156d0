"""Narratives: the event chain and fix suggestions, from the deterministic template (default) or an LLM.

``narrate(analysis, settings=None, use_llm=None)`` is the door the CLI and the API use: the grounded LLM narrative
when asked for and configured (``FAULTLINE_LLM_*``, see ``NarratorSettings``), else the template's;
``Narrative.narrator`` says which one wrote the text and ``fallback_reason`` why the template did.
"""

from .config import NarratorSettings
from .exceptions import GroundingError, NarratorError
from .fixes import suggest_fixes
from .models import ChainStep, FixSuggestion, Narrative
from .narrate import narrate
from .template import narrate_template

__all__ = [
    "ChainStep", "FixSuggestion", "GroundingError", "LLMNarrator", "Narrative", "NarratorError", "NarratorSettings",
    "narrate", "narrate_template", "suggest_fixes",
]


def __getattr__(name: str) -> object:
    """``LLMNarrator`` is loaded on first use: it imports the openai client, which the template path never needs."""
    if name == "LLMNarrator":
        from .llm import LLMNarrator

        return LLMNarrator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
