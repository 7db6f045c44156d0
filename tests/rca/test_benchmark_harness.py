"""The benchmark harness itself: the scenario generator (seeded, valid case format) and the scorer."""

from __future__ import annotations

import filecmp
import json
from pathlib import Path

import pytest

from benchmarks.score import CaseResult, Truth, ac_at, avg_at, markdown, score, solved_rank
from benchmarks.scenarios import DEV, FAULTS, HELDOUT, CaseSpec, generate, spec_for, suite, write_case
from correlators.case_files import load_case


def _write(tmp_path: Path, spec: CaseSpec, name: str) -> Path:
    return write_case(generate(spec), tmp_path / name)


def test_same_seed_same_files(tmp_path: Path) -> None:
    spec = CaseSpec(seed=11, fault="gpu_fault", entities=60)
    a, b = _write(tmp_path, spec, "a"), _write(tmp_path, spec, "b")
    names = sorted(p.name for p in a.iterdir())
    match, mismatch, errors = filecmp.cmpfiles(a, b, names, shallow=False)
    assert not mismatch and not errors and len(match) == 6


def test_different_seeds_differ(tmp_path: Path) -> None:
    a = _write(tmp_path, CaseSpec(seed=1, fault="node_cpu_hog", entities=60), "a")
    b = _write(tmp_path, CaseSpec(seed=2, fault="node_cpu_hog", entities=60), "b")
    assert (a / "metrics.csv").read_bytes() != (b / "metrics.csv").read_bytes()


@pytest.mark.parametrize("fault", FAULTS)
def test_every_fault_type_writes_a_loadable_case(tmp_path: Path, fault: str) -> None:
    path = _write(tmp_path, CaseSpec(seed=5, fault=fault, entities=20), fault)
    case = load_case(path)  # the lead's loader: the same one `faultline analyze` uses
    ids = {e.id for e in case.entities}
    truth = json.loads((path / "truth.json").read_text())
    assert truth["fault"] == fault
    assert set(truth["root_causes"]) <= ids and set(truth["accept"]) <= ids
    assert case.incident.symptom in ids
    assert case.series.values.shape[0] > 10
    # the symptom really moved before the alert (the alert fired)
    incident = json.loads((path / "incident.json").read_text())
    assert incident["metric"] in {k.metric for k in case.series.keys if k.entity == case.incident.symptom}
    assert all(e.at <= case.incident.at for e in case.events)


def test_sizes_and_fleet_padding(tmp_path: Path) -> None:
    small = generate(CaseSpec(seed=3, fault="vectordb_slowdown", entities=20))
    big = generate(CaseSpec(seed=3, fault="vectordb_slowdown", entities=1000))
    assert 15 <= small.truth["entities"] <= 40
    assert 900 <= big.truth["entities"] <= 1100


def test_dev_and_heldout_seed_sets_are_disjoint() -> None:
    assert not set(DEV) & set(HELDOUT)
    held = suite("heldout")
    assert {s.fault for s in held} == set(FAULTS)
    assert spec_for(HELDOUT[0]) == held[0]


def test_solved_rank_uses_root_causes_and_accept() -> None:
    truth = Truth(root_causes=("image:b",), accept=("commit:c",), fault="bad_rollout")
    assert solved_rank(["app:x", "commit:c", "image:b"], truth) == 2
    assert solved_rank(["app:x", "app:x", "image:b"], truth) == 2  # duplicates do not push answers down
    assert solved_rank(["app:x"], truth) is None


def test_ac_and_avg() -> None:
    ranks = [1, 3, None, 2]
    assert ac_at(ranks, 1) == 0.25 and ac_at(ranks, 3) == 0.75
    assert avg_at(ranks, 5) == pytest.approx((0.25 + 0.5 + 0.75 + 0.75 + 0.75) / 5)
    assert ac_at([], 1) == 0.0


def test_score_table_per_fault_and_overall() -> None:
    truths = {
        "c1": Truth(("gpu:a",), (), "gpu_fault"),
        "c2": Truth(("node:n",), (), "node_cpu_hog"),
    }
    results = [
        CaseResult("c1", "faultline", "gpu_fault", ("gpu:a",), 0.5),
        CaseResult("c2", "faultline", "node_cpu_hog", ("pod:p", "node:n"), 1.5),
        CaseResult("c1", "baro", "gpu_fault", (), 0.1, error="timeout"),
        CaseResult("c2", "baro", "node_cpu_hog", ("node:n",), 0.1),
    ]
    by = {(s.method, s.fault): s for s in score(results, truths)}
    assert by[("faultline", "all")].ac1 == 0.5 and by[("faultline", "all")].ac3 == 1.0
    assert by[("baro", "all")].errors == 1 and by[("baro", "gpu_fault")].ac3 == 0.0
    assert by[("faultline", "all")].median_s == 1.0
    table = markdown(score(results, truths), ["faultline", "baro"])
    assert "| faultline | 2 | 0.500 | 1.000 |" in table and "gpu_fault (1)" in table
