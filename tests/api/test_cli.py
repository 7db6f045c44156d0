"""The CLI as a user runs it: demo, analyze (text and JSON), and one-line errors on bad input."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from api.cli import main
from api.demo import build_demo_case
from tests.helpers import write_case


def test_demo_names_the_rollout_and_reaches_users(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    top = out["candidates"][0]
    changes = out["changes"]
    rollout = [c for c in changes if "max_num_seqs" in c.get("attrs", {}).get("message", "")]
    assert rollout, "the demo's bad rollout must be among the changes"
    acceptable = {rollout[0]["commit"], rollout[0]["after"]} | {c["entity"] for c in rollout}
    assert top["entity"] in acceptable
    assert top["chain"][-1] == "user:deepseek-chat-users"
    assert "llm:deepseek-r1@vllm" in top["chain"]
    assert out["narrative"]["fix_suggestions"]


def test_demo_console_script_runs_fast() -> None:
    exe = shutil.which("faultline") or pytest.fail("console script 'faultline' is not installed")
    done = subprocess.run([exe, "demo"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "Candidates, ranked" in done.stdout and "What to do" in done.stdout
    assert "max_num_seqs" in done.stdout


def test_analyze_any_case_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    case_dir = write_case(tmp_path / "case")
    assert main(["analyze", str(case_dir), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["candidates"][0]["entity"] == "vectordb:qdrant"
    assert out["candidates"][0]["chain"] == ["vectordb:qdrant", "app:chat"]
    assert set(out["timings_ms"]) >= {"detect", "rank", "total"}


def test_analyze_text_output(tmp_path: Path) -> None:
    world = build_demo_case(tmp_path)
    done = subprocess.run([sys.executable, "-m", "api.cli", "analyze", str(world.case_dir)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "Fault chain" in done.stdout


def test_malformed_case_is_one_line_without_traceback(tmp_path: Path) -> None:
    case_dir = write_case(tmp_path / "bad")
    (case_dir / "incident.json").write_text("{oops")
    done = subprocess.run([sys.executable, "-m", "api.cli", "analyze", str(case_dir)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "incident.json:line 1" in done.stderr and "invalid JSON" in done.stderr
