"""Hostile ``metrics.csv``: a billion rows, one endless line, millions of series, out-of-range times, megabyte cells.

The billion-row file is never written: a generator-backed stream serves rows on demand and counts what the reader
pulled, so the test proves reading *stopped* near the cap instead of only checking the message.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
import pytest

import detectors.metrics_csv as metrics_reader
import detectors.metrics_pandas as reference_checker
from correlators import load_case
from detectors import DetectorError, parse_metrics_rows
from detectors.case_files import parse_metrics_stream, parse_metrics_table
from tests.helpers import write_case
from topology import CaseFormatError
from topology.case_files import CaseLimits

HEADER = b"timestamp,entity,metric,value\n"


class EndlessRows(io.RawIOBase):
    """``rows`` CSV rows produced on demand (default: a billion), never stored; ``served`` counts bytes handed out."""

    def __init__(self, rows: int = 1_000_000_000, row: bytes | None = None) -> None:
        self.rows = rows
        self.row = row
        self.next_row = 0
        self.served = 0
        self._pending = HEADER

    def readable(self) -> bool:
        return True

    def _make(self, i: int) -> bytes:
        if self.row is not None:
            return self.row
        return b"%d,pod:prod/p-%d,cpu_usage,%d.5\n" % (1_700_000_000 + 30 * (i // 10), i % 10, i % 7)

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while len(self._pending) < len(buffer) and self.next_row < self.rows:
            self._pending += b"".join(self._make(i) for i in range(self.next_row, min(self.rows, self.next_row + 4096)))
            self.next_row = min(self.rows, self.next_row + 4096)
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        self.served += n
        return n


def test_billion_row_stream_stops_at_the_cap() -> None:
    source = EndlessRows()
    started = time.monotonic()
    with pytest.raises(CaseFormatError, match=r"^huge.csv:line 50002: more than 50000 samples \(max_metric_rows\)"):
        parse_metrics_stream(source, "huge.csv", CaseLimits(max_metric_rows=50_000))
    assert time.monotonic() - started < 10
    row_bytes = len(source._make(0))
    assert source.served < 50_001 * row_bytes + 1024 * 1024, "the reader kept pulling rows past the cap"
    assert source.next_row < 100_000


def test_exactly_the_cap_is_accepted() -> None:
    frame = parse_metrics_stream(EndlessRows(rows=20_000), "m.csv", CaseLimits(max_metric_rows=20_000))
    assert len(frame.keys) == 10
    assert frame.values.shape == (10, 2_000)
    assert np.isfinite(frame.values).all()


def test_row_cap_through_load_case(tmp_path: Path) -> None:
    case_dir = write_case(tmp_path / "c")  # 240 samples
    with pytest.raises(CaseFormatError, match=r"metrics.csv:line 241: more than 239 samples \(max_metric_rows\)"):
        load_case(case_dir, CaseLimits(max_metric_rows=239))
    assert load_case(case_dir, CaseLimits(max_metric_rows=240)).series.values.shape == (2, 120)


def test_endless_line_is_refused_after_a_bounded_read() -> None:
    source = EndlessRows(row=b"x" * 1024)  # no newline ever: the parser would buffer the whole "line"
    with pytest.raises(CaseFormatError, match=r"a line is longer than 65536 bytes \(max_line_bytes\)"):
        parse_metrics_stream(source, "m.csv")
    assert source.served < 4 * 1024 * 1024


def test_long_header_line_is_refused() -> None:
    source = io.BytesIO(b"timestamp,entity,metric,value" + b",pad" * 20_000 + b"\n1,a:b,c,1\n")
    with pytest.raises(CaseFormatError, match=r"longer than 1000 bytes"):
        parse_metrics_stream(source, "m.csv", CaseLimits(max_line_bytes=1000))


@pytest.mark.parametrize("as_file", [False, True], ids=["stream", "regular-file"])
def test_segmented_reading_equals_reading_at_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, as_file: bool) -> None:
    """Reading in segments must not change the answer: tiny segments give the same frame as one pandas table."""
    source = EndlessRows(rows=997)
    data = HEADER + b"".join(source._make(i) for i in range(997))
    monkeypatch.setattr(metrics_reader, "READ_BLOCK_BYTES", 64)
    monkeypatch.setattr(metrics_reader, "SEGMENT_BYTES", 500)
    if as_file:
        (tmp_path / "m.csv").write_bytes(data)
        with open(tmp_path / "m.csv", "rb") as handle:
            streamed = parse_metrics_stream(handle, "m.csv")
    else:
        streamed = parse_metrics_stream(io.BytesIO(data), "m.csv")
    import pandas as pd

    whole = parse_metrics_table(pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False), "m.csv")
    assert streamed.keys == whole.keys
    np.testing.assert_array_equal(streamed.times, whole.times)
    np.testing.assert_array_equal(streamed.values, whole.values)


@pytest.mark.parametrize("segment_bytes", [200, 1 << 20])
def test_line_numbers_stay_right_across_segments_and_chunks(monkeypatch: pytest.MonkeyPatch, segment_bytes: int) -> None:
    monkeypatch.setattr(reference_checker, "CHUNK_ROWS", 7)
    monkeypatch.setattr(metrics_reader, "READ_BLOCK_BYTES", 64)
    monkeypatch.setattr(metrics_reader, "SEGMENT_BYTES", segment_bytes)
    rows = [b"%d,app:chat,rps,1" % (1_700_000_000 + 30 * i) for i in range(40)]
    rows[22] = b"1700000660,app:chat,rps,lots"  # line 24 (header is line 1)
    with pytest.raises(CaseFormatError, match=r"m.csv:line 24: non-numeric value 'lots'"):
        parse_metrics_stream(io.BytesIO(HEADER + b"\n".join(rows) + b"\n"), "m.csv")


def test_many_series_over_a_long_span_are_refused_not_allocated() -> None:
    """2,000 one-sample series spread over 20,000 slots would be a 40M-cell matrix: refused before allocating."""
    rows = b"".join(b"%d,pod:prod/p-%d,cpu,1\n" % (1_700_000_000 + 600 * i, i) for i in range(2_000))
    with pytest.raises(DetectorError, match=r"2000 series x \d+ time slots is more than 20000000 cells"):
        parse_metrics_stream(io.BytesIO(HEADER + rows), "m.csv")


@pytest.mark.parametrize("cell", [b"-62135596800", b"1e300", b"0001-01-01T00:00:00Z", b"9999-12-31T23:59:59Z",
                                  b"2262-04-12T00:00:00Z"])
def test_timestamps_out_of_range(cell: bytes) -> None:
    data = HEADER + b"1700000000,app:chat,rps,1\n" + cell + b",app:chat,rps,2\n"
    with pytest.raises(CaseFormatError, match=r"m.csv:line 3: timestamp .* is outside 1970-01-01\.\.2200-01-01"):
        parse_metrics_stream(io.BytesIO(data), "m.csv")


def test_inf_and_nan_values_are_missing_samples_not_numbers() -> None:
    data = HEADER + b"".join(b"%d,app:chat,rps,%s\n" % (1_700_000_000 + 30 * i, v)
                             for i, v in enumerate([b"1", b"inf", b"-Infinity", b"NaN", b"1e999", b"", b"2"]))
    frame = parse_metrics_stream(io.BytesIO(data), "m.csv")
    np.testing.assert_array_equal(np.isfinite(frame.values[0]), [True, False, False, False, False, False, True])


def test_megabyte_cell_is_not_echoed_whole() -> None:
    data = HEADER + b"1700000000,app:chat,rps," + b"9x" * 30_000 + b"\n"
    with pytest.raises(CaseFormatError, match=r"line 2: non-numeric value '9x9x") as caught:
        parse_metrics_stream(io.BytesIO(data), "m.csv")
    assert len(str(caught.value)) < 200


def test_not_utf8_and_binary_garbage() -> None:
    with pytest.raises(CaseFormatError, match=r"m.csv: not a readable CSV"):
        parse_metrics_stream(io.BytesIO(HEADER + b"1700000000,app:\xff\xfe,rps,1\n"), "m.csv")
    with pytest.raises(CaseFormatError, match=r"m.csv: file is empty"):
        parse_metrics_stream(io.BytesIO(b""), "m.csv")


def test_inline_rows_are_capped_and_flat() -> None:
    rows = [{"timestamp": 1_700_000_000 + 30 * i, "entity": "app:chat", "metric": "rps", "value": 1} for i in range(11)]
    with pytest.raises(CaseFormatError, match=r"metrics: more than 10 samples \(max_metric_rows\)"):
        parse_metrics_rows(rows, limits=CaseLimits(max_metric_rows=10))
    assert parse_metrics_rows(rows, limits=CaseLimits(max_metric_rows=11)).values.shape == (1, 11)
    rows[3]["value"] = {"$gt": 0}
    with pytest.raises(CaseFormatError, match=r"metrics:\[3\]\.value: value must be a string or a number"):
        parse_metrics_rows(rows)
