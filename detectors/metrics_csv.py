"""Reading ``metrics.csv`` with pyarrow's multi-threaded CSV reader, bounded as a stream is.

The file is read in *segments* of whole lines (up to ``SEGMENT_BYTES``), and each segment is parsed by
``pyarrow.csv.read_csv`` on all cores straight into typed columns: timestamps as numbers or ISO-8601 instants,
entity and metric names dictionary-encoded (a few thousand distinct strings, not one Python object a row), values as
floats. The typed columns are then checked with numpy — names non-blank and ``kind:name``, timestamps within
1970..2200, no spelling of "not a number" that the reference checker would refuse. Anything unusual (a bad cell,
mixed timestamp formats, blanks around a name, a row with too few fields) sends that segment to the cell-by-cell
checker (``metrics_pandas``), so the fast path changes speed, never what is accepted or the message about it.

Bounds, as before: every block read is scanned for a line longer than ``max_line_bytes`` before it is kept (one
endless line cannot fill memory); a regular file is parsed at most ``SEGMENT_BYTES`` at a time and a stream of
unknown length in segments of at most ``max_metric_rows + 1`` lines, so reading stops right after the row cap is
passed. Line numbers in errors count the header as line 1 and skip blank lines. A value may not contain a newline.
"""

from __future__ import annotations

import csv
import os
import stat
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

from topology.case_files import DEFAULT_LIMITS, CaseLimits
from topology.exceptions import CaseFormatError
from topology.timeutil import EARLIEST_EPOCH_S, LATEST_EPOCH_S

from .metrics_rules import MISSING_VALUES, REQUIRED_COLUMNS, check_header, clip, too_many_rows
from .sample_columns import ColumnsBuilder, SampleColumns, Vocabulary

READ_BLOCK_BYTES = 1 << 20
"""Bytes asked of a stream of unknown length at a time: how far past the row cap reading may run."""
SEGMENT_BYTES = 256 << 20
"""Most bytes of whole lines parsed in one go: bounds memory on a huge regular file before its row count is known."""
ARROW_BLOCK_BYTES = 4 << 20
"""pyarrow's unit of parallel parsing: a 110 MB file is ~28 blocks for the cores to share."""
_BOM = b"\xef\xbb\xbf"
_NS_PER_S = 1_000_000_000


def read_csv_columns(handle: BinaryIO, name: str = "metrics.csv", limits: CaseLimits = DEFAULT_LIMITS) -> SampleColumns:
    """Every sample of a ``metrics.csv`` stream, checked and coded (see the module docstring)."""
    source = _Segments(handle, name, limits.max_line_bytes)
    header = source.header()
    columns = _header_columns(header, name)
    check_header(columns, name)
    builder = ColumnsBuilder()
    rows = 0
    while True:
        remaining = limits.max_metric_rows - rows
        segment = source.next(None if source.sized else remaining + 1)
        if segment is None:
            break
        parsed = _parse_fast(segment, columns, builder)
        if parsed is None:
            from .metrics_pandas import add_csv_segment  # the cell-by-cell path: rare, and the only one needing pandas

            rows += add_csv_segment(builder, header, segment, name, rows, limits)
            continue
        if parsed.rows > remaining:
            raise too_many_rows(name, limits)
        builder.add(parsed.seconds, parsed.entity_codes, parsed.metric_codes, parsed.values)
        rows += parsed.rows
    return builder.build()


