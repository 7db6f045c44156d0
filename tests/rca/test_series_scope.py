"""Reading only the symptom neighbourhood's series (``rca.series_scope``) changes speed, never the analysis."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.scenarios import FAULTS, CaseSpec, generate, write_case
from correlators.case_files import load_case
from rca.pipeline import AnalysisConfig, analyze, series_scope


@pytest.mark.parametrize("fault", FAULTS)
def test_scoped_loading_gives_the_same_analysis(tmp_path: Path, fault: str) -> None:
    case_dir = write_case(generate(CaseSpec(seed=21, fault=fault, entities=200)), tmp_path / fault)
    full = load_case(case_dir)
    scoped = load_case(case_dir, series_scope=series_scope())
    assert len(scoped.series.keys) < len(full.series.keys), "the scope must leave series out, or it tests nothing"
    expected, actual = analyze(full), analyze(scoped)
    assert actual.candidates, "an analysis with no candidates compares nothing"
    assert actual.model_dump(exclude={"timings_ms"}) == expected.model_dump(exclude={"timings_ms"})


def test_the_scope_follows_the_configured_hops(tmp_path: Path) -> None:
    case_dir = write_case(generate(CaseSpec(seed=22, fault="gpu_fault", entities=200)), tmp_path / "c")
    case = load_case(case_dir)
    near = series_scope(AnalysisConfig(hops=1))(case.entities, case.relations, case.incident)
    far = series_scope(AnalysisConfig(hops=6))(case.entities, case.relations, case.incident)
    assert case.incident.symptom in near and near < far
    config = AnalysisConfig(hops=1)
    scoped = load_case(case_dir, series_scope=series_scope(config))
    assert {k.entity for k in scoped.series.keys} <= near
    assert analyze(scoped, config).model_dump(exclude={"timings_ms"}) == analyze(case, config).model_dump(
        exclude={"timings_ms"})
