"""The demo's answer as an on-call engineer reads it in a terminal: short, each fact once, safe to paste."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from api.demo import build_demo_case
from api.insight import build_insight
from api.render import render_text
from api.services.notes import insight_note
from correlators import load_case

REPO = Path(__file__).resolve().parents[2]
COMMIT_MESSAGE = "vllm: lower max_num_seqs to 32 to cut KV-cache memory"


def run_demo(columns: int) -> str:
    env = {**os.environ, "COLUMNS": str(columns)}
    done = subprocess.run([sys.executable, "-m", "api.cli", "demo"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120, check=True)
    return done.stdout


@pytest.fixture(scope="module")
def demo_text() -> str:
    return run_demo(120)


@pytest.fixture(scope="module")
def insight(tmp_path_factory: pytest.TempPathFactory):
    world = build_demo_case(tmp_path_factory.mktemp("demo"))
    return build_insight(load_case(world.case_dir))


def test_whole_demo_answer_fits_sixty_lines_of_120(demo_text: str) -> None:
    lines = demo_text.rstrip("\n").splitlines()
    assert len(lines) <= 60, f"{len(lines)} lines"
    assert max(len(line) for line in lines) <= 120


def test_each_fact_is_stated_once(demo_text: str) -> None:
    assert demo_text.count(COMMIT_MESSAGE) == 1
    assert demo_text.count("sha256:2518a2897b3d") == 1  # the old image: named once, in the rollout
    assert demo_text.count("ttft_p95_s up 0.463 → 3.13") == 1  # vllm-0's first symptom, then "ttft_p95_s above"
    assert demo_text.count("DeepSeek chat: p95 answer latency above 4 s") == 1  # the title, then "the incident above"
    assert "the rollout of deployment prod/vllm above" in demo_text
    long_lines = [line.strip() for line in demo_text.splitlines() if len(line.strip()) > 40 and "above" not in line]
    repeated = [line for line, n in Counter(long_lines).items() if n > 1]
    assert not repeated, repeated


def test_chain_and_rollback_point_at_the_pod_that_went_wrong_first(demo_text: str) -> None:
    chain = re.search(r"Fault chain \(cause → users\): (.+?)\n\n", demo_text, flags=re.S).group(1)
    assert "pod:prod/vllm-0" in chain and "pod:prod/vllm-1" not in chain
    assert "10:51:00  pod:prod/vllm-0: ttft_p95_s up" in demo_text


def test_numbers_times_and_durations_read_right(demo_text: str) -> None:
    assert "z > 20" in demo_text and "z 20.0" not in demo_text  # a clipped z is a bound, not a measurement
    assert "looked back 60m" in demo_text and not re.search(r"(?<!\d)1:00:00", demo_text)
    assert demo_text.count("+00:00") >= 1 and "Z," not in demo_text and "11:00:00Z" not in demo_text
    assert len(re.findall(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} \+00:00", demo_text)) == 1  # the alert, once


def test_confidence_is_explained(demo_text: str) -> None:
    """The shipped model is calibrated: the number is said to be a probability, with what it was calibrated on."""
    found = re.search(r"Confidence (0\.\d\d|1\.00): the probability that \S+ is the root cause, calibrated on (\d+) "
                      r"development\s+incidents", demo_text)
    assert found and int(found.group(2)) > 100, demo_text[:600]


def test_every_kubectl_line_names_the_namespace(demo_text: str) -> None:
    commands = re.findall(r"kubectl[^\n`]*", demo_text)
    assert commands and all(" -n prod " in c and "deployment/vllm" in c for c in commands), commands
    assert "       kubectl -n prod rollout undo deployment/vllm\n" in demo_text  # alone on its line: copy it whole
    assert "Undo: " in demo_text and "Does: " in demo_text


def test_narrow_terminal_wraps_but_never_splits_a_command() -> None:
    text = run_demo(80)
    for line in text.splitlines():
        assert len(line) <= 80 or line.lstrip().startswith(("kubectl ", "git ")), line
    assert "kubectl -n prod rollout undo deployment/vllm" in text
    assert "kubectl -n prod rollout history deployment/vllm" in text  # inside prose, kept on one line too


def test_render_width_argument_and_calibrated_confidence(insight) -> None:
    calibrated = insight.model_copy(update={"analysis": insight.analysis.model_copy(
        update={"confidence": 0.91, "calibrated_on": 140})})
    from narrator.confidence import with_confidence

    calibrated = calibrated.model_copy(update={"narrative": with_confidence(calibrated.narrative, calibrated.analysis)})
    text = render_text(calibrated, width=100)
    assert "Confidence 0.91: the probability that commit:f7b7890d603b is the root cause, calibrated on 140" in text
    assert max(len(line) for line in text.splitlines() if not line.lstrip().startswith(("kubectl", "git"))) <= 100


def test_pagerduty_note_says_what_the_confidence_means_and_how_to_fix(insight) -> None:
    note = insight_note(insight.to_public(), "http://127.0.0.1:8080/#/insights/x")
    assert re.search(r"Confidence \d\.\d\d: the probability that", note)
    assert "kubectl -n prod rollout undo deployment/vllm" in note and "Undo: " in note
    assert note.count(COMMIT_MESSAGE) == 1
    assert "Fault chain: " + " -> ".join(insight.analysis.candidates[0].chain.entities) in note
