"""The LLM narrator against scripted OpenAI-compatible peers over real HTTP: what the user sees in each case.

The peer (``tests/servers/llm_scripted.py``) answers like a good model, a hallucinating one, a hanging one, a
rate-limited one, one that returns broken JSON, one that is down. Each test checks the narrative the user gets
(``narrator``, ``fallback_reason``, the text), how many requests the peer received, and that no narration outlives
its deadline.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from narrator.config import NarratorSettings
from narrator.grounding import index_evidence
from narrator.llm import LLMNarrator
from narrator.narrate import NOT_CONFIGURED, narrate
from narrator.prompting import build_prompt
from narrator.schema import answer_bound
from narrator.template import narrate_template
from rca.models import Analysis
from tests.servers.common import free_port
from tests.servers.llm_scripted import GHOST_ENTITY, ScriptedLLM

from .factories import BAD_COMMIT, COMMIT_MESSAGE, demo_like_analysis

pytestmark = pytest.mark.integration

Settings = Callable[..., NarratorSettings]


def assert_is_template_fallback(narrative, analysis: Analysis, code: str) -> None:
    """The user gets the template's full narrative, marked as such, with the reason."""
    template = narrate_template(analysis)
    assert narrative.narrator == "template"
    assert narrative.model is None
    assert narrative.fallback_reason is not None and narrative.fallback_reason.startswith(f"{code}:"), narrative.fallback_reason
    assert narrative.summary == template.summary
    assert narrative.event_chain == template.event_chain
    assert narrative.fix_suggestions == template.fix_suggestions


def assert_grounded_in(narrative, analysis: Analysis, settings: NarratorSettings | None = None) -> None:
    """Every id and time of an LLM narrative exists in the evidence the model was shown (full ids)."""
    if settings is None:
        prompt = build_prompt(analysis, 2500, show_format=False)  # as the narrator builds it for a schema-enforcing server
    else:
        prompt = LLMNarrator(settings).prompt(analysis)
    index = index_evidence(prompt.pack, [m["content"] for m in prompt.messages])
    full_ids = set(prompt.pack.aliases.values()) | set(prompt.pack.entity_ids())
    assert narrative.root_cause in full_ids
    for step in narrative.event_chain:
        assert step.entity in full_ids
        assert index.has_time(step.at)
    assert [s.at for s in narrative.event_chain] == sorted(s.at for s in narrative.event_chain)
    for fix in narrative.fix_suggestions:
        assert fix.entity in full_ids


def test_good_peer_gives_a_grounded_llm_narrative(scripted_llm: ScriptedLLM, scripted_settings: Settings) -> None:
    analysis = demo_like_analysis()
    settings = scripted_settings("good", llm_api_key="sk-test-123")
    narrative = LLMNarrator(settings).narrate(analysis)

    assert narrative.narrator == "llm" and narrative.model == "scripted" and narrative.fallback_reason is None
    assert narrative.root_cause == BAD_COMMIT  # the short id the model saw, mapped back to the full one
    assert len(narrative.event_chain) >= 3
    assert_grounded_in(narrative, analysis)

    [request] = scripted_llm.received(settings.llm_base_url)
    assert request.headers["authorization"] == "Bearer sk-test-123"
    assert request.body["response_format"]["type"] == "json_schema"
    schema = request.body["response_format"]["json_schema"]["schema"]
    assert "commit:f7b7890d603b" in schema["properties"]["root_cause"]["enum"]
    assert COMMIT_MESSAGE in request.prompt
    assert request.body["max_tokens"] == settings.llm_max_tokens


def test_hallucinated_entity_is_rejected_retried_then_template(scripted_llm: ScriptedLLM, scripted_settings: Settings) -> None:
    analysis = demo_like_analysis()
    settings = scripted_settings("hallucinate")
    narrative = LLMNarrator(settings).narrate(analysis)

    assert_is_template_fallback(narrative, analysis, "not_grounded")
    assert GHOST_ENTITY in narrative.fallback_reason
    assert GHOST_ENTITY not in narrative.model_dump_json().replace(narrative.fallback_reason, "")
    first, second = scripted_llm.received(settings.llm_base_url)  # exactly one retry
    assert GHOST_ENTITY not in first.prompt
    retry_turn = second.body["messages"][-1]
    assert retry_turn["role"] == "user"
    assert "rejected" in retry_turn["content"] and GHOST_ENTITY in retry_turn["content"]
    assert "not an entity in the evidence" in retry_turn["content"]


def test_hallucination_corrected_on_retry_is_accepted(scripted_llm: ScriptedLLM, scripted_settings: Settings) -> None:
    analysis = demo_like_analysis()
    settings = scripted_settings("hallucinate_once")
    narrative = LLMNarrator(settings).narrate(analysis)

    assert narrative.narrator == "llm" and narrative.fallback_reason is None
    assert narrative.root_cause == BAD_COMMIT
    assert len(scripted_llm.received(settings.llm_base_url)) == 2


