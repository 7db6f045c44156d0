"""Reading ``metrics.csv`` and ``events.json`` of a case directory.

``metrics.csv`` can be large, so it is streamed: pandas parses it in chunks of rows, each chunk is checked vectorised
and reduced to numbers (epoch seconds, values, integer codes for entity and metric), and reading stops with a
``CaseFormatError`` naming the limit as soon as the file has more than ``CaseLimits.max_metric_rows`` samples or a
line longer than ``CaseLimits.max_line_bytes``. Memory therefore grows with the accepted samples, never with the
file. The first bad row is reported with its line number (the header is line 1; blank lines are not counted).
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd

from topology.case_files import DEFAULT_LIMITS, CaseLimits, case_file, parse_item, read_json
from topology.exceptions import CaseFormatError
from topology.timeutil import EARLIEST_EPOCH_S, LATEST_EPOCH_S, parse_time

from .frame import frame_from_samples
from .models import Event, SeriesFrame

REQUIRED_COLUMNS = ("timestamp", "entity", "metric", "value")
CHUNK_ROWS = 200_000
"""Rows parsed at a time: big enough for pandas to be fast, small enough that one chunk's strings stay ~50 MB."""
_MISSING = {"", "nan", "NaN", "NAN", "null", "NULL", "None"}


def _clip(text: object, limit: int = 60) -> str:
    """``repr`` of an offending cell, cut short: an error message must not carry a megabyte of hostile input."""
    text = str(text)
    return repr(text if len(text) <= limit else text[:limit] + "…")


class _BoundedLines(io.RawIOBase):
    """A binary reader that refuses a line longer than ``max_line_bytes``.

    Why: the CSV parser buffers a line whole before it can split it, so one endless line (or a file with no newline
    at all) would be read into memory however small the row cap is.
    """

    def __init__(self, raw: BinaryIO, name: str, max_line_bytes: int) -> None:
        self._raw = raw
        self._name = name
        self._max = max_line_bytes
        self._run = 0  # bytes since the last newline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self._raw.read(len(buffer))
        if not data:
            return 0
        n = len(data)
        buffer[:n] = data
        first = data.find(b"\n")
        if first < 0:
            self._run += n
        else:
            if self._run + first > self._max:
                self._too_long()
            self._run = n - data.rfind(b"\n") - 1
        if self._run > self._max:
            self._too_long()
        return n

    def _too_long(self) -> None:
        raise CaseFormatError(self._name, f"a line is longer than {self._max} bytes (max_line_bytes); refused")


class _Vocabulary:
    """Entity or metric names seen so far, as stable integer codes: chunks keep codes, not millions of strings."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}

    def codes(self, column: pd.Series) -> np.ndarray:
        local, uniques = pd.factorize(column)
        mapping = np.fromiter((self.index.setdefault(str(u), len(self.index)) for u in uniques), dtype=np.int64,
                              count=len(uniques))
        return mapping[local]

    def names(self) -> np.ndarray:
        return np.array(list(self.index), dtype=object)


def _epoch_seconds(raw: pd.Series, name: str, first_line: int) -> np.ndarray:
    """ISO-8601 or epoch seconds per cell (mixed is fine); NaN where unparseable."""
    numeric = pd.to_numeric(raw, errors="coerce")
    result = numeric.to_numpy(dtype=float, na_value=np.nan).copy()
    textual = numeric.isna().to_numpy()
    if textual.any():
        try:
            parsed = pd.to_datetime(raw[textual], errors="coerce", utc=True, format="ISO8601")
            seconds = (parsed - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
        except (pd.errors.OutOfBoundsDatetime, OverflowError, ValueError):
            # pandas refuses the whole column when one cell is beyond its range: find that cell for the message.
            for offset in np.flatnonzero(textual):
                try:
                    parse_time(str(raw.iloc[offset]))
                except ValueError as exc:
                    raise CaseFormatError(name, str(exc), where=f"line {first_line + int(offset)}") from None
            raise CaseFormatError(name, "a timestamp is outside 1970-01-01..2200-01-01") from None
        result[textual] = seconds.to_numpy(dtype=float, na_value=np.nan)
    return result


def _check_samples(table: pd.DataFrame, name: str, first_line: int) -> tuple[np.ndarray, np.ndarray]:
    """Validate a string-typed chunk of samples; returns (epoch seconds, values). ``first_line`` is its first row's line."""

    def line(mask: np.ndarray) -> str:
        return f"line {int(np.flatnonzero(mask)[0]) + first_line}"

    def first(column: str, mask: np.ndarray) -> str:
        return _clip(table[column].iloc[np.flatnonzero(mask)[0]])

    for column in ("entity", "metric"):
        blank = (table[column].str.strip() == "").to_numpy()
        if blank.any():
            raise CaseFormatError(name, f"empty {column}", where=line(blank))
    bad_entity = ~table["entity"].str.contains(":", regex=False).to_numpy(dtype=bool)
    if bad_entity.any():
        raise CaseFormatError(name, f"entity {first('entity', bad_entity)} is not 'kind:name'", where=line(bad_entity))
    seconds = _epoch_seconds(table["timestamp"], name, first_line)
    bad_time = ~np.isfinite(seconds)
    if bad_time.any():
        raise CaseFormatError(name, f"unparseable timestamp {first('timestamp', bad_time)}", where=line(bad_time))
    out_of_range = (seconds < EARLIEST_EPOCH_S) | (seconds >= LATEST_EPOCH_S)
    if out_of_range.any():
        raise CaseFormatError(
            name, f"timestamp {first('timestamp', out_of_range)} is outside 1970-01-01..2200-01-01", where=line(out_of_range)
        )
    raw_values = table["value"].str.strip()
    values = pd.to_numeric(raw_values, errors="coerce").to_numpy(dtype=float, na_value=np.nan).copy()
    not_numeric = np.isnan(values) & ~raw_values.isin(_MISSING).to_numpy(dtype=bool)
    if not_numeric.any():
        raise CaseFormatError(name, f"non-numeric value {first('value', not_numeric)}", where=line(not_numeric))
    values[~np.isfinite(values)] = np.nan  # inf is not a measurement either
    return seconds, values


