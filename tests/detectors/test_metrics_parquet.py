"""Hostile or broken ``metrics.parquet``: one clear ``CaseFormatError`` naming the file, the row and the problem."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from detectors.case_files import load_metrics
from detectors.metrics_parquet import read_parquet_columns
from detectors.models import SeriesKey
from topology import CaseFormatError
from topology.case_files import CaseLimits

T0 = 1_700_000_000


def write(path: Path, **columns: object) -> Path:
    base = {
        "timestamp": pa.array([T0 + 30.0 * i for i in range(6)]),
        "entity": pa.array(["app:chat"] * 6),
        "metric": pa.array(["rps"] * 6),
        "value": pa.array([1.0, 2.0, None, float("nan"), float("inf"), 3.0]),
    }
    base.update(columns)
    pq.write_table(pa.table({k: v for k, v in base.items() if v is not None}), path)
    return path


def test_a_plain_parquet_file_reads(tmp_path: Path) -> None:
    frame = read_parquet_columns(write(tmp_path / "m.parquet")).to_frame()
    assert frame.keys == (SeriesKey("app:chat", "rps"),)
    np.testing.assert_array_equal(frame.values[0], [1.0, 2.0, np.nan, np.nan, np.nan, 3.0])


@pytest.mark.parametrize("timestamp", [
    pa.array([T0 + 30 * i for i in range(6)], type=pa.int64()),
    pa.array([(T0 + 30 * i) * 1000 for i in range(6)], type=pa.timestamp("ms", tz="UTC")),
    pa.array([(T0 + 30 * i) * 10**9 for i in range(6)], type=pa.timestamp("ns")),
], ids=["epoch-int", "timestamp-ms-utc", "timestamp-ns-naive"])
def test_timestamp_encodings_agree(tmp_path: Path, timestamp: pa.Array) -> None:
    frame = read_parquet_columns(write(tmp_path / "m.parquet", timestamp=timestamp)).to_frame()
    np.testing.assert_array_equal(frame.times, T0 + 30.0 * np.arange(6))


@pytest.mark.parametrize("columns, problem", [
    ({"entity": pa.array(["app:chat"] * 4 + ["nocolon", "app:chat"])}, r":row 5: entity 'nocolon' is not 'kind:name'"),
    ({"metric": pa.array(["rps", "rps", " ", "rps", "rps", "rps"])}, r":row 3: empty metric"),
    ({"entity": pa.array(["app:chat", None] + ["app:chat"] * 4)}, r":row 2: missing entity"),
    ({"timestamp": pa.array([T0, T0 + 30, 1e300, T0 + 90, T0 + 120, T0 + 150])},
     r":row 3: timestamp 1e\+300 is not epoch seconds within 1970-01-01\.\.2200-01-01"),
    ({"timestamp": pa.array([T0, None, T0, T0, T0, T0], type=pa.float64())}, r":row 2: missing timestamp"),
    ({"value": None}, r": missing column\(s\) value"),
    ({"value": pa.array(["1"] * 6)}, r":value: column value has type string"),
    ({"entity": pa.array([1] * 6)}, r":entity: column entity has type int64"),
])
def test_bad_columns_name_the_row(tmp_path: Path, columns: dict, problem: str) -> None:
    with pytest.raises(CaseFormatError, match=r"^" + re.escape(str(tmp_path / "m.parquet")) + problem):
        read_parquet_columns(write(tmp_path / "m.parquet", **columns))


def test_row_cap_is_checked_from_the_footer(tmp_path: Path) -> None:
    path = write(tmp_path / "m.parquet")
    with pytest.raises(CaseFormatError, match=r"row 6: more than 5 samples \(max_metric_rows\)"):
        read_parquet_columns(path, limits=CaseLimits(max_metric_rows=5))
    assert len(read_parquet_columns(path, limits=CaseLimits(max_metric_rows=6))) == 6


def test_declared_decoded_size_is_capped(tmp_path: Path) -> None:
    path = write(tmp_path / "m.parquet")
    with pytest.raises(CaseFormatError, match=r"decodes to \d+ bytes, more than the 100-byte limit"):
        read_parquet_columns(path, limits=CaseLimits(max_csv_bytes=100))


@pytest.mark.parametrize("content", [b"", b"PAR1", b"not parquet at all" * 100, b"PAR1" + b"\x00" * 64 + b"PAR1"])
def test_garbage_is_not_a_readable_parquet_file(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "metrics.parquet").write_bytes(content)
    with pytest.raises(CaseFormatError, match=r"metrics.parquet: not a readable Parquet file"):
        load_metrics(tmp_path)


def test_a_truncated_file_is_an_error_not_a_crash(tmp_path: Path) -> None:
    path = write(tmp_path / "metrics.parquet")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] + data[-8:])  # the footer's length and magic, the middle gone
    with pytest.raises(CaseFormatError, match=r"metrics.parquet: not a readable Parquet file"):
        load_metrics(tmp_path)
