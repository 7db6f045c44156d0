"""The template narrator on the demo incident: time-ordered chain through vllm-0, one rollout step, safe commands."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

import pytest

from api.demo import build_demo_case
from correlators import load_case
from narrator import narrate_template
from narrator.grounding import unsafe_kubectl
from narrator.models import FixSuggestion
from rca import analyze
from rca.models import Analysis


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, Analysis]:
    world = build_demo_case(tmp_path_factory.mktemp("demo"))
    return world, analyze(load_case(world.case_dir))


def test_demo_narrative(demo: tuple[object, Analysis]) -> None:
    world, analysis = demo
    narrative = narrate_template(analysis)
    assert narrative.narrator == "template"
    times = [step.at for step in narrative.event_chain]
    assert times == sorted(times)
    assert narrative.event_chain[-1].entity == world.symptom  # the alert closes the chain
    actions = " ".join(f.action for f in narrative.fix_suggestions)
    assert "Roll back deployment prod/vllm" in actions and world.bad_commit[:12] in actions
    known = {e for c in analysis.candidates for e in c.chain.entities} | {a.entity for a in analysis.anomalies} | {
        c.entity for c in analysis.changes} | {c.commit for c in analysis.changes if c.commit}
    assert narrative.root_cause in known
    assert all(step.entity in known for step in narrative.event_chain)
    assert all(fix.entity in known for fix in narrative.fix_suggestions)


def test_chain_and_event_chain_go_through_the_pod_that_went_wrong_first(demo: tuple[object, Analysis]) -> None:
    """vllm-0 was swapped at 10:50:00 and its TTFT rose at 10:51:00; vllm-1 followed 45 s / 60 s later."""
    _, analysis = demo
    top = analysis.candidates[0]
    assert "pod:prod/vllm-0" in top.chain.entities and "pod:prod/vllm-1" not in top.chain.entities
    narrative = narrate_template(analysis)
    steps = [(s.at.strftime("%H:%M:%S"), s.entity, s.what) for s in narrative.event_chain]
    assert ("10:51:00", "pod:prod/vllm-0") in [(t, e) for t, e, _ in steps]  # the earliest symptom is kept
    rollout_steps = [s for s in steps if s[2].startswith("rollout of deployment prod/vllm")]
    assert len(rollout_steps) == 1, "the rollout to two pods is one fact, told once"
    assert rollout_steps[0][:2] == ("10:50:00", "pod:prod/vllm-0")
    assert "pod:prod/vllm-1 at 10:50:45" in rollout_steps[0][2]
    assert narrative.fix_suggestions[0].entity == "pod:prod/vllm-0"
    assert "pod:prod/vllm-0 went wrong first, at 10:51:00" in narrative.summary


def test_every_kubectl_command_names_its_namespace_and_kind(demo: tuple[object, Analysis]) -> None:
    _, analysis = demo
    fixes = narrate_template(analysis).fix_suggestions
    rollback = fixes[0]
    assert rollback.command == "kubectl -n prod rollout undo deployment/vllm"
    assert rollback.effect and rollback.undo and "kubectl -n prod rollout history deployment/vllm" in rollback.effect
    assert_safe(fixes)


def assert_safe(fixes: tuple[FixSuggestion, ...] | list[FixSuggestion]) -> None:
    """Every kubectl in any text of every fix: a namespace (or a cluster-scoped node), a resource kind."""
    for fix in fixes:
        for text in (fix.action, fix.command or "", fix.effect or "", fix.undo or "", fix.risk):
            assert not unsafe_kubectl(text), f"kubectl without a namespace in {text!r}"
            for command in re.findall(r"kubectl [^`]*", text):
                assert re.search(r"\b(deployment|pod|node)/\S|\btop pod \S", command), f"no resource kind in {command!r}"


def test_confidence_says_it_is_uncalibrated_when_the_ranker_gives_none(demo: tuple[object, Analysis]) -> None:
    _, analysis = demo
    narrative = narrate_template(analysis.model_copy(update={"confidence": None, "calibrated_on": None}))
    assert narrative.confidence is None and "uncalibrated" in narrative.confidence_text
    assert "not a probability" in narrative.confidence_text


def test_calibrated_confidence_is_read_from_the_analysis(demo: tuple[object, Analysis]) -> None:
    _, analysis = demo
    calibrated = analysis.model_copy(update={"confidence": 0.83, "calibrated_on": 120})
    narrative = narrate_template(calibrated)
    assert narrative.confidence == 0.83 and narrative.calibrated_on == 120
    assert "Confidence 0.83: the probability that commit:" in narrative.confidence_text
    assert "calibrated on 120 development incidents" in narrative.confidence_text


def test_close_rivals_are_called_too_close(demo: tuple[object, Analysis]) -> None:
    """A different explanation (not on the commit's chain) nearly as likely as the top is named; the image and the
    pod on the commit's own chain are the same fault and never count as rivals."""
    _, analysis = demo
    top = analysis.candidates[0]
    rival = next(c for c in analysis.candidates[1:] if c.entity not in top.chain.entities and not c.entity.startswith(
        ("pod:prod/vllm", "image:", "commit:")))
    boosted = [c.model_copy(update={"probability": top.probability / 1.2}) if c.entity == rival.entity else c
               for c in analysis.candidates]
    narrative = narrate_template(analysis.model_copy(update={"candidates": tuple(boosted)}))
    assert narrative.close_calls == (rival.entity,)
    assert f"Too close to call: {rival.entity}" in narrative.confidence_text
    assert narrate_template(analysis).close_calls == ()  # as ranked, every rival is far behind


def test_lookback_is_said_as_the_user_gave_it(tmp_path: Path) -> None:
    from correlators.models import Incident

    incident = Incident(symptom="app:x", at=datetime(2026, 11, 20, 11, tzinfo=timezone.utc), lookback="90m")
    empty = Analysis(incident=incident, candidates=(), anomalies=(), changes=())
    assert "in the 90m before the alert" in narrate_template(empty).summary


def test_context_and_revision_from_the_rollout_object() -> None:
    """A rollout read from the cluster (``faultline collect --context``) carries the context and revisions: the
    command pins both, and the undo goes back to the exact revision."""
    from correlators.models import Change, Evidence
    from narrator.fixes import suggest_fixes

    change = Change(
        entity="pod:team-a/api-7d9f-x2", kind="rollout", at=datetime(2026, 11, 20, 10, tzinfo=timezone.utc),
        before="image:api@sha256:" + "a" * 64, after="image:api@sha256:" + "b" * 64,
        attrs={"deployment": "team-a/api", "revision": 8, "previous_revision": 7, "context": "prod-eu"},
    )
    evidence = Evidence(kind="change", entity=change.entity, at=change.at, weight=0.9, summary="x", change=change)
    [rollback] = suggest_fixes([evidence])
    assert rollback.command == "kubectl --context prod-eu -n team-a rollout undo deployment/api --to-revision=7"
    assert rollback.undo.startswith("`kubectl --context prod-eu -n team-a rollout undo deployment/api --to-revision=8`")
    assert_safe([rollback])


def test_names_are_shell_quoted_and_no_command_without_a_namespace() -> None:
    from correlators.models import Change, Evidence
    from narrator.fixes import suggest_fixes

    at = datetime(2026, 11, 20, 10, tzinfo=timezone.utc)
    hostile = Change(entity="pod:prod/x", kind="image_swap", at=at, before="image:a", after="image:b",
                     attrs={"deployment": "prod/web;rm -rf ~"})
    [fix] = suggest_fixes([Evidence(kind="change", entity="pod:prod/x", at=at, weight=1, summary="x", change=hostile)])
    assert fix.command == "kubectl -n prod rollout undo 'deployment/web;rm -rf ~'"
    nowhere = Change(entity="app:web", kind="image_swap", at=at, before="image:a", after="image:b")
    [fix] = suggest_fixes([Evidence(kind="change", entity="app:web", at=at, weight=1, summary="x", change=nowhere)])
    assert fix.command is None and "kubectl" not in fix.action  # no namespace known: no command at all


@pytest.mark.parametrize("fault", ["bad_rollout", "gpu_fault", "node_cpu_hog", "vectordb_slowdown", "memory_leak_oom",
                                   "kv_cache_pressure", "downstream_errors"])
def test_generated_incidents_get_safe_commands_and_a_chain_in_time_order(tmp_path: Path, fault: str) -> None:
    """Every fault type of the generated suite: the template's commands are paste-safe, its steps in time order."""
    from benchmarks.scenarios import CaseSpec, generate, write_case

    case_dir = write_case(generate(CaseSpec(seed=31, fault=fault, entities=60)), tmp_path / "case", with_truth=False)
    narrative = narrate_template(analyze(load_case(case_dir)))
    assert_safe(narrative.fix_suggestions)
    commands = [f.command for f in narrative.fix_suggestions if f.command and f.command.startswith("kubectl")]
    assert all(" -n chat " in c or " node/" in c for c in commands), commands  # nodes are cluster-scoped
    times = [s.at for s in narrative.event_chain]
    assert times == sorted(times) and narrative.confidence_text


def test_some_generated_incidents_do_get_kubectl_commands(tmp_path: Path) -> None:
    """So the test above is not passing on empty lists: the OOM case reads memory and logs, namespaced."""
    from benchmarks.scenarios import CaseSpec, generate, write_case

    case_dir = write_case(generate(CaseSpec(seed=31, fault="memory_leak_oom", entities=60)), tmp_path / "c",
                          with_truth=False)
    analysis = analyze(load_case(case_dir))
    # the narrator's rules for an OOM-killed pod, whatever rank the model gave it: put that pod first
    oom = next(c for c in analysis.candidates if c.entity == "pod:chat/chat-rag-0")
    analysis = analysis.model_copy(update={"candidates": (oom, *(c for c in analysis.candidates if c is not oom))})
    commands = [f.command for f in narrate_template(analysis).fix_suggestions if f.command]
    assert "kubectl -n chat top pod chat-rag-0 --containers" in commands
    assert "kubectl -n chat logs pod/chat-rag-0 --previous --all-containers" in commands
