"""``faultline case convert`` and the lean ``faultline analyze``: same answers from Parquet, few imports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from api.cli import main
from benchmarks.scenarios import CaseSpec, generate, write_case

ROOT = Path(__file__).resolve().parents[2]
NOT_ON_THE_ANALYZE_PATH = ("pandas", "statsmodels", "openai", "fastapi", "uvicorn", "pydantic_settings", "jinja2",
                           "pyarrow.compute", "pyarrow.parquet", "neo4j", "kubernetes", "git")


def analyze_json(case_dir: Path, capsys: pytest.CaptureFixture[str]) -> dict:
    assert main(["analyze", str(case_dir), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    out.pop("timings_ms")
    return out


def test_convert_then_analyze_gives_the_same_answer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    case_dir = write_case(generate(CaseSpec(seed=31, fault="bad_rollout", entities=200)), tmp_path / "c",
                          iso_times=True)
    before = analyze_json(case_dir, capsys)
    assert main(["case", "convert", str(case_dir)]) == 0
    said = capsys.readouterr().out
    assert "metrics.parquet" in said and (case_dir / "metrics.parquet").stat().st_size > 0
    assert (case_dir / "metrics.csv").exists(), "convert keeps the CSV"
    assert analyze_json(case_dir, capsys) == before
    (case_dir / "metrics.csv").unlink()
    assert analyze_json(case_dir, capsys) == before  # the Parquet file alone


def test_convert_refuses_a_bad_csv_and_writes_nothing(tmp_path: Path) -> None:
    case_dir = write_case(generate(CaseSpec(seed=32, fault="gpu_fault", entities=20)), tmp_path / "c")
    with open(case_dir / "metrics.csv", "a", encoding="utf-8") as handle:
        handle.write("1795132800,app:x,rps,lots\n")
    done = subprocess.run([sys.executable, "-m", "api.cli", "case", "convert", str(case_dir)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "non-numeric value 'lots'" in done.stderr and "Traceback" not in done.stderr
    assert not (case_dir / "metrics.parquet").exists()
    assert not list(case_dir.glob("*.tmp"))


def test_analyze_imports_only_what_it_uses(tmp_path: Path) -> None:
    """Not a timing test: the set of modules ``faultline analyze`` loads (the start-up budget lives in BENCHMARKS.md).

    The case holds 3 hours of samples, so STL (a daily season) cannot run: statsmodels has no business loading.
    """
    case_dir = write_case(generate(CaseSpec(seed=33, fault="gpu_fault", entities=200)), tmp_path / "c")
    code = (
        "import sys, io, contextlib\n"
        "from api.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    assert main(['analyze', {str(case_dir)!r}, '--json']) == 0\n"
        f"print(' '.join(m for m in {NOT_ON_THE_ANALYZE_PATH!r} if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == []
