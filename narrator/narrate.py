"""``narrate()``: the single entry point the CLI and the API call, whichever narrator ends up writing.

Why one function: callers should not need to know about settings, caches or fallbacks. ``use_llm`` says what the
caller wants: ``False`` template only; ``True`` the LLM (``faultline analyze --llm``) — when it is not configured the
template answers with ``fallback_reason`` saying so; ``None`` the LLM exactly when it is configured (the API).
``Narrative.narrator`` always says who wrote the text.
"""

from __future__ import annotations

import hashlib
import threading
from typing import TYPE_CHECKING

from pydantic import ValidationError

from rca.models import Analysis

from .exceptions import NarratorConfigError
from .models import Narrative
from .template import narrate_template

if TYPE_CHECKING:  # the LLM narrator pulls in the openai client: imported only when an LLM is used
    from .config import NarratorSettings  # pydantic-settings: imported when settings are first read
    from .llm import LLMNarrator

__all__ = ["llm_narrator", "load_settings", "narrate"]

NOT_CONFIGURED = "llm_not_configured: set FAULTLINE_LLM_BASE_URL and FAULTLINE_LLM_MODEL to use an LLM"

_narrators: dict[str, "LLMNarrator"] = {}
_narrators_lock = threading.Lock()


def load_settings() -> NarratorSettings:
    """Narrator settings from the environment; inconsistent ones are a ``NarratorConfigError`` (one line for users)."""
    from .config import NarratorSettings

    try:
        return NarratorSettings()
    except ValidationError as exc:
        details = "; ".join(e["msg"] for e in exc.errors())
        raise NarratorConfigError(f"invalid LLM narrator settings: {details}") from exc


def llm_narrator(settings: NarratorSettings) -> "LLMNarrator":
    """One ``LLMNarrator`` per distinct configuration in this process, so its narrative cache is shared."""
    from .llm import LLMNarrator

    secret = settings.llm_api_key.get_secret_value() if settings.llm_api_key else ""
    key = settings.model_dump_json() + hashlib.sha256(secret.encode()).hexdigest()
    with _narrators_lock:
        narrator = _narrators.get(key)
        if narrator is None:
            narrator = _narrators[key] = LLMNarrator(settings)
        return narrator


def narrate(analysis: Analysis, settings: NarratorSettings | None = None, use_llm: bool | None = None) -> Narrative:
    """The narrative of ``analysis``: LLM-written and grounded when asked for and possible, else the template's."""
    template = narrate_template(analysis)
    if use_llm is False:
        return template
    settings = settings or load_settings()
    if not settings.llm_enabled:
        return template.model_copy(update={"fallback_reason": NOT_CONFIGURED}) if use_llm else template
    return llm_narrator(settings).narrate(analysis, fallback=template)
