"""Settings of the LLM narrator (env prefix ``FAULTLINE_``); the LLM is off unless a base URL and a model are set.

Why separate from ``api.settings.Settings``: the narrator sits left of ``api`` and must be usable (CLI, tests,
benchmarks) without the server's configuration. Both classes read the same environment and ignore each other's keys.

Example::

    FAULTLINE_LLM_BASE_URL=http://127.0.0.1:8011/v1   # any OpenAI-compatible endpoint (vLLM, Ollama, DeepSeek, ...)
    FAULTLINE_LLM_MODEL=smollm2
    FAULTLINE_LLM_API_KEY=sk-...                      # optional for local servers
    FAULTLINE_LLM_DEADLINE_S=30                       # the insight never waits longer than this for the LLM
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ResponseFormatMode = Literal["auto", "json_schema", "json_object", "none"]


class NarratorSettings(BaseSettings):
    """How to reach the model and how long the insight may wait for it.

    ``llm_timeout_s`` bounds one HTTP request; ``llm_deadline_s`` bounds the whole narration (all retries, the
    grounding retry, backoff sleeps) — past it the template narrative is returned. ``llm_response_format``:
    ``json_schema`` is OpenAI's structured output (OpenAI, vLLM, llama.cpp's ``llama-server``, Ollama);
    ``json_object`` sends ``{"type": "json_object", "schema": ...}`` (llama-cpp-python, Anyscale-style; plain JSON
    mode elsewhere); ``auto`` tries ``json_schema`` and falls back to ``json_object`` once if the server rejects it;
    ``none`` asks for JSON in the prompt only. ``llm_max_tokens`` is the most an answer may cost: where the server
    enforces the schema's string bounds, the answer's shape is sized to fit it and the request asks for exactly the
    longest answer the shape allows, so an answer is never cut mid-string (``narrator.schema``).
    """

    model_config = SettingsConfigDict(env_prefix="FAULTLINE_", env_ignore_empty=True, extra="ignore", frozen=True)

    llm_base_url: str | None = Field(default=None, description="OpenAI-compatible base URL, e.g. http://host:8000/v1")
    llm_api_key: SecretStr | None = None
    llm_model: str | None = None
    llm_timeout_s: float = Field(default=30.0, gt=0, description="one HTTP request")
    llm_deadline_s: float = Field(default=60.0, gt=0, description="the whole narration, retries included")
    llm_max_tokens: int = Field(default=1500, ge=64, le=32768)
    llm_temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    llm_max_retries: int = Field(default=2, ge=0, le=10, description="extra attempts on timeout, 429, 5xx")
    llm_backoff_s: float = Field(default=0.5, ge=0.0, description="first backoff; doubles each retry")
    llm_max_backoff_s: float = Field(default=8.0, ge=0.0, description="cap on one sleep, Retry-After included")
    llm_response_format: ResponseFormatMode = "auto"
    llm_profile: Literal["full", "small"] = Field(
        default="full",
        description="small: for models under ~1B parameters (SmolLM2, Qwen2.5-0.5B): a shorter prompt and a short "
                    "answer whose free text has no digits; facts travel in schema-pinned fields",
    )
    llm_prompt_budget_tokens: int = Field(default=2500, ge=400, description="approximate tokens of the whole prompt")
    llm_cache_size: int = Field(default=128, ge=0, description="narratives kept in memory (0 = no memory cache)")
    llm_cache_dir: Path | None = Field(default=None, description="also keep narratives as JSON files here")

    @model_validator(mode="after")
    def _base_url_and_model_together(self) -> "NarratorSettings":
        if bool(self.llm_base_url) != bool(self.llm_model):
            raise ValueError("set both FAULTLINE_LLM_BASE_URL and FAULTLINE_LLM_MODEL to enable the LLM narrator")
        return self

    @property
    def llm_enabled(self) -> bool:
        """The LLM narrator is off unless both an endpoint and a model are configured."""
        return bool(self.llm_base_url and self.llm_model)
