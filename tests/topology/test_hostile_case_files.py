"""Hostile case directories: every trick ends in one clear ``CaseFormatError``, never a crash, a hang or a leak.

Big inputs are made without filling the disk: sparse files (``truncate`` past the end) for size limits, and strings
built in memory for nesting. Each test runs in well under a second.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from correlators import load_case
from correlators.case_files import case_from_documents
from tests.helpers import MINIMAL_TOPOLOGY, write_case
from topology import CaseFormatError
from topology.case_files import MAX_CASE_FILE_BYTES, CaseLimits, case_file, check_depth, read_json

SECRET = "root:$6$do-not-echo-this-hash:19000:0:99999:7:::"


def _nested(depth: int) -> object:
    """A list nested ``depth`` levels deep, built iteratively (a recursive builder would hit the recursion limit)."""
    node: object = 1
    for _ in range(depth):
        node = [node]
    return node


# -- path traversal -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["../topology.json", "/etc/passwd", "sub/topology.json", "..", ".", "", "a\x00b",
                                  "..\\..\\boot.ini"])
def test_names_that_leave_the_directory_are_refused(tmp_path: Path, name: str) -> None:
    case_dir = write_case(tmp_path / "c")
    with pytest.raises(CaseFormatError, match="is not a plain file name inside the case directory"):
        case_file(case_dir, name)


def test_symlink_out_of_the_case_is_refused_without_echoing_its_content(tmp_path: Path) -> None:
    secret = tmp_path / "shadow"
    secret.write_text(SECRET + "\n")
    case_dir = write_case(tmp_path / "c")
    (case_dir / "incident.json").unlink()
    (case_dir / "incident.json").symlink_to(secret)
    with pytest.raises(CaseFormatError, match="leads outside the case directory") as caught:
        load_case(case_dir)
    assert "do-not-echo" not in str(caught.value)


def test_symlinked_metrics_out_of_the_case_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.csv"
    outside.write_text("timestamp,entity,metric,value\n" + SECRET + "\n")
    case_dir = write_case(tmp_path / "c")
    (case_dir / "metrics.csv").unlink()
    (case_dir / "metrics.csv").symlink_to(outside)
    with pytest.raises(CaseFormatError, match="leads outside") as caught:
        load_case(case_dir)
    assert "do-not-echo" not in str(caught.value)


def test_symlink_inside_the_case_is_fine(tmp_path: Path) -> None:
    case_dir = write_case(tmp_path / "c")
    (case_dir / "topology.v2.json").write_text(json.dumps(MINIMAL_TOPOLOGY))
    (case_dir / "topology.json").unlink()
    (case_dir / "topology.json").symlink_to("topology.v2.json")
    assert {e.id for e in load_case(case_dir).entities} == {"app:chat", "vectordb:qdrant"}


def test_dangling_and_looping_symlinks(tmp_path: Path) -> None:
    case_dir = write_case(tmp_path / "c")
    (case_dir / "changes.json").symlink_to(case_dir / "nowhere.json")
    with pytest.raises(CaseFormatError, match=r"changes.json: cannot be resolved"):
        load_case(case_dir)
    (case_dir / "changes.json").unlink()
    (case_dir / "changes.json").symlink_to(case_dir / "changes.json")
    with pytest.raises(CaseFormatError, match=r"changes.json: cannot be resolved"):
        load_case(case_dir)


def test_fifo_is_refused_instead_of_blocking(tmp_path: Path) -> None:
    case_dir = write_case(tmp_path / "c")
    (case_dir / "metrics.csv").unlink()
    os.mkfifo(case_dir / "metrics.csv")  # opening it for reading would block forever with no writer
    with pytest.raises(CaseFormatError, match="not a regular file"):
        load_case(case_dir)


def test_directory_in_place_of_a_file(tmp_path: Path) -> None:
    case_dir = write_case(tmp_path / "c")
    (case_dir / "events.json").mkdir()
    with pytest.raises(CaseFormatError, match=r"events.json: is not a regular file"):
        load_case(case_dir)


# -- huge files -----------------------------------------------------------------------------------------------------

def test_huge_json_is_refused_before_reading(tmp_path: Path) -> None:
    case_dir = write_case(tmp_path / "c")
    with open(case_dir / "topology.json", "r+b") as handle:  # sparse: ~100 MB apparent size, no disk used
        handle.truncate(100 * 1024 * 1024)
    with pytest.raises(CaseFormatError, match=r"topology.json: file is larger than 67108864 bytes"):
        load_case(case_dir)


def test_json_size_limit_is_configurable(tmp_path: Path) -> None:
    case_dir = write_case(tmp_path / "c")
    size = (case_dir / "topology.json").stat().st_size
    with pytest.raises(CaseFormatError, match=rf"larger than {size - 1} bytes"):
        load_case(case_dir, CaseLimits(max_json_bytes=size - 1))
    assert load_case(case_dir, CaseLimits(max_json_bytes=size)).incident.symptom == "app:chat"


def test_default_byte_cap_for_other_files(tmp_path: Path) -> None:
    path = tmp_path / "notes.bin"
    with open(path, "wb") as handle:
        handle.truncate(MAX_CASE_FILE_BYTES + 1)
    with pytest.raises(CaseFormatError, match=rf"larger than {MAX_CASE_FILE_BYTES} bytes"):
        case_file(tmp_path, "notes.bin")


# -- deep nesting ---------------------------------------------------------------------------------------------------

def test_nesting_past_the_parser_stack_is_refused(tmp_path: Path) -> None:
    case_dir = write_case(tmp_path / "c")
    (case_dir / "topology.json").write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(CaseFormatError, match=r"topology.json: invalid JSON: nested too deeply"):
        load_case(case_dir)


def test_nesting_past_the_limit_is_refused_and_located(tmp_path: Path) -> None:
    topology = json.loads(json.dumps(MINIMAL_TOPOLOGY))
    topology["entities"][0]["attrs"] = {"labels": _nested(200)}
    with pytest.raises(CaseFormatError, match=r"topology.json:entities\[0\]\.attrs\.labels\[0\].*\.\.\.: nested deeper "
                                              r"than 64 levels \(max_json_depth\)"):
        load_case(write_case(tmp_path / "c", topology=topology))


def test_depth_limit_boundary() -> None:
    check_depth(_nested(64), "x.json", 64)  # 64 lists deep: allowed
    with pytest.raises(CaseFormatError, match="nested deeper than 64 levels"):
        check_depth(_nested(65), "x.json", 64)
    check_depth({"a": [{"b": 1}]}, "x.json", 3)
    with pytest.raises(CaseFormatError, match=r"x.json:a\[0\]: nested deeper than 2"):
        check_depth({"a": [{"b": 1}]}, "x.json", 2)


def test_wide_but_shallow_json_is_fine(tmp_path: Path) -> None:
    entities = [{"id": f"pod:prod/p-{i}", "kind": "pod", "attrs": {"k": i}} for i in range(5_000)]
    topology = {"entities": [*MINIMAL_TOPOLOGY["entities"], *entities], "relations": MINIMAL_TOPOLOGY["relations"]}
    assert len(load_case(write_case(tmp_path / "c", topology=topology)).entities) == 5_002


def test_inline_documents_are_depth_checked_too() -> None:
    topology = json.loads(json.dumps(MINIMAL_TOPOLOGY))
    topology["entities"][1]["attrs"] = {"x": _nested(100)}
    with pytest.raises(CaseFormatError, match=r"^topology:entities\[1\]\.attrs\.x.*nested deeper than 64"):
        case_from_documents(topology, [], {"symptom": "app:chat", "at": 1_700_000_000})


# -- NaN, infinity, numbers out of range ----------------------------------------------------------------------------

@pytest.mark.parametrize("literal, problem", [
    ("NaN", "non-standard JSON constant NaN"),
    ("Infinity", "non-standard JSON constant Infinity"),
    ("-Infinity", "non-standard JSON constant -Infinity"),
    ("1e999", "number 1e999 does not fit a float"),
    ("-1e999", "number -1e999 does not fit a float"),
    ("9" * 5000, "Exceeds the limit"),
])
def test_non_finite_numbers_are_refused(tmp_path: Path, literal: str, problem: str) -> None:
    case_dir = write_case(tmp_path / "c")
    (case_dir / "incident.json").write_text('{"symptom": "app:chat", "at": ' + literal + "}")
    with pytest.raises(CaseFormatError, match=rf"incident.json: invalid JSON: .*{problem}"):
        load_case(case_dir)


@pytest.mark.parametrize("at", [1e300, -1.0, 1e18, "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "2300-01-01T00:00Z",
                                10**400])
def test_timestamps_out_of_range_are_a_format_error(tmp_path: Path, at: object) -> None:
    case_dir = write_case(tmp_path / "c")
    (case_dir / "incident.json").write_text(json.dumps({"symptom": "app:chat", "at": at}))
    with pytest.raises(CaseFormatError, match=r"incident.json:incident\.at: (timestamp .* is outside 1970-01-01\.\.2200"
                                              r"-01-01|not a finite epoch timestamp)"):
        load_case(case_dir)


@pytest.mark.parametrize("lookback", ["99999999999999d", 1e300, "87601h"])
def test_absurd_lookback_is_a_format_error(tmp_path: Path, lookback: object) -> None:
    incident = {"symptom": "app:chat", "at": 1_700_003_570, "lookback": lookback}
    with pytest.raises(CaseFormatError, match=r"incident\.lookback: duration .* is longer than ten years"):
        load_case(write_case(tmp_path / "c", incident=incident))


@pytest.mark.parametrize("where, document", [
    ("topology.json:relations[0].valid_from", None),
    ("changes.json:[0].at", [{"entity": "app:chat", "kind": "rollout", "at": 1e300}]),
    ("events.json:[0].at", [{"entity": "app:chat", "reason": "OOMKilled", "at": "9999-12-31T23:59:59Z"}]),
])
def test_out_of_range_times_in_every_file(tmp_path: Path, where: str, document: object) -> None:
    topology = json.loads(json.dumps(MINIMAL_TOPOLOGY))
    if document is None:
        topology["relations"][0]["valid_from"] = "0001-01-01T00:00:00Z"
    kwargs = {"changes": document} if where.startswith("changes") else {"events": document} if where.startswith("events") else {}
    with pytest.raises(CaseFormatError, match=re.escape(where) + ": timestamp .* is outside"):
        load_case(write_case(tmp_path / "c", topology=topology, **kwargs))


def test_non_utf8_json(tmp_path: Path) -> None:
    case_dir = write_case(tmp_path / "c")
    (case_dir / "incident.json").write_bytes(b'{"symptom": "app:\xff\xfe"}')
    with pytest.raises(CaseFormatError, match="incident.json: not UTF-8 text"):
        load_case(case_dir)


def test_read_json_refuses_a_path_it_cannot_read(tmp_path: Path) -> None:
    with pytest.raises(CaseFormatError, match="cannot be read"):
        read_json(tmp_path / "absent.json")
