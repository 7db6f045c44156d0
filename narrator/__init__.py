"""Narratives: the event chain and fix suggestions, from the deterministic template (default) or an LLM."""

from .exceptions import GroundingError, NarratorError
from .fixes import suggest_fixes
from .models import ChainStep, FixSuggestion, Narrative
from .template import narrate_template

__all__ = ["ChainStep", "FixSuggestion", "GroundingError", "Narrative", "NarratorError", "narrate_template", "suggest_fixes"]
