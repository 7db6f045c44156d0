"""The answer's schema and its size: the longest answer it allows fits the max_tokens the request asks for."""

from __future__ import annotations

import json

import pytest

from narrator.prompting import SMALL_LIMITS, build_prompt
from narrator.schema import FULL, SMALL, NarrativeDraft, answer_bound, draft_schema, fitted_format

from .factories import demo_like_analysis


@pytest.fixture(scope="module")
def pack():
    return build_prompt(demo_like_analysis(), 2500, SMALL_LIMITS, show_format=False, small=True).pack


def longest(schema: dict) -> object:
    """The longest value ``schema`` allows (longest enum, full-length strings, every list full)."""
    if "enum" in schema:
        return max(schema["enum"], key=lambda v: len(json.dumps(v, ensure_ascii=False).encode()))
    if schema["type"] == "string":
        n = int(schema["pattern"].rsplit(",", 1)[1].split("}")[0]) if "pattern" in schema else schema["maxLength"]
        return "w" * n
    if schema["type"] == "array":
        return [longest(schema["items"])] * schema["maxItems"]
    return {k: longest(v) for k, v in schema["properties"].items()}


@pytest.mark.parametrize("shape", [FULL, SMALL], ids=["full", "small"])
def test_bound_covers_the_longest_answer(pack, shape) -> None:
    schema = draft_schema(pack, lengths=True, shape=shape)
    document = json.dumps(longest(schema), ensure_ascii=False, separators=(", ", ": "))  # one space, as the grammar
    bound = answer_bound(schema)
    assert bound is not None and len(document.encode()) <= bound < len(document.encode()) * 1.1


def test_unbounded_without_lengths(pack) -> None:
    assert answer_bound(draft_schema(pack, lengths=False)) is None
    fitted = fitted_format("json_schema", pack, "full", 1500)  # OpenAI strict: no bounds allowed, none promised
    assert fitted.bound is None and fitted.max_tokens == 1500


@pytest.mark.parametrize("budget", [600, 900, 1500, 4000])
@pytest.mark.parametrize("profile", ["full", "small"])
def test_shape_shrinks_to_fit_max_tokens(pack, profile: str, budget: int) -> None:
    fitted = fitted_format("json_object", pack, profile, budget)
    assert fitted.bound is not None and fitted.max_tokens == fitted.bound + 16
    assert fitted.max_tokens <= budget or fitted.shape.shrink() is None  # only the floor may exceed the budget


def test_small_profile_text_has_no_room_for_invented_facts(pack) -> None:
    schema = draft_schema(pack, lengths=True, shape=SMALL)
    pattern = schema["properties"]["summary"]["pattern"]
    for forbidden in "0123456789:@<>\"\\":
        assert forbidden not in pattern.split("]")[0]
    steps = schema["properties"]["event_chain"]
    assert steps["minItems"] == 1 and all(" | " in line for line in steps["items"]["enum"])
    # a picked timeline line comes back as a full step
    draft = NarrativeDraft.model_validate({"summary": "s", "root_cause": pack.candidates[0].entity,
                                           "event_chain": [steps["items"]["enum"][0]], "fix_suggestions": []})
    first = pack.timeline[0]
    assert (draft.event_chain[0].entity, draft.event_chain[0].what) == (first.entity, first.what)