# -- bounded reading ----------------------------------------------------------------------------------------------
class _Segments:
    """Whole-line segments of a binary stream; refuses a line longer than ``max_line_bytes`` as soon as it is read.

    Why not let the CSV parser meet the long line: it buffers a line whole before it can split it, so one endless
    line (or a file with no newline at all) would be read into memory however small the row cap is.

    Unread data is a list of blocks, the first consumed from ``_offset`` on; a segment inside one block is handed
    out as a view (a regular file up to ``SEGMENT_BYTES`` is one read and no copy).
    """

    def __init__(self, handle: BinaryIO, name: str, max_line_bytes: int) -> None:
        self._handle = handle
        self._name = name
        self._max = max_line_bytes
        self._run = 0  # bytes since the last newline read
        self._eof = False
        self._parts: list[bytes] = []
        self._offset = 0
        self._size = 0  # unread bytes
        self._lines = 0  # newlines in the unread bytes (counted for streams only)
        size = _regular_file_size(handle)
        self.sized = size is not None
        self._block = READ_BLOCK_BYTES if size is None else max(1, min(SEGMENT_BYTES, size + 1))

    # reading and the line bound
    def _fill(self) -> bool:
        """Read one more block; False at the end of the stream."""
        if self._eof:
            return False
        block = self._handle.read(self._block)
        if not block:
            self._eof = True
            return False
        self._check_lines(block)
        self._parts.append(block)
        self._size += len(block)
        if not self.sized:
            self._lines += block.count(b"\n")
        return True

    def _check_lines(self, data: bytes) -> None:
        """Exact test for a run of more than ``max`` bytes without a newline, in O(len / max) ``find`` calls.

        A run longer than ``max`` covers at least one whole stripe of ``max // 2`` bytes; only a stripe with no
        newline in it (rare in real data) is measured exactly.
        """
        first = data.find(b"\n")
        if first < 0:
            self._run += len(data)
            if self._run > self._max:
                self._too_long()
            return
        if self._run + first > self._max:
            self._too_long()
        last = data.rfind(b"\n")
        stripe = max(1, self._max // 2)
        for start in range(first + 1, last, stripe):
            if data.find(b"\n", start, start + stripe) < 0:
                before = data.rfind(b"\n", 0, start)
                after = data.find(b"\n", start + stripe)
                if after - before - 1 > self._max:
                    self._too_long()
        self._run = len(data) - last - 1
        if self._run > self._max:
            self._too_long()

    def _too_long(self) -> None:
        raise CaseFormatError(self._name, f"a line is longer than {self._max} bytes (max_line_bytes); refused")

    # positions in the unread data
    def _blocks(self) -> list[tuple[bytes, int, int]]:
        """(block, first unread offset in it, absolute position of that offset)."""
        out, position = [], 0
        for i, block in enumerate(self._parts):
            start = self._offset if i == 0 else 0
            out.append((block, start, position))
            position += len(block) - start
        return out

    def _first_newline(self) -> int:
        for block, start, position in self._blocks():
            found = block.find(b"\n", start)
            if found >= 0:
                return position + found - start
        return -1

    def _last_newline(self) -> int:
        for block, start, position in reversed(self._blocks()):
            found = block.rfind(b"\n", start)
            if found >= 0:
                return position + found - start
        return -1

    def _nth_newline(self, n: int) -> int:
        for block, start, position in self._blocks():
            count = block.count(b"\n", start)
            if n <= count:
                hits = np.flatnonzero(np.frombuffer(block, dtype=np.uint8, offset=start) == 0x0A)
                return position + int(hits[n - 1])
            n -= count
        raise AssertionError("fewer newlines than counted")

    def _take(self, n: int, newlines: int) -> bytes | memoryview:
        """Remove and return the first ``n`` unread bytes, which hold ``newlines`` newlines."""
        first = self._parts[0]
        if self._offset + n > len(first):  # spans blocks: join them once, keep the rest as one block
            first = b"".join([memoryview(first)[self._offset :], *self._parts[1:]])
            self._parts, self._offset = [first], 0
        piece = memoryview(first)[self._offset : self._offset + n]
        self._offset += n
        if self._offset == len(first):
            self._parts.pop(0)
            self._offset = 0
        self._size -= n
        self._lines = max(0, self._lines - newlines)
        return piece

    # the two questions the reader asks
    def header(self) -> bytes:
        """The first non-blank line, without its line break and a UTF-8 byte-order mark."""
        if not self._parts:
            self._fill()
        if self._parts and self._parts[0].startswith(_BOM):
            self._take(len(_BOM), 0)
        while True:
            end = self._first_newline()
            if end < 0:
                if self._fill():
                    continue
                line = bytes(self._take(self._size, 0)) if self._size else b""
            else:
                line = bytes(self._take(end + 1, 1))[:-1]
            line = line.rstrip(b"\r")
            if line or end < 0:
                break
        if not line.strip():
            raise CaseFormatError(self._name, "file is empty (a header 'timestamp,entity,metric,value' is required)")
        return line

    def next(self, max_lines: int | None) -> bytes | memoryview | None:
        """The next segment of whole lines (the last may lack its newline), or None at the end.

        ``max_lines``: at most this many complete lines (a stream near the row cap); None bounds by bytes only.
        """
        while True:
            if max_lines is not None and self._lines >= max_lines:
                return self._take(self._nth_newline(max_lines) + 1, max_lines)
            if self._size >= SEGMENT_BYTES:
                cut = self._last_newline() + 1
                if cut > 0:
                    return self._take(cut, self._lines)
            if not self._fill():
                return self._take(self._size, self._lines) if self._size else None


def _regular_file_size(handle: BinaryIO) -> int | None:
    """Bytes left in ``handle`` when it is a regular file (its end is known), else None."""
    try:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            return None
        return max(0, info.st_size - handle.tell())
    except (AttributeError, OSError, ValueError):
        return None


def _header_columns(header: bytes, name: str) -> list[str]:
    """Column names as pandas reads them (blanks after a comma skipped, duplicates renamed ``name.1``)."""
    try:
        fields = next(csv.reader([header.decode("utf-8")], skipinitialspace=True), [])
    except (UnicodeDecodeError, csv.Error) as exc:
        raise CaseFormatError(name, f"not a readable CSV: {clip(exc, 200)}", where="line 1") from exc
    seen: dict[str, int] = {}
    columns = []
    for field in fields:
        column = field
        while column in seen:
            seen[field] += 1
            column = f"{field}.{seen[field]}"
        seen[column] = 0
        columns.append(column)
    return columns


# -- the columnar fast path ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Parsed:
    rows: int
    seconds: np.ndarray
    entity_codes: np.ndarray
    metric_codes: np.ndarray
    values: np.ndarray


def _parse_fast(segment: bytes | memoryview, columns: list[str], builder: ColumnsBuilder) -> _Parsed | None:
    """Typed columns of a segment, or None when anything needs the cell-by-cell checker."""
    dictionary = pa.dictionary(pa.int32(), pa.string())
    for timestamp_type in _timestamp_types(segment, columns.index("timestamp")):
        try:
            table = pa_csv.read_csv(
                pa.py_buffer(segment),
                read_options=pa_csv.ReadOptions(column_names=columns, use_threads=True, block_size=ARROW_BLOCK_BYTES),
                convert_options=pa_csv.ConvertOptions(
                    include_columns=list(REQUIRED_COLUMNS),
                    column_types={"timestamp": timestamp_type, "entity": dictionary, "metric": dictionary,
                                  "value": pa.float64()},
                    null_values=list(MISSING_VALUES), strings_can_be_null=False,
                ),
            )
            break
        except (pa.ArrowException, ValueError):
            continue
    else:
        return None
    entity_codes = _codes(table.column("entity"), builder.entities, entity=True)
    metric_codes = _codes(table.column("metric"), builder.metrics, entity=False)
    seconds = _seconds(table.column("timestamp"))
    values = _values(table.column("value"))
    if entity_codes is None or metric_codes is None or seconds is None or values is None:
        return None
    return _Parsed(table.num_rows, seconds, entity_codes, metric_codes, values)


def _timestamp_types(segment: bytes | memoryview, position: int) -> list[pa.DataType]:
    """Types to try for the timestamp column, judged from the segment's first row.

    Epoch numbers, or ISO-8601 with or without a zone (naive means UTC), in whole seconds unless the first row has a
    fraction — nanoseconds are the fallback when a later row has one. Mixed numbers and text go the slow way.
    """
    head = bytes(segment[:4096])
    end = head.find(b"\n")
    if end < 0 and len(segment) > len(head):
        return []  # a first row this long is unusual: let the reference checker read it
    try:
        row = next(csv.reader([head[: end if end >= 0 else len(head)].decode("utf-8")]), [])
        cell = row[position].strip()
        float(cell)
        return [pa.float64()]
    except (UnicodeDecodeError, csv.Error, IndexError):
        return []
    except ValueError:
        pass
    clock = cell.partition("T")[2] or cell.partition(" ")[2]
    zone = "UTC" if clock.endswith(("Z", "z")) or "+" in clock or "-" in clock else None
    units = ["ns"] if "." in clock else ["s", "ns"]
    return [pa.timestamp(unit, tz=zone) for unit in units]


def _codes(column: pa.ChunkedArray, vocabulary: Vocabulary, *, entity: bool) -> np.ndarray | None:
    """Vocabulary codes per row; None when a name is blank, padded, or (entities) not ``kind:name``.

    The parser encodes each block with its own dictionary; unifying them (in C++) leaves one short list of names to
    check and map in Python, however many blocks and rows there are.
    """
    if column.num_chunks == 0:
        return np.zeros(0, dtype=np.int32)
    column = column.unify_dictionaries()
    names = column.chunk(0).dictionary.to_pylist()
    for new in (n for n in names if n not in vocabulary.index):
        if not new.strip() or new[0].isspace() or (entity and ":" not in new):
            return None
    mapping = vocabulary.codes_for(names)
    local = _join([primitive_values(chunk.indices, np.int32) for chunk in column.chunks], np.int32)
    if np.array_equal(mapping, np.arange(len(names))):
        return local  # the first names of the file: codes are already the vocabulary's
    return mapping.astype(np.int32)[local]


def _seconds(column: pa.ChunkedArray) -> np.ndarray | None:
    """Epoch seconds; None when a timestamp is missing, not finite or outside 1970..2200."""
    if column.null_count:
        return None
    if pa.types.is_timestamp(column.type):
        per_second = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": _NS_PER_S}[column.type.unit]
        ticks = _join([primitive_values(c, np.int64) for c in column.chunks], np.int64)
        if ticks.size and (ticks.min() < EARLIEST_EPOCH_S * per_second or ticks.max() >= LATEST_EPOCH_S * per_second):
            return None
        if per_second == 1:
            return ticks.astype(np.float64)
        whole, part = np.divmod(ticks, per_second)
        return whole.astype(np.float64) + part / per_second
    seconds = _join([primitive_values(c, np.float64) for c in column.chunks], np.float64)
    if seconds.size and not (np.isfinite(seconds).all() and seconds.min() >= EARLIEST_EPOCH_S
                             and seconds.max() < LATEST_EPOCH_S):
        return None
    return seconds


def _values(column: pa.ChunkedArray) -> np.ndarray | None:
    """Floats with NaN for missing samples and infinities; None when a cell spelt "not a number" oddly (``-nan``)."""
    parts = []
    for chunk in column.chunks:
        values = primitive_values(chunk, np.float64)
        finite = np.isfinite(values)
        if chunk.null_count:
            valid = validity(chunk)
            finite &= valid
        else:
            valid = None
        if not finite.all():
            nan = np.isnan(values)
            if (nan & valid).any() if valid is not None else nan.any():
                return None  # a NaN the null list did not catch: a spelling the reference checker may refuse
            values = np.where(finite, values, np.nan)  # nulls and infinities are missing samples
        parts.append(values)
    return _join(parts, np.float64)


def primitive_values(chunk: pa.Array, dtype: type) -> np.ndarray:
    """A fixed-width array's data buffer as numpy, without copying (slots of nulls hold arbitrary values).

    Why not ``Array.to_numpy``: its general path imports pandas (and pandas imports pyarrow.compute), a second or
    so of start-up that reading a clean file does not need.
    """
    itemsize = np.dtype(dtype).itemsize
    return np.frombuffer(chunk.buffers()[1], dtype=dtype, count=len(chunk), offset=chunk.offset * itemsize)


def validity(chunk: pa.Array) -> np.ndarray:
    """Which elements are not null, from the array's bitmap."""
    bitmap = chunk.buffers()[0]
    if bitmap is None:
        return np.ones(len(chunk), dtype=bool)
    bits = np.unpackbits(np.frombuffer(bitmap, dtype=np.uint8), bitorder="little")
    return bits[chunk.offset : chunk.offset + len(chunk)].astype(bool)


def _join(parts: list[np.ndarray], dtype: type) -> np.ndarray:
    if not parts:
        return np.zeros(0, dtype=dtype)
    return parts[0] if len(parts) == 1 else np.concatenate(parts)
