"""Trace ids and log templates in the narrative: shown to the model with the evidence, accepted when they are the
evidence's own, refused when invented."""

from __future__ import annotations

import pytest

from correlators.models import Evidence
from narrator.grounding import check_grounding, index_evidence
from narrator.prompting import build_prompt
from narrator.schema import DraftStep, NarrativeDraft

from .factories import demo_like_analysis

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
TEMPLATE = "redis timeout after <NUM> ms on key cart:<NUM>"


def _analysis():
    analysis = demo_like_analysis()
    top = analysis.candidates[0]
    evidence = Evidence(
        kind="anomaly", entity=top.entity, at=top.evidence[0].at, weight=0.99, metric="log_errors_per_s",
        baseline=0.0, current=1.5,
        summary=f"log_errors_per_s up from 0 to 1.5 (robust z 8.0); template \"{TEMPLATE}\"; exemplar trace {TRACE}",
        traces=(TRACE,), template=TEMPLATE, log_lines=("redis timeout after 100 ms on key cart:480",))
    candidates = (top.model_copy(update={"evidence": (evidence, *top.evidence)}), *analysis.candidates[1:])
    return analysis.model_copy(update={"candidates": candidates})


@pytest.fixture(scope="module")
def prompt():
    return build_prompt(_analysis(), 2500)


def _draft(prompt, summary: str) -> NarrativeDraft:
    top = prompt.pack.candidates[0]
    return NarrativeDraft(summary=summary, root_cause=top.entity, confidence=0.6, fix_suggestions=[],
                          event_chain=[DraftStep(entity=top.entity, at=top.evidence[0].at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                                 what="errors")])


def test_the_prompt_shows_the_template_lines_and_traces(prompt):
    user = prompt.messages[1]["content"]
    assert f'log template: "{TEMPLATE}"' in user
    assert 'log line: "redis timeout after 100 ms on key cart:480"' in user
    assert f"exemplar traces: {TRACE}" in user


def test_evidence_traces_and_templates_are_grounded_and_invented_ones_are_not(prompt):
    index = index_evidence(prompt.pack, [m["content"] for m in prompt.messages])
    good = _draft(prompt, f'Redis timed out ("{TEMPLATE}"), see trace {TRACE}.')
    assert check_grounding(good, index) == []
    part = _draft(prompt, 'Lines like "redis timeout after <NUM> ms" appeared.')
    assert check_grounding(part, index) == []
    invented_trace = _draft(prompt, f"See trace {'a' * 31}b.")
    assert any("not an exemplar trace" in p for p in check_grounding(invented_trace, index))
    invented_template = _draft(prompt, 'Lines "connection to <IP> refused" appeared.')
    assert any("not a template of the evidence" in p for p in check_grounding(invented_template, index))