def test_hanging_peer_times_out_within_the_deadline(scripted_llm: ScriptedLLM, scripted_settings: Settings) -> None:
    analysis = demo_like_analysis()
    settings = scripted_settings("hang", llm_timeout_s=1.0, llm_deadline_s=3.0, llm_max_retries=5, llm_backoff_s=0.2)
    started = time.monotonic()
    narrative = LLMNarrator(settings).narrate(analysis)
    elapsed = time.monotonic() - started

    assert_is_template_fallback(narrative, analysis, "llm_timeout")
    assert elapsed < settings.llm_deadline_s + 0.75, f"narration took {elapsed:.2f} s past a 3 s deadline"
    assert elapsed >= 2.0  # it did retry (1 s per attempt), not give up at once
    assert 2 <= len(scripted_llm.received(settings.llm_base_url)) <= 3


def test_deadline_shorter_than_request_timeout_wins(scripted_llm: ScriptedLLM, scripted_settings: Settings) -> None:
    analysis = demo_like_analysis()
    settings = scripted_settings("hang", llm_timeout_s=30.0, llm_deadline_s=1.5)
    started = time.monotonic()
    narrative = LLMNarrator(settings).narrate(analysis)
    elapsed = time.monotonic() - started

    assert_is_template_fallback(narrative, analysis, "llm_timeout")
    assert elapsed < 2.25


def test_rate_limit_then_success(scripted_llm: ScriptedLLM, scripted_settings: Settings) -> None:
    analysis = demo_like_analysis()
    settings = scripted_settings("ratelimit", llm_backoff_s=5.0)  # Retry-After: 0 must win over our own backoff
    started = time.monotonic()
    narrative = LLMNarrator(settings).narrate(analysis)

    assert narrative.narrator == "llm" and narrative.fallback_reason is None
    assert time.monotonic() - started < 2.0
    assert len(scripted_llm.received(settings.llm_base_url)) == 2


def test_rate_limit_with_no_retries_left_falls_back(scripted_llm: ScriptedLLM, scripted_settings: Settings) -> None:
    analysis = demo_like_analysis()
    settings = scripted_settings("ratelimit", llm_max_retries=0)
    narrative = LLMNarrator(settings).narrate(analysis)

    assert_is_template_fallback(narrative, analysis, "llm_rate_limited")
    assert len(scripted_llm.received(settings.llm_base_url)) == 1


def test_invalid_json_is_retried_once_then_template(scripted_llm: ScriptedLLM, scripted_settings: Settings) -> None:
    analysis = demo_like_analysis()
    settings = scripted_settings("invalid_json")
    narrative = LLMNarrator(settings).narrate(analysis)

    assert_is_template_fallback(narrative, analysis, "invalid_answer")
    assert "not valid JSON" in narrative.fallback_reason
    first, second = scripted_llm.received(settings.llm_base_url)
    assert "not valid JSON" in second.body["messages"][-1]["content"]


def test_broken_http_body_counts_as_server_error(scripted_llm: ScriptedLLM, scripted_settings: Settings) -> None:
    analysis = demo_like_analysis()
    settings = scripted_settings("broken_body", llm_max_retries=1)
    narrative = LLMNarrator(settings).narrate(analysis)

    assert_is_template_fallback(narrative, analysis, "llm_server_error")
    assert len(scripted_llm.received(settings.llm_base_url)) == 2


def test_5xx_retried_with_bounded_attempts(scripted_llm: ScriptedLLM, scripted_settings: Settings) -> None:
    analysis = demo_like_analysis()
    settings = scripted_settings("unavailable", llm_max_retries=2)
    narrative = LLMNarrator(settings).narrate(analysis)

    assert_is_template_fallback(narrative, analysis, "llm_server_error")
    assert "503" in narrative.fallback_reason
    assert len(scripted_llm.received(settings.llm_base_url)) == 3


def test_connection_refused_falls_back(scripted_settings: Settings) -> None:
    analysis = demo_like_analysis()
    settings = scripted_settings("good", llm_base_url=f"http://127.0.0.1:{free_port()}/v1", llm_max_retries=1)
    narrative = LLMNarrator(settings).narrate(analysis)
    assert_is_template_fallback(narrative, analysis, "llm_unavailable")


def test_auto_format_falls_back_to_json_object_once(scripted_llm: ScriptedLLM, scripted_settings: Settings) -> None:
    """A llama-cpp-python-like server rejects ``json_schema``: auto mode switches to ``json_object`` + schema and
    stays there for the narrator's later requests."""
    settings = scripted_settings("no_json_schema")
    narrator = LLMNarrator(settings)
    first = narrator.narrate(demo_like_analysis())
    assert first.narrator == "llm"
    assert narrator.format_mode == "json_object"
    requests = scripted_llm.received(settings.llm_base_url)
    assert [r.body["response_format"]["type"] for r in requests] == ["json_schema", "json_object"]
    schema = requests[1].body["response_format"]["schema"]
    assert 80 <= schema["properties"]["summary"]["maxLength"] <= 600
    # the grammar bounds every string and list, and max_tokens covers the longest answer it allows: never cut
    assert answer_bound(schema) is not None and requests[1].body["max_tokens"] >= answer_bound(schema)
    assert requests[1].body["max_tokens"] <= settings.llm_max_tokens


