"""The one place that talks to an OpenAI-compatible Chat Completions endpoint.

``ChatClient`` is a one-method interface; ``OpenAIChatClient`` implements it with the ``openai`` package and translates
every library error into the narrator's own (``narrator.exceptions``), so nothing above this module catches ``openai``
exceptions. The client's own retries are switched off (``max_retries=0``): retries, backoff and the deadline are the
narrator's (``narrator.retry``), because only it knows how much time the insight has left.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import openai

from .exceptions import (
    LLMError,
    LLMRateLimited,
    LLMRequestRejected,
    LLMServerError,
    LLMTimeout,
    LLMUnavailable,
)

__all__ = ["ChatClient", "ChatReply", "OpenAIChatClient"]

NO_KEY = "not-needed"  # local servers take any key; the openai client insists on one


@dataclass(frozen=True)
class ChatReply:
    content: str
    finish_reason: str | None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


class ChatClient(Protocol):
    def complete(
        self,
        messages: list[dict[str, str]],
        *,
        response_format: dict[str, Any] | None,
        max_tokens: int,
        temperature: float,
        timeout_s: float,
    ) -> ChatReply:
        """One chat completion; raises ``LLMError`` subclasses, never library errors."""
        ...


def _retry_after(response: Any) -> float | None:
    try:
        value = response.headers.get("retry-after")
        return max(0.0, float(value)) if value is not None else None
    except (AttributeError, TypeError, ValueError):
        return None  # an HTTP-date Retry-After is treated as absent: our own backoff applies


def _message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])[:500]
    return str(exc)[:500]


class OpenAIChatClient:
    """``ChatClient`` over the ``openai`` package (any OpenAI-compatible server)."""

    def __init__(self, base_url: str, model: str, api_key: str | None = None) -> None:
        self.base_url = base_url
        self.model = model
        self.api_key = api_key
        self._client = openai.OpenAI(base_url=base_url, api_key=api_key or NO_KEY, max_retries=0)

    def complete(
        self,
        messages: list[dict[str, str]],
        *,
        response_format: dict[str, Any] | None,
        max_tokens: int,
        temperature: float,
        timeout_s: float,
    ) -> ChatReply:
        kwargs: dict[str, Any] = {}
        if response_format is not None:
            kwargs["response_format"] = response_format
        try:
            completion = self._client.chat.completions.create(
                model=self.model,
                messages=messages,  # type: ignore[arg-type]
                max_tokens=max_tokens,
                temperature=temperature,
                timeout=timeout_s,
                **kwargs,
            )
        except openai.APITimeoutError as exc:
            raise LLMTimeout(f"no answer from {self.base_url} within {timeout_s:.1f} s") from exc
        except openai.APIConnectionError as exc:
            raise LLMUnavailable(f"cannot reach {self.base_url}: {exc}") from exc
        except openai.RateLimitError as exc:
            raise LLMRateLimited(f"rate limited by {self.base_url}: {_message(exc)}", _retry_after(exc.response)) from exc
        except openai.APIStatusError as exc:
            if exc.status_code >= 500:
                raise LLMServerError(f"HTTP {exc.status_code} from {self.base_url}: {_message(exc)}") from exc
            raise LLMRequestRejected(f"HTTP {exc.status_code} from {self.base_url}: {_message(exc)}", exc.status_code) from exc
        except (openai.APIResponseValidationError, ValueError) as exc:
            raise LLMServerError(f"{self.base_url} answered with something that is not a chat completion: {exc}") from exc
        except openai.OpenAIError as exc:
            raise LLMError(f"{self.base_url}: {exc}") from exc
        try:
            choice = completion.choices[0]
            content = choice.message.content or ""
        except (AttributeError, IndexError, TypeError) as exc:
            raise LLMServerError(f"{self.base_url} answered without a message: {completion!r:.300}") from exc
        usage = getattr(completion, "usage", None)
        return ChatReply(
            content=content,
            finish_reason=getattr(choice, "finish_reason", None),
            prompt_tokens=getattr(usage, "prompt_tokens", None),
            completion_tokens=getattr(usage, "completion_tokens", None),
        )
