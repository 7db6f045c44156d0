"""The LLM narrator: evidence → prompt → model → validated, grounded ``Narrative``, or the template with a reason.

One narration, step by step:

1. The template narrative is the fallback and is computed first (instant, always right by construction).
2. The prompt carries only the ranker's evidence, trimmed to the token budget (``prompting.build_prompt``).
3. A cached narrative for the same evidence, model and prompts is returned as is.
4. The model is asked for JSON matching ``schema.NarrativeDraft`` (``response_format``); timeouts, 429 and 5xx are
   retried with backoff (``retry``), never past the deadline.
5. The answer is parsed and validated, then grounding-checked; a rejected answer (invalid JSON, schema violation,
   an invented id/time/number) is retried once with the reasons told to the model.
6. A second rejection, exhausted retries, or the deadline: the template narrative, flagged
   ``fallback_reason="<code>: <detail>"``. The insight itself is never lost to the LLM.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass

from pydantic import ValidationError

from rca.models import Analysis

from .cache import NarrativeCache, cache_key
from .confidence import with_confidence
from .client import ChatClient, ChatReply, OpenAIChatClient
from .config import NarratorSettings, ResponseFormatMode
from .evidence import EvidencePack
from .exceptions import (
    GroundingError,
    LLMAnswerError,
    LLMError,
    LLMFormatRejected,
    LLMRequestRejected,
    LLMServerError,
    NarratorError,
)
from .grounding import GroundingIndex, check_grounding, index_evidence, to_narrative
from .models import Narrative
from .prompting import SMALL_BUDGET_TOKENS, SMALL_LIMITS, Prompt, build_prompt, retry_message
from .prompts import prompts_version
from .retry import Deadline, RetryPolicy, call_with_retries
from .evidence import EvidenceLimits
from .fixes import with_commands
from .schema import NarrativeDraft, fitted_format
from .template import narrate_template

log = logging.getLogger(__name__)

SCHEMA_VERSION = "draft-2"
_FORMAT_WORDS = ("response_format", "json_schema", "json_object")

__all__ = ["LLMNarrator", "parse_draft"]


def parse_draft(reply: ChatReply) -> NarrativeDraft:
    """The model's answer as a validated draft, or ``LLMAnswerError`` saying what is wrong with it.

    A single enclosing code fence is tolerated (models without a JSON mode add one); nothing else is repaired.
    """
    text = reply.content.strip()
    if text.startswith("```") and text.endswith("```"):
        text = text.split("\n", 1)[1] if "\n" in text else ""
        text = text[: text.rfind("```")].strip()
    truncated = reply.finish_reason == "length"
    try:
        data = json.loads(text, strict=False)  # a raw tab or newline inside a string is not worth a rejection
    except ValueError as exc:
        cut = " (the answer was cut at max_tokens)" if truncated else ""
        raise LLMAnswerError(f"the answer is not valid JSON{cut}: {exc}") from exc
    try:
        return NarrativeDraft.model_validate(data)
    except ValidationError as exc:
        details = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'answer'}: {e['msg']}" for e in exc.errors()[:5])
        raise LLMAnswerError(f"the JSON does not match the narrative schema: {details}") from exc


@dataclass(frozen=True)
class _Rejection:
    error: NarratorError
    problems: list[str]


class LLMNarrator:
    """Narrates analyses with one OpenAI-compatible model; reuse one instance to share its cache.

    ``client`` defaults to ``OpenAIChatClient`` built from ``settings``; ``cache`` to an LRU of
    ``settings.llm_cache_size`` entries (plus ``settings.llm_cache_dir`` on disk).
    """

    def __init__(
        self, settings: NarratorSettings, client: ChatClient | None = None, cache: NarrativeCache | None = None
    ) -> None:
        if not settings.llm_enabled:
            raise NarratorError("the LLM narrator needs FAULTLINE_LLM_BASE_URL and FAULTLINE_LLM_MODEL")
        self.settings = settings
        self.client = client or OpenAIChatClient(
            str(settings.llm_base_url), str(settings.llm_model),
            settings.llm_api_key.get_secret_value() if settings.llm_api_key else None,
        )
        self.cache = cache or NarrativeCache(settings.llm_cache_size, settings.llm_cache_dir)
        self._format_mode: ResponseFormatMode = settings.llm_response_format
        self._lock = threading.Lock()

    @property
    def format_mode(self) -> ResponseFormatMode:
        """The response format in use; ``auto`` becomes ``json_object`` once a server rejects ``json_schema``."""
        return self._format_mode

    def narrate(self, analysis: Analysis, fallback: Narrative | None = None) -> Narrative:
        """A grounded LLM narrative of ``analysis``, or ``fallback`` (default: the template's) flagged with why."""
        deadline = Deadline(self.settings.llm_deadline_s)
        fallback = fallback or narrate_template(analysis)
        prompt = self.prompt(analysis)
        index = index_evidence(prompt.pack, [m["content"] for m in prompt.messages])
        key = self._key(prompt.pack)
        narrative = self.cache.get(key)
        if narrative is None:
            try:
                narrative = self._converse(prompt, index, deadline)
            except NarratorError as exc:
                return self._fallback(fallback, exc)
            self.cache.put(key, narrative)
        # the commands and the confidence are faultline's own, never the model's: added after the cache, so a
        # recalibrated ranker or a newer rule shows up on a cached narrative too
        return with_confidence(with_commands(narrative, fallback), analysis)

    def prompt(self, analysis: Analysis) -> Prompt:
        """The messages this narrator sends for ``analysis`` (the profile's evidence limits and budget; the answer's
        shape shown as an example only when no schema is sent — its ``<placeholders>`` are what small models copy)."""
        small = self.settings.llm_profile == "small"
        budget = self.settings.llm_prompt_budget_tokens
        return build_prompt(
            analysis, min(budget, SMALL_BUDGET_TOKENS) if small else budget, SMALL_LIMITS if small else EvidenceLimits(),
            show_format=self.settings.llm_response_format == "none", small=small,
        )

    def _key(self, pack: EvidencePack) -> str:
        return cache_key(
            pack.model_dump_json(), str(self.settings.llm_model), str(self.settings.llm_base_url),
            prompts_version(), SCHEMA_VERSION, f"{self.settings.llm_temperature}", self.settings.llm_profile,
            str(self.settings.llm_max_tokens),
        )

    def _converse(self, prompt: Prompt, index: GroundingIndex, deadline: Deadline) -> Narrative:
        messages = list(prompt.messages)
        rejection: _Rejection | None = None
        for attempt in (1, 2):
            try:
                reply = self._ask(messages, prompt.pack, deadline)
            except LLMError as exc:
                if rejection is None:
                    raise
                # the first answer's rejection is the news; the failed retry is a footnote
                raise type(rejection.error)(f"{rejection.error} (the retry got no answer: {exc})") from exc
            try:
                draft = parse_draft(reply)
            except LLMAnswerError as exc:
                rejection = _Rejection(exc, [str(exc)])
            else:
                problems = check_grounding(draft, index)
                if not problems:
                    return to_narrative(draft, index, self.settings.llm_model)
                rejection = _Rejection(GroundingError("; ".join(problems)), problems)
            log.info("LLM answer rejected (attempt %d): %s", attempt, "; ".join(rejection.problems))
            messages = [*prompt.messages, retry_message(rejection.problems)]
        assert rejection is not None
        raise rejection.error

    def _ask(self, messages: list[dict[str, str]], pack: EvidencePack, deadline: Deadline) -> ChatReply:
        try:
            return self._ask_with(self.format_mode, messages, pack, deadline)
        except LLMFormatRejected:
            if self.format_mode != "auto":
                raise
            with self._lock:
                self._format_mode = "json_object"
            log.info("%s rejects response_format json_schema; using json_object + schema", self.settings.llm_base_url)
            return self._ask_with("json_object", messages, pack, deadline)

    def _ask_with(
        self, mode: ResponseFormatMode, messages: list[dict[str, str]], pack: EvidencePack, deadline: Deadline
    ) -> ChatReply:
        settings = self.settings
        fitted = fitted_format(mode, pack, settings.llm_profile, settings.llm_max_tokens)
        fmt = fitted.response_format

        def call(timeout_s: float) -> ChatReply:
            try:
                return self.client.complete(
                    messages, response_format=fmt, max_tokens=fitted.max_tokens,
                    temperature=settings.llm_temperature, timeout_s=timeout_s,
                )
            except (LLMServerError, LLMRequestRejected) as exc:
                if fmt is not None and fmt["type"] == "json_schema" and _mentions_format(exc):
                    raise LLMFormatRejected(str(exc)) from exc
                raise

        policy = RetryPolicy(
            timeout_s=settings.llm_timeout_s, max_retries=settings.llm_max_retries,
            backoff_s=settings.llm_backoff_s, max_backoff_s=settings.llm_max_backoff_s,
        )
        return call_with_retries(call, policy, deadline, on_retry=_log_retry)

    def _fallback(self, template: Narrative, exc: NarratorError) -> Narrative:
        reason = f"{_code(exc)}: {exc}"
        log.warning("LLM narrative not used, template narrative instead — %s", reason)
        return template.model_copy(update={"narrator": "template", "model": None, "fallback_reason": reason[:600]})


def _mentions_format(exc: Exception) -> bool:
    text = str(exc).lower()
    return any(word in text for word in _FORMAT_WORDS)


def _code(exc: NarratorError) -> str:
    if isinstance(exc, GroundingError):
        return "not_grounded"
    if isinstance(exc, LLMAnswerError):
        return "invalid_answer"
    if isinstance(exc, LLMError):
        return exc.code
    return "narrator_error"


def _log_retry(retry: int, error: LLMError, sleep_s: float) -> None:
    log.info("LLM request failed (%s); retry %d in %.2f s", error, retry, sleep_s)
