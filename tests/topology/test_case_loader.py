"""The case loader: every malformed file gives one clear error naming file, place and problem."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from correlators import load_case
from tests.helpers import MINIMAL_TOPOLOGY, write_case
from topology import CaseFormatError


def test_minimal_case_loads(tmp_path: Path) -> None:
    case = load_case(write_case(tmp_path / "c"))
    assert {e.id for e in case.entities} == {"app:chat", "vectordb:qdrant"}
    assert case.series.values.shape == (2, 120)
    assert case.incident.symptom == "app:chat"


@pytest.mark.parametrize("missing", ["topology.json", "metrics.csv", "incident.json"])
def test_missing_required_file(tmp_path: Path, missing: str) -> None:
    case_dir = write_case(tmp_path / "c")
    (case_dir / missing).unlink()
    with pytest.raises(CaseFormatError, match=rf"{missing}: required file is missing"):
        load_case(case_dir)


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(CaseFormatError, match="does not exist"):
        load_case(tmp_path / "nope")


def test_bad_json_names_line(tmp_path: Path) -> None:
    case_dir = write_case(tmp_path / "c")
    (case_dir / "topology.json").write_text('{\n  "entities": [\n    {"id": "app:x",,}\n  ]\n}')
    with pytest.raises(CaseFormatError, match=r"topology.json:line 3 col \d+: invalid JSON"):
        load_case(case_dir)


def test_unknown_relation_kind(tmp_path: Path) -> None:
    topology = json.loads(json.dumps(MINIMAL_TOPOLOGY))
    topology["relations"][0]["kind"] = "LIKES"
    with pytest.raises(CaseFormatError, match=r"relations\[0\]\.kind: unknown relation kind 'LIKES'"):
        load_case(write_case(tmp_path / "c", topology=topology))


def test_relation_to_unknown_entity(tmp_path: Path) -> None:
    topology = json.loads(json.dumps(MINIMAL_TOPOLOGY))
    topology["relations"][0]["dst"] = "vectordb:ghost"
    with pytest.raises(CaseFormatError, match=r"relations\[0\]\.dst: relation refers to unknown entity 'vectordb:ghost'"):
        load_case(write_case(tmp_path / "c", topology=topology))


def test_unparseable_relation_timestamp(tmp_path: Path) -> None:
    topology = json.loads(json.dumps(MINIMAL_TOPOLOGY))
    topology["relations"][0]["valid_from"] = "yesterday-ish"
    with pytest.raises(CaseFormatError, match=r"relations\[0\]\.valid_from.*not an ISO-8601"):
        load_case(write_case(tmp_path / "c", topology=topology))


def test_duplicate_entity(tmp_path: Path) -> None:
    topology = json.loads(json.dumps(MINIMAL_TOPOLOGY))
    topology["entities"].append({"id": "app:chat", "kind": "app"})
    with pytest.raises(CaseFormatError, match=r"entities\[2\]\.id: duplicate entity id 'app:chat'"):
        load_case(write_case(tmp_path / "c", topology=topology))


def test_non_numeric_metric_names_line(tmp_path: Path) -> None:
    metrics = "timestamp,entity,metric,value\n2026-11-20T10:00:00Z,app:chat,rps,1\n2026-11-20T10:00:30Z,app:chat,rps,lots\n"
    with pytest.raises(CaseFormatError, match=r"metrics.csv:line 3: non-numeric value 'lots'"):
        load_case(write_case(tmp_path / "c", metrics=metrics))


def test_unparseable_metric_timestamp(tmp_path: Path) -> None:
    metrics = "timestamp,entity,metric,value\nnot-a-time,app:chat,rps,1\n"
    with pytest.raises(CaseFormatError, match=r"metrics.csv:line 2: unparseable timestamp 'not-a-time'"):
        load_case(write_case(tmp_path / "c", metrics=metrics))


def test_metrics_missing_column(tmp_path: Path) -> None:
    with pytest.raises(CaseFormatError, match=r"metrics.csv:line 1: missing column\(s\) value"):
        load_case(write_case(tmp_path / "c", metrics="timestamp,entity,metric\n1,app:chat,rps\n"))


def test_empty_and_nan_values_are_missing_samples(tmp_path: Path) -> None:
    metrics = "timestamp,entity,metric,value\n0,app:chat,rps,\n30,app:chat,rps,NaN\n60,app:chat,rps,2.5\n90,app:chat,rps,inf\n"
    case = load_case(write_case(tmp_path / "c", metrics=metrics, incident={"symptom": "app:chat", "at": 90}))
    row = case.series.values[0]
    assert row[2] == 2.5 and sum(v == v for v in row) == 1  # NaN != NaN: only one real sample


def test_unknown_symptom(tmp_path: Path) -> None:
    with pytest.raises(CaseFormatError, match=r"incident.json:symptom: symptom 'app:ghost' is not an entity"):
        load_case(write_case(tmp_path / "c", incident={"symptom": "app:ghost", "at": "2026-11-20T10:00:00Z"}))


def test_bad_lookback(tmp_path: Path) -> None:
    with pytest.raises(CaseFormatError, match=r"incident.json:incident.lookback: not a duration"):
        load_case(write_case(tmp_path / "c", incident={"symptom": "app:chat", "at": 0, "lookback": "forever"}))


def test_bad_change_timestamp(tmp_path: Path) -> None:
    changes = [{"entity": "app:chat", "kind": "rollout", "at": "soon"}]
    with pytest.raises(CaseFormatError, match=r"changes.json:\[0\]\.at"):
        load_case(write_case(tmp_path / "c", changes=changes))


def test_events_must_be_a_list(tmp_path: Path) -> None:
    with pytest.raises(CaseFormatError, match=r"events.json: top level must be a list"):
        load_case(write_case(tmp_path / "c", events={"reason": "OOMKilled"}))


def test_truth_json_is_never_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every way a file gets opened (builtin/io open, which pandas and pathlib end in, and os.open) is watched."""
    import builtins
    import io
    import os

    case_dir = write_case(tmp_path / "c")
    (case_dir / "truth.json").write_text('{"root_causes": ["vectordb:qdrant"]}')
    opened: list[str] = []

    def spy(real):  # type: ignore[no-untyped-def]
        def wrapper(file, *args, **kwargs):  # type: ignore[no-untyped-def]
            opened.append(os.fspath(file) if isinstance(file, (str, bytes, os.PathLike)) else repr(file))
            return real(file, *args, **kwargs)
        return wrapper

    monkeypatch.setattr(builtins, "open", spy(builtins.open))
    monkeypatch.setattr(io, "open", spy(io.open))
    monkeypatch.setattr(os, "open", spy(os.open))
    from api.insight import build_insight

    build_insight(load_case(case_dir))
    assert any(str(name).endswith("metrics.csv") for name in opened), "the spy must see the case files being read"
    assert not any("truth.json" in str(name) for name in opened)