def _check_header(columns: Iterable[object], name: str) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in set(columns)]
    if missing:
        raise CaseFormatError(
            name, f"missing column(s) {', '.join(missing)}; header must be {','.join(REQUIRED_COLUMNS)}", where="line 1"
        )


def _too_many_rows(name: str, limits: CaseLimits) -> CaseFormatError:
    return CaseFormatError(
        name, f"more than {limits.max_metric_rows} samples (max_metric_rows); refused — raise the limit or cut the export",
        where=f"line {limits.max_metric_rows + 2}",
    )


def _frame_from_chunks(chunks: Iterable[pd.DataFrame], name: str, limits: CaseLimits) -> SeriesFrame:
    """Check every chunk, keep only numbers and codes, stop past the row cap, then build the frame once."""
    entities, metrics = _Vocabulary(), _Vocabulary()
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    rows = 0
    for chunk in chunks:
        _check_header(chunk.columns, name)
        if rows + len(chunk) > limits.max_metric_rows:
            raise _too_many_rows(name, limits)
        if chunk.empty:
            continue
        seconds, values = _check_samples(chunk, name, first_line=rows + 2)
        parts.append((seconds, entities.codes(chunk["entity"]), metrics.codes(chunk["metric"]), values))
        rows += len(chunk)
    if not parts:
        return SeriesFrame.empty()
    seconds, entity_codes, metric_codes, values = (np.concatenate(column) for column in zip(*parts))
    return frame_from_samples(seconds, entities.names()[entity_codes], metrics.names()[metric_codes], values)


def parse_metrics_stream(handle: BinaryIO, name: str = "metrics.csv", limits: CaseLimits = DEFAULT_LIMITS) -> SeriesFrame:
    """Stream long-format samples from a binary file object, bounded by ``limits`` (see the module docstring)."""
    bounded = io.BufferedReader(_BoundedLines(handle, name, limits.max_line_bytes), buffer_size=64 * 1024)
    try:
        reader = pd.read_csv(
            bounded, dtype=str, keep_default_na=False, skipinitialspace=True, encoding="utf-8",
            chunksize=max(1, min(CHUNK_ROWS, limits.max_metric_rows + 1)),
        )
        with reader:
            return _frame_from_chunks(reader, name, limits)
    except pd.errors.EmptyDataError as exc:
        raise CaseFormatError(name, "file is empty (a header 'timestamp,entity,metric,value' is required)") from exc
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise CaseFormatError(name, f"not a readable CSV: {_clip(str(exc).splitlines()[0] if str(exc) else exc, 200)}") from exc


def parse_metrics_csv(path: Path, limits: CaseLimits = DEFAULT_LIMITS) -> SeriesFrame:
    """Read ``metrics.csv`` (streamed and bounded; see the module docstring)."""
    try:
        with open(path, "rb") as handle:
            return parse_metrics_stream(handle, str(path), limits)
    except OSError as exc:
        raise CaseFormatError(str(path), f"cannot be read ({exc.strerror or exc.__class__.__name__})") from exc


def parse_metrics_rows(rows: object, name: str = "metrics", limits: CaseLimits = DEFAULT_LIMITS) -> SeriesFrame:
    """Samples sent as JSON objects ``{timestamp, entity, metric, value}`` (the API's inline case)."""
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise CaseFormatError(name, "must be a list of {timestamp, entity, metric, value} objects")
    if len(rows) > limits.max_metric_rows:
        raise CaseFormatError(name, f"more than {limits.max_metric_rows} samples (max_metric_rows); refused")
    for index, row in enumerate(rows):
        bad = next((k for k in REQUIRED_COLUMNS if isinstance(row.get(k), (dict, list))), None)
        if bad is not None:
            raise CaseFormatError(name, f"{bad} must be a string or a number, not a nested object", where=f"[{index}].{bad}")
    table = pd.DataFrame.from_records(rows, columns=list(REQUIRED_COLUMNS)).fillna("").astype(str)
    return parse_metrics_table(table, name)


def parse_metrics_table(table: pd.DataFrame, name: str) -> SeriesFrame:
    """Validate a string-typed table of samples; errors name the 1-based line (header = line 1)."""
    _check_header(table.columns, name)
    if table.empty:
        return SeriesFrame.empty()
    seconds, values = _check_samples(table, name, first_line=2)
    return frame_from_samples(seconds, table["entity"].to_numpy(), table["metric"].to_numpy(), values)


def load_metrics(case_dir: str | os.PathLike[str], limits: CaseLimits = DEFAULT_LIMITS) -> SeriesFrame:
    path = case_file(case_dir, "metrics.csv", max_bytes=limits.max_csv_bytes)
    assert path is not None
    return parse_metrics_csv(path, limits)


def parse_events(document: object, file: str = "events.json") -> list[Event]:
    if not isinstance(document, list):
        raise CaseFormatError(file, "top level must be a list of events")
    return [parse_item(Event, raw, file, f"[{i}]") for i, raw in enumerate(document)]


def load_events(case_dir: str | os.PathLike[str], limits: CaseLimits = DEFAULT_LIMITS) -> list[Event]:
    path = case_file(case_dir, "events.json", required=False, max_bytes=limits.max_json_bytes)
    return [] if path is None else parse_events(read_json(path, limits), str(path))

