"""The grounding check on hand-made drafts: what passes, and each kind of invention it must catch."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from narrator.grounding import GroundingIndex, check_grounding, index_evidence, scan, to_narrative
from narrator.prompting import build_prompt
from narrator.schema import DraftFix, DraftStep, NarrativeDraft

from .factories import BAD_COMMIT, NEW_IMAGE, SYMPTOM, demo_like_analysis

SHORT_COMMIT = "commit:f7b7890d603b"


@pytest.fixture(scope="module")
def index() -> GroundingIndex:
    prompt = build_prompt(demo_like_analysis(), 2500)
    return index_evidence(prompt.pack, [m["content"] for m in prompt.messages])


def draft(**changes: object) -> NarrativeDraft:
    """A grounded draft (copied from the demo-like evidence); ``changes`` replace fields to break it."""
    values: dict[str, object] = {
        "summary": (
            f"At 10:50:45 pod:prod/vllm-1 switched to an image built from {SHORT_COMMIT} (f7b7890, \"lower max_num_seqs "
            "to 32\"); TTFT went from 0.466 to 3.2 s and chat p95 latency passed 4 s."
        ),
        "root_cause": SHORT_COMMIT,
        "event_chain": [
            DraftStep(entity="pod:prod/vllm-1", at="2026-11-20T10:50:45Z", what="image swapped to the new build"),
            DraftStep(entity="pod:prod/vllm-1", at="2026-11-20T10:52:00Z", what="ttft_p95_s up from 0.466 to 3.16"),
            DraftStep(entity=SYMPTOM, at="2026-11-20T11:00:00Z", what="alert fired"),
        ],
        "fix_suggestions": [DraftFix(action=f"Revert {SHORT_COMMIT} and roll back", entity=SHORT_COMMIT, risk="Undoes the memory savings.")],
        "confidence": 0.7,
    }
    values.update(changes)
    return NarrativeDraft(**values)  # type: ignore[arg-type]


def test_grounded_draft_passes(index: GroundingIndex) -> None:
    assert check_grounding(draft(), index) == []


def test_full_ids_and_sha_prefixes_are_accepted(index: GroundingIndex) -> None:
    assert check_grounding(draft(root_cause=BAD_COMMIT), index) == []
    assert check_grounding(draft(root_cause="commit:f7b7890d"), index) == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"root_cause": "pod:prod/ghost-7"}, "root_cause 'pod:prod/ghost-7' is not an entity"),
        ({"summary": "pod:prod/vllm-9 ran out of memory."}, "'pod:prod/vllm-9', which is not an entity"),
        ({"summary": "It began at 10:47."}, "the time 10:47, which is not in the evidence"),
        ({"summary": "Alert at 2026-11-20T11:05:00Z."}, "the time 2026-11-20T11:05:00Z"),
        ({"summary": "Latency rose to 9.7 s."}, "quotes the number '9.7 s'"),
        ({"summary": "Queue length reached 400."}, "quotes the number '400'"),
        ({"summary": "Commit deadbee1 changed the pool."}, "'deadbee1', which is not a commit"),
        ({"summary": "The cause is commit:0123abcd9."}, "'commit:0123abcd9', which is not an entity"),
        (
            {"event_chain": [DraftStep(entity="pod:prod/vllm-1", at="2026-11-20T10:51:13Z", what="x")]},
            "event_chain[0].at '2026-11-20T10:51:13Z' is not a time in the evidence",
        ),
        ({"event_chain": [DraftStep(entity="node:gpu-9", at="2026-11-20T11:00:00Z", what="x")]}, "event_chain[0].entity 'node:gpu-9'"),
        ({"event_chain": []}, "event_chain is empty"),
        ({"summary": "<two or three sentences>"}, "contains the placeholder '<two or three sentences>'"),
        ({"summary": "See https://github.com/x/y#notes."}, "links 'https://github.com/x/y#notes'"),
        ({"fix_suggestions": [DraftFix(action="Restart it", entity="gpu:0", risk="none")]}, "fix_suggestions[0].entity 'gpu:0'"),
        ({"fix_suggestions": [DraftFix(action="Scale to 12 replicas", entity=SHORT_COMMIT, risk="x")]}, "quotes the number '12'"),
        # a true entity and a true time that do not belong together: nothing happened to the symptom at 10:50:45
        (
            {"event_chain": [DraftStep(entity=SYMPTOM, at="2026-11-20T10:50:45Z", what="x")]},
            "puts 'user:deepseek-chat-users' at '2026-11-20T10:50:45Z', but the evidence has nothing",
        ),
        # a date in words (what SmolLM2 wrote on a generated incident)
        ({"summary": "In December a pod was affected; the incident is now in January."}, "names 'December'"),
        (
            {"fix_suggestions": [DraftFix(action="Run kubectl rollout undo deployment/vllm", entity=SHORT_COMMIT, risk="x")]},
            "without -n <namespace>",
        ),
    ],
)
def test_inventions_are_caught(index: GroundingIndex, changes: dict[str, object], expected: str) -> None:
    problems = check_grounding(draft(**changes), index)
    assert any(expected in p for p in problems), problems


def test_rounding_percent_units_versions_and_counting_words() -> None:
    index = GroundingIndex(
        entities=frozenset(), kinds=frozenset({"pod"}), times=frozenset(), dates=frozenset(), clocks=frozenset(),
        hexes=frozenset(), numbers=(0.95, 3.163, 1200.0),
    )
    assert index.has_number(3.16, 2, "") and index.has_number(3.2, 1, "") and index.has_number(3.0, 0, "")
    assert not index.has_number(3.17, 2, "") and not index.has_number(3.3, 1, "")
    assert index.has_number(95.0, 0, "%")  # 0.95 quoted as a percentage
    assert index.has_number(1.2, 1, "s")  # 1200 (ms) quoted in seconds
    assert index.has_number(2.0, 0, "") and not index.has_number(2.0, 0, "s")  # "both pods" vs "2 s"
    found = scan("vLLM v0.6.3 at p95 with max_num_seqs 32 and ttft_p95_s 3.1", {"pod"})
    assert [n[0] for n in found.numbers] == ["32", "3.1"]


def test_to_narrative_maps_short_ids_back_and_orders_steps(index: GroundingIndex) -> None:
    d = draft(
        root_cause=SHORT_COMMIT,
        event_chain=[
            DraftStep(entity=SYMPTOM, at="2026-11-20T11:00:00Z", what="alert fired"),
            DraftStep(entity="image:vllm/vllm-openai@sha256:2f9a9f9d2883", at="2026-11-20T10:50:45Z", what="new image"),
        ],
    )
    assert check_grounding(d, index) == []
    narrative = to_narrative(d, index, model="m")
    assert narrative.root_cause == BAD_COMMIT
    assert [s.entity for s in narrative.event_chain] == [NEW_IMAGE, SYMPTOM]
    assert narrative.event_chain[0].at == datetime(2026, 11, 20, 10, 50, 45, tzinfo=timezone.utc)
    assert narrative.narrator == "llm" and narrative.model == "m"


def test_the_evidences_own_month_and_weekday_are_allowed(index: GroundingIndex) -> None:
    """2026-11-20 was a Friday in November: saying so is not an invention."""
    assert check_grounding(draft(summary="On Friday in November the vLLM rollout slowed chat."), index) == []


def test_namespaced_and_cluster_scoped_kubectl_pass(index: GroundingIndex) -> None:
    fixes = [DraftFix(action="kubectl -n prod rollout undo deployment/vllm", entity=SHORT_COMMIT, risk="x"),
             DraftFix(action="kubectl cordon node/gpu-node-1", entity=SHORT_COMMIT, risk="x")]
    assert check_grounding(draft(fix_suggestions=fixes), index) == []