def test_cache_answers_the_same_incident_without_a_request(
    scripted_llm: ScriptedLLM, scripted_settings: Settings, tmp_path
) -> None:
    analysis = demo_like_analysis()
    settings = scripted_settings("good", llm_cache_dir=tmp_path)
    narrator = LLMNarrator(settings)
    first = narrator.narrate(analysis)
    again = narrator.narrate(analysis)
    assert again == first and first.narrator == "llm"
    assert len(scripted_llm.received(settings.llm_base_url)) == 1
    assert len(list(tmp_path.glob("*.json"))) == 1

    other_process = LLMNarrator(settings)  # empty memory cache, same directory
    assert other_process.narrate(analysis) == first
    assert len(scripted_llm.received(settings.llm_base_url)) == 1


def test_fallbacks_are_not_cached(scripted_llm: ScriptedLLM, scripted_settings: Settings) -> None:
    analysis = demo_like_analysis()
    settings = scripted_settings("unavailable", llm_max_retries=0)
    narrator = LLMNarrator(settings)
    narrator.narrate(analysis)
    narrator.narrate(analysis)
    assert len(scripted_llm.received(settings.llm_base_url)) == 2
    assert len(narrator.cache) == 0


def test_narrate_entry_point(scripted_llm: ScriptedLLM, scripted_settings: Settings, demo_analysis: Analysis) -> None:
    """``narrate()`` on the real demo pipeline's analysis: template when not asked or not configured, LLM when both."""
    unconfigured = NarratorSettings(llm_base_url=None, llm_model=None)
    assert narrate(demo_analysis, unconfigured, use_llm=None).fallback_reason is None
    asked = narrate(demo_analysis, unconfigured, use_llm=True)
    assert asked.narrator == "template" and asked.fallback_reason == NOT_CONFIGURED

    settings = scripted_settings("good")
    assert narrate(demo_analysis, settings, use_llm=False).narrator == "template"
    written = narrate(demo_analysis, settings, use_llm=True)
    assert written.narrator == "llm", written.fallback_reason
    assert written.root_cause == demo_analysis.candidates[0].entity
    assert_grounded_in(written, demo_analysis)


def test_rejection_is_reported_when_the_retry_gets_no_answer(
    scripted_llm: ScriptedLLM, scripted_settings: Settings
) -> None:
    """The first answer hallucinates, the retry hangs until the deadline: the reason names the hallucination."""
    analysis = demo_like_analysis()
    settings = scripted_settings("hallucinate_then_hang", llm_timeout_s=1.0, llm_deadline_s=2.0, llm_max_retries=0)
    started = time.monotonic()
    narrative = LLMNarrator(settings).narrate(analysis)
    assert time.monotonic() - started < 2.75
    assert_is_template_fallback(narrative, analysis, "not_grounded")
    assert GHOST_ENTITY in narrative.fallback_reason and "the retry got no answer" in narrative.fallback_reason
    assert len(scripted_llm.received(settings.llm_base_url)) == 2


def test_llm_narrative_carries_faultline_commands_with_namespace(scripted_llm: ScriptedLLM, scripted_settings: Settings) -> None:
    """The model writes prose; the commands are faultline's own: the rollback with ``-n prod`` and the deployment
    kind, attached to the model's fix on the same entity or added after them."""
    from .test_template_narrator import assert_safe

    analysis = demo_like_analysis()
    narrative = LLMNarrator(scripted_settings("good")).narrate(analysis)
    assert narrative.narrator == "llm"
    commands = [f.command for f in narrative.fix_suggestions if f.command]
    assert "kubectl -n prod rollout undo deployment/vllm" in commands
    assert any(c.startswith("git revert --no-edit ") for c in commands)
    assert_safe(narrative.fix_suggestions)
    assert narrative.confidence is None and "uncalibrated" in narrative.confidence_text  # never the model's 0.8


def test_llm_kubectl_without_namespace_never_reaches_the_user(scripted_llm: ScriptedLLM, scripted_settings: Settings) -> None:
    from .test_template_narrator import assert_safe

    settings = scripted_settings("unsafe_kubectl")
    narrative = LLMNarrator(settings).narrate(demo_like_analysis())
    assert narrative.narrator == "template" and narrative.fallback_reason is not None
    assert "without -n <namespace>" in narrative.fallback_reason
    assert_safe(narrative.fix_suggestions)
    requests = scripted_llm.received(settings.llm_base_url)
    assert len(requests) == 2 and "without -n <namespace>" in requests[1].prompt  # the model was told why
