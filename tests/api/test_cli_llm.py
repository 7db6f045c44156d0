"""``faultline analyze --llm``: the JSON says which narrator wrote the text, and why the template did if it did."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from api.cli import main
from tests.servers.llm_scripted import ScriptedLLM


@pytest.fixture(scope="module")
def case_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from api.demo import build_demo_case

    return build_demo_case(tmp_path_factory.mktemp("demo")).case_dir


def analyze_json(case_dir: Path, capsys: pytest.CaptureFixture[str], *flags: str) -> dict:
    assert main(["analyze", str(case_dir), "--json", *flags]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.integration
def test_llm_flag_uses_the_configured_model(
    case_dir: Path, scripted_llm: ScriptedLLM, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    base_url = scripted_llm.base_url("good")
    monkeypatch.setenv("FAULTLINE_LLM_BASE_URL", base_url)
    monkeypatch.setenv("FAULTLINE_LLM_MODEL", scripted_llm.model)
    narrative = analyze_json(case_dir, capsys, "--llm")["narrative"]
    assert narrative["narrator"] == "llm" and narrative["model"] == scripted_llm.model
    assert narrative["fallback_reason"] is None
    assert len(scripted_llm.received(base_url)) == 1

    plain = analyze_json(case_dir, capsys)["narrative"]  # without --llm the CLI stays on the template
    assert plain["narrator"] == "template" and plain["fallback_reason"] is None
    assert len(scripted_llm.received(base_url)) == 1


@pytest.mark.integration
def test_llm_flag_with_a_hallucinating_model_shows_the_template_and_why(
    case_dir: Path, scripted_llm: ScriptedLLM, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FAULTLINE_LLM_BASE_URL", scripted_llm.base_url("hallucinate"))
    monkeypatch.setenv("FAULTLINE_LLM_MODEL", scripted_llm.model)
    assert main(["analyze", str(case_dir), "--llm"]) == 0
    text = capsys.readouterr().out
    assert "LLM narrative not used: not_grounded: root_cause 'pod:prod/ghost-7'" in text
    assert "pod:prod/ghost-7" not in text.split("LLM narrative not used", 1)[1].split("\n\n", 1)[1]  # only the reason
    assert "kubectl -n prod rollout undo deployment/vllm" in text  # the template's fixes, commands and all


def test_llm_flag_without_configuration_says_so(
    case_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("FAULTLINE_LLM_BASE_URL", raising=False)
    monkeypatch.delenv("FAULTLINE_LLM_MODEL", raising=False)
    narrative = analyze_json(case_dir, capsys, "--llm")["narrative"]
    assert narrative["narrator"] == "template"
    assert narrative["fallback_reason"].startswith("llm_not_configured:")


def test_half_configured_llm_is_a_one_line_error(
    case_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FAULTLINE_LLM_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.delenv("FAULTLINE_LLM_MODEL", raising=False)
    assert main(["analyze", str(case_dir), "--llm"]) == 2
    assert "invalid LLM narrator settings" in capsys.readouterr().err


@pytest.mark.integration
def test_llm_narrative_in_the_terminal_keeps_safe_commands_and_the_width(
    case_dir: Path, scripted_llm: ScriptedLLM, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FAULTLINE_LLM_BASE_URL", scripted_llm.base_url("good"))
    monkeypatch.setenv("FAULTLINE_LLM_MODEL", scripted_llm.model)
    monkeypatch.setenv("COLUMNS", "100")
    assert main(["analyze", str(case_dir), "--llm"]) == 0
    text = capsys.readouterr().out
    assert f"Narrative by {scripted_llm.model} (checked against the evidence):" in text
    commands = [line.strip() for line in text.splitlines() if line.strip().startswith("kubectl")]
    assert commands and all(" -n prod " in c for c in commands)
    assert all(len(line) <= 100 for line in text.splitlines() if not line.strip().startswith(("kubectl", "git ")))
    assert "Confidence 0." in text and "the probability that" in text  # the shipped model is calibrated
