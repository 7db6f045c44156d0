"""Errors raised by the narrator package.

::

    NarratorError            base of everything raised here
    ├── GroundingError       a narrative names something that is not in the evidence
    ├── LLMAnswerError       the model answered, but not with a narrative (invalid JSON, schema violation)
    └── LLMError             the OpenAI-compatible endpoint could not give an answer (raised by narrator.client)
        ├── LLMTimeout           no answer within the request timeout or the narration deadline
        ├── LLMRateLimited       HTTP 429; ``retry_after_s`` carries the server's Retry-After when it sent one
        ├── LLMServerError       HTTP 5xx, or a body that is not a chat completion
        ├── LLMUnavailable       connection refused / reset, DNS failure
        └── LLMRequestRejected   any other 4xx (bad key, unknown model, unsupported response_format)
            └── LLMFormatRejected    the server does not support the requested response_format (any status)
    NarratorConfigError      the FAULTLINE_LLM_* settings are inconsistent
"""


class NarratorError(Exception):
    """Base of all narrator errors."""


class GroundingError(NarratorError):
    """A narrative names an entity, time, commit or number that the evidence does not contain."""


class LLMAnswerError(NarratorError):
    """The model answered, but the answer is not a narrative: not JSON, or JSON that breaks the schema."""


class LLMError(NarratorError):
    """The endpoint gave no usable answer. ``retryable`` says whether trying again may help."""

    retryable: bool = False
    code: str = "llm_error"


class LLMTimeout(LLMError):
    retryable = True
    code = "llm_timeout"


class LLMRateLimited(LLMError):
    retryable = True
    code = "llm_rate_limited"

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class LLMServerError(LLMError):
    retryable = True
    code = "llm_server_error"


class LLMUnavailable(LLMError):
    retryable = True
    code = "llm_unavailable"


class LLMRequestRejected(LLMError):
    """A 4xx other than 429: retrying the same request cannot help (except with another ``response_format``)."""

    code = "llm_request_rejected"

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class LLMFormatRejected(LLMRequestRejected):
    """The server refused the ``response_format`` (llama-cpp-python answers 500 to ``json_schema``); ``auto`` mode
    then falls back to ``json_object``."""

    code = "llm_format_rejected"


class NarratorConfigError(NarratorError):
    """The LLM settings cannot work as given (e.g. a base URL without a model)."""
