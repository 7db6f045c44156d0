"""Narratives: the event chain and fix suggestions, from the deterministic template (default) or an LLM.

``narrate(analysis, settings=None, use_llm=None)`` is the door the CLI and the API use: the grounded LLM narrative
when asked for and configured (``FAULTLINE_LLM_*``, see ``NarratorSettings``), else the template's;
``Narrative.narrator`` says which one wrote the text and ``fallback_reason`` why the template did.
"""

from typing import TYPE_CHECKING

from .exceptions import GroundingError, NarratorError
from .fixes import suggest_fixes
from .models import ChainStep, FixSuggestion, Narrative
from .narrate import narrate
from .template import narrate_template

if TYPE_CHECKING:
    from .config import NarratorSettings
    from .llm import LLMNarrator

__all__ = [
    "ChainStep", "FixSuggestion", "GroundingError", "LLMNarrator", "Narrative", "NarratorError", "NarratorSettings",
    "narrate", "narrate_template", "suggest_fixes",
]


_LAZY = {"LLMNarrator": ".llm", "NarratorSettings": ".config"}
"""Loaded on first use: the openai client (``LLMNarrator``) and pydantic-settings (``NarratorSettings``) are not
needed by the template narrator, the path of ``faultline analyze`` without ``--llm``."""


def __getattr__(name: str) -> object:
    if name in _LAZY:
        from importlib import import_module

        value = getattr(import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
