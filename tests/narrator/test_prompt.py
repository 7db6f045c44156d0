"""The rendered prompt: golden text for the frozen demo incident, content of the real demo's, and the token budget on
a 5,000-entity incident. Regenerate the golden file with ``FAULTLINE_UPDATE_GOLDEN=1`` after a deliberate change."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from narrator.budget import approx_tokens
from narrator.evidence import EvidenceLimits
from narrator.prompting import build_prompt, messages_tokens, retry_message
from narrator.schema import draft_schema
from rca.models import Analysis
from topology.models import short_id

from .factories import AUTHOR, COMMIT_MESSAGE, demo_like_analysis, large_analysis

GOLDEN = Path(__file__).parent / "golden" / "demo_like_prompt.txt"
BUDGET = 2500


def as_text(messages: tuple[dict[str, str], ...]) -> str:
    return "\n\n".join(f"=== {m['role']} ===\n{m['content']}" for m in messages) + "\n"


def test_golden_prompt_for_the_frozen_demo_incident() -> None:
    prompt = build_prompt(demo_like_analysis(), BUDGET)
    text = as_text(prompt.messages)
    if os.environ.get("FAULTLINE_UPDATE_GOLDEN") == "1":
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(text, encoding="utf-8")
    assert text == GOLDEN.read_text(encoding="utf-8")
    assert prompt.fits and prompt.approx_tokens <= BUDGET


def test_demo_prompt_carries_commit_author_and_chain(demo_analysis: Analysis) -> None:
    """The real pipeline's demo analysis: the prompt names the bad commit with its message and author, and the
    top candidate's fault chain in order."""
    prompt = build_prompt(demo_analysis, BUDGET)
    user = prompt.messages[1]["content"]
    assert prompt.fits and prompt.approx_tokens <= BUDGET
    assert '"vllm: lower max_num_seqs to 32 to cut KV-cache memory"' in user
    assert "by dana@example.com" in user
    top = demo_analysis.candidates[0]
    chain_line = "chain: " + " -> ".join(short_id(e) for e in top.chain.entities[: prompt.limits.chain_hops])
    assert chain_line in user
    assert f"1. {short_id(top.entity)} " in user
    assert "## Timeline" in user and "alert fired" in user
    assert not re.search(r"[0-9a-f]{40,}", user), "full-length shas/digests waste tokens; the prompt uses short ids"
    times = re.findall(r"^- (\S+) \|", user.split("## Timeline", 1)[1], flags=re.M)
    assert times == sorted(times)


def test_frozen_demo_prompt_mentions_commit_message_and_author() -> None:
    user = build_prompt(demo_like_analysis(), BUDGET).messages[1]["content"]
    assert f'by {AUTHOR}: "{COMMIT_MESSAGE}"' in user


def test_large_incident_stays_under_budget() -> None:
    analysis = large_analysis(5000)
    started = time.perf_counter()
    prompt = build_prompt(analysis, BUDGET)
    elapsed = time.perf_counter() - started
    user = prompt.messages[1]["content"]

    assert prompt.fits and messages_tokens(prompt.messages) <= BUDGET
    assert len(user) < 12_000
    mentioned = set(re.findall(r"pod:prod/svc-\d{4}", user))
    assert 0 < len(mentioned) <= 60, f"{len(mentioned)} of 5,000 entities in the prompt"
    assert f"1. {analysis.candidates[0].entity} " in user  # the best candidate always survives the trimming
    assert "more anomalies" in user and "more candidates" in user  # and the model is told what was left out
    assert elapsed < 5.0, f"building the prompt took {elapsed:.2f} s"
    schema = draft_schema(prompt.pack)
    assert len(schema["properties"]["root_cause"]["enum"]) == len(prompt.pack.entity_ids()) <= 60


@pytest.mark.parametrize("budget", [800, 1500, 4000])
def test_budget_is_respected_or_reported(budget: int) -> None:
    prompt = build_prompt(large_analysis(500), budget)
    if prompt.fits:
        assert prompt.approx_tokens <= budget
    else:
        assert prompt.limits.shrink() is None  # only the floor may exceed the budget, and it says so


def test_limits_shrink_round_robin_to_a_floor() -> None:
    limits: EvidenceLimits | None = EvidenceLimits()
    seen = []
    while limits is not None:
        seen.append(limits)
        limits = limits.shrink()
    assert len(seen) < 60
    first_round = seen[1:7]
    changed = {name for a, b in zip(seen, first_round) for name in ("timeline", "evidence_per_candidate", "changes",
               "candidates", "text_chars", "chain_hops") if getattr(a, name) != getattr(b, name)}
    assert len(changed) == 6  # every part gave something before any part gave twice
    floor = seen[-1]
    assert (floor.candidates, floor.evidence_per_candidate, floor.changes) == (1, 1, 1)


def test_token_estimate_counts_digits_one_by_one() -> None:
    assert approx_tokens("2026-11-20T10:52:30Z") >= 20  # SmolLM2's tokenizer: 20 tokens
    assert approx_tokens("The quick brown fox jumps over the lazy dog.") >= 10  # 11 tokens


def test_retry_message_lists_the_problems() -> None:
    message = retry_message(["root_cause 'pod:x' is not an entity in the evidence"])
    assert message["role"] == "user"
    assert "- root_cause 'pod:x' is not an entity in the evidence" in message["content"]
