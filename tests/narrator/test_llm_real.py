"""The LLM narrator against a real model: llama.cpp's OpenAI-compatible server running SmolLM2-135M on CPU.

A 135M model follows instructions loosely and its output varies, so these tests never expect a text. They check the
plumbing (the request is accepted, ``auto`` settles on the format the server supports, the answer is parsed) and
the promise to the user: whatever comes back is either a narrative whose every id and time is in the evidence, or
the template narrative with the reason it was used. Timings are printed (``-s``) for the report.
"""

from __future__ import annotations

import time

import httpx
import pytest

from narrator.budget import approx_tokens
from narrator.config import NarratorSettings
from narrator.llm import LLMNarrator
from narrator.prompting import build_prompt
from rca.models import Analysis
from tests.servers.llm import LLMServer

from .test_llm_scripted import assert_grounded_in, assert_is_template_fallback

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# Acceptable outcomes with a tiny model: grounded LLM text, or a rejection of what it wrote. Anything else (a
# rejected request, a server error) is a plumbing bug.
ANSWER_REJECTED = ("not_grounded:", "invalid_answer:")


def real_settings(server: LLMServer, **overrides: object) -> NarratorSettings:
    values: dict[str, object] = {
        "llm_base_url": server.base_url,
        "llm_model": server.model,
        "llm_prompt_budget_tokens": 1500,  # a small prompt keeps CPU inference short
        "llm_max_tokens": 900,  # the answer's shape is sized to fit (narrator.schema.fitted_format): never cut
        "llm_timeout_s": 300.0,  # generous: shared CI cores can be slow; the deadline logic is tested elsewhere
        "llm_deadline_s": 600.0,
        "llm_max_retries": 0,  # llama.cpp keeps computing an abandoned request: a retry would queue behind it
    }
    values.update(overrides)
    return NarratorSettings(**values)  # type: ignore[arg-type]


def check_outcome(narrative, analysis: Analysis, settings: NarratorSettings) -> None:
    if narrative.narrator == "llm":
        assert narrative.model == settings.llm_model and narrative.fallback_reason is None
        assert_grounded_in(narrative, analysis, settings)
    else:
        assert narrative.fallback_reason is not None and narrative.fallback_reason.startswith(ANSWER_REJECTED), (
            narrative.fallback_reason
        )
        code = narrative.fallback_reason.split(":", 1)[0]
        assert_is_template_fallback(narrative, analysis, code)


def test_token_estimate_is_at_least_the_real_tokenizer_count(llm_server: LLMServer, demo_analysis: Analysis) -> None:
    prompt = build_prompt(demo_analysis, 2500)
    root = llm_server.base_url.removesuffix("/v1")
    real = 0
    for message in prompt.messages:
        response = httpx.post(f"{root}/extras/tokenize/count", json={"input": message["content"]}, timeout=60)
        response.raise_for_status()
        real += response.json()["count"]
    estimate = sum(approx_tokens(m["content"]) for m in prompt.messages)
    print(f"prompt tokens: estimated {estimate}, SmolLM2 tokenizer {real} ({estimate / real:.2f}x)")
    assert estimate >= real


def test_real_model_narrative_is_grounded_or_replaced(llm_server: LLMServer, demo_analysis: Analysis) -> None:
    settings = real_settings(llm_server)
    narrator = LLMNarrator(settings)
    started = time.monotonic()
    narrative = narrator.narrate(demo_analysis)
    elapsed = time.monotonic() - started
    print(f"real llm (json_object+schema): {elapsed:.1f} s -> narrator={narrative.narrator} "
          f"reason={narrative.fallback_reason!r}")

    assert narrator.format_mode == "json_object"  # llama-cpp-python rejects json_schema; auto switched
    check_outcome(narrative, demo_analysis, settings)
    assert "cut at max_tokens" not in (narrative.fallback_reason or "")  # the grammar-bounded answer always completes

    started = time.monotonic()
    again = narrator.narrate(demo_analysis)
    if narrative.narrator == "llm":  # grounded answers are cached: re-opening the incident costs nothing
        assert again == narrative and time.monotonic() - started < 1.0


def test_real_model_without_schema_is_still_checked(llm_server: LLMServer, demo_analysis: Analysis) -> None:
    """No response_format at all: the model writes free JSON (or prose); the grounding check is the only guard."""
    settings = real_settings(llm_server, llm_response_format="none", llm_max_tokens=200)
    narrator = LLMNarrator(settings)
    started = time.monotonic()
    narrative = narrator.narrate(demo_analysis)
    print(f"real llm (no schema): {time.monotonic() - started:.1f} s -> narrator={narrative.narrator} "
          f"reason={narrative.fallback_reason!r}")
    check_outcome(narrative, demo_analysis, settings)


def test_small_profile_gets_a_grounded_narrative_through(llm_server: LLMServer, demo_analysis: Analysis) -> None:
    """The small profile: a short prompt, a grammar that leaves the model no room to invent (no digits or ids in
    prose; steps and fixes picked from the evidence's lines), max_tokens = the longest answer it allows. With a 135M
    model the narrative gets through, and every kubectl it carries names its namespace."""
    from .test_template_narrator import assert_safe

    settings = real_settings(llm_server, llm_profile="small", llm_prompt_budget_tokens=2500, llm_max_tokens=1500)
    narrator = LLMNarrator(settings)
    started = time.monotonic()
    narrative = narrator.narrate(demo_analysis)
    print(f"real llm (small profile): {time.monotonic() - started:.1f} s -> narrator={narrative.narrator} "
          f"reason={narrative.fallback_reason!r}; summary={narrative.summary!r}")
    assert narrative.narrator == "llm", narrative.fallback_reason
    check_outcome(narrative, demo_analysis, settings)
    assert not any(ch.isdigit() for ch in narrative.summary)
    assert_safe(narrative.fix_suggestions)
    assert any(f.command == "kubectl -n prod rollout undo deployment/vllm" for f in narrative.fix_suggestions)
