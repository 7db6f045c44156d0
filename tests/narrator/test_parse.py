"""Parsing the model's reply into a draft: what is tolerated and what is an ``LLMAnswerError``."""

from __future__ import annotations

import json

import pytest

from narrator.client import ChatReply
from narrator.exceptions import LLMAnswerError
from narrator.llm import parse_draft

GOOD = {
    "summary": "s", "root_cause": "pod:a/b", "event_chain": [{"entity": "pod:a/b", "at": "2026-11-20T10:00:00Z", "what": "w"}],
    "fix_suggestions": [], "confidence": 0.5,
}


def reply(content: str, finish: str = "stop") -> ChatReply:
    return ChatReply(content=content, finish_reason=finish)


def test_plain_json_and_a_single_code_fence_are_accepted() -> None:
    assert parse_draft(reply(json.dumps(GOOD))).root_cause == "pod:a/b"
    assert parse_draft(reply("```json\n" + json.dumps(GOOD) + "\n```")).root_cause == "pod:a/b"


def test_raw_control_characters_inside_strings_are_tolerated() -> None:
    text = json.dumps(GOOD).replace('"s"', '"line one\tand\nline two"')
    assert parse_draft(reply(text)).summary == "line one\tand\nline two"


def test_truncated_answer_says_it_was_cut() -> None:
    with pytest.raises(LLMAnswerError, match="cut at max_tokens"):
        parse_draft(reply(json.dumps(GOOD)[:40], finish="length"))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({**GOOD, "confidence": 1.5}, "confidence"),
        ({**GOOD, "extra": 1}, "extra"),
        ({k: v for k, v in GOOD.items() if k != "root_cause"}, "root_cause"),
        ({**GOOD, "event_chain": [{"entity": "pod:a/b", "at": "x"}]}, "event_chain.0.what"),
    ],
)
def test_schema_violations_are_named(data: dict, message: str) -> None:
    with pytest.raises(LLMAnswerError, match="does not match the narrative schema") as err:
        parse_draft(reply(json.dumps(data)))
    assert message in str(err.value)


def test_prose_is_not_a_narrative() -> None:
    with pytest.raises(LLMAnswerError, match="not valid JSON"):
        parse_draft(reply("The root cause is the vLLM rollout."))
