"""The test peers themselves: the real llama.cpp server and the scripted misbehaving one answer over HTTP as the
narrator expects. If these fail, the narrator tests below them say nothing."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from tests.servers.llm import LLMServer
from tests.servers.llm_scripted import GHOST_ENTITY, ScriptedLLM

SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string", "enum": ["yes", "no"]}},
    "required": ["answer"],
}


@pytest.mark.integration
def test_real_llm_lists_its_model_alias(llm_server: LLMServer) -> None:
    models = httpx.get(f"{llm_server.base_url}/models", timeout=10).json()
    assert llm_server.model in [m["id"] for m in models["data"]]


@pytest.mark.integration
def test_real_llm_json_object_schema_constrains_output(llm_server: LLMServer) -> None:
    """llama-cpp-python honours ``{"type": "json_object", "schema": ...}`` with a grammar: the enum holds."""
    started = time.monotonic()
    response = httpx.post(
        f"{llm_server.base_url}/chat/completions",
        json={
            "model": llm_server.model,
            "messages": [{"role": "user", "content": "Is the sky blue? Answer in JSON."}],
            "max_tokens": 20,
            "temperature": 0,
            "response_format": {"type": "json_object", "schema": SCHEMA},
        },
        timeout=120,
    )
    elapsed = time.monotonic() - started
    assert response.status_code == 200, response.text
    content = json.loads(response.json()["choices"][0]["message"]["content"])
    assert content["answer"] in ("yes", "no")
    print(f"real llm: json_object+schema answer in {elapsed:.2f}s (warm-up took {llm_server.warmup_s:.2f}s)")


@pytest.mark.integration
def test_real_llm_rejects_openai_json_schema_format(llm_server: LLMServer) -> None:
    """The OpenAI ``json_schema`` response format is not understood by llama-cpp-python 0.3.x; the narrator's
    ``auto`` mode must notice this and fall back to ``json_object`` + schema."""
    response = httpx.post(
        f"{llm_server.base_url}/chat/completions",
        json={
            "model": llm_server.model,
            "messages": [{"role": "user", "content": "x"}],
            "max_tokens": 2,
            "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": SCHEMA}},
        },
        timeout=60,
    )
    assert response.status_code >= 400
    assert "json_object" in response.text


def _chat(url: str, timeout: float = 10) -> httpx.Response:
    body = {"model": "scripted", "messages": [{"role": "user", "content": "Symptom: app:chat\n## Candidates\n1. pod:a/b (score 1)"}]}
    return httpx.post(f"{url}/chat/completions", json=body, timeout=timeout)


def test_scripted_ratelimit_then_success(scripted_llm: ScriptedLLM) -> None:
    url = scripted_llm.base_url("ratelimit")
    first, second = _chat(url), _chat(url)
    assert first.status_code == 429 and first.headers["retry-after"] == "0"
    assert second.status_code == 200
    assert len(scripted_llm.received(url)) == 2


def test_scripted_hallucination_names_a_ghost(scripted_llm: ScriptedLLM) -> None:
    content = json.loads(_chat(scripted_llm.base_url("hallucinate")).json()["choices"][0]["message"]["content"])
    assert content["root_cause"] == GHOST_ENTITY


def test_scripted_invalid_json_is_invalid(scripted_llm: ScriptedLLM) -> None:
    content = _chat(scripted_llm.base_url("invalid_json")).json()["choices"][0]["message"]["content"]
    with pytest.raises(ValueError):
        json.loads(content)


def test_scripted_hang_outlasts_a_short_timeout(scripted_llm: ScriptedLLM) -> None:
    with pytest.raises(httpx.TimeoutException):
        _chat(scripted_llm.base_url("hang"), timeout=0.5)
