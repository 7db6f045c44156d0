"""The cell-by-cell reference checker of metric samples, on string tables, with pandas.

It serves two callers: samples sent inline as JSON (``parse_metrics_rows``), and the columnar CSV reader
(``metrics_csv``) when its fast path meets anything unusual — a bad cell, mixed timestamp formats, padding blanks.
Its messages name the first bad line; the fast path never accepts what this checker refuses. pandas is imported
only when this module is: a clean ``metrics.csv`` is read without it.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from topology.case_files import CaseLimits
from topology.exceptions import CaseFormatError
from topology.timeutil import EARLIEST_EPOCH_S, LATEST_EPOCH_S, parse_time

from .metrics_rules import MISSING_VALUES, check_header, clip, too_many_rows
from .sample_columns import ColumnsBuilder

CHUNK_ROWS = 200_000
"""Rows checked at a time: big enough for pandas to be fast, small enough that one chunk's strings stay ~50 MB."""
_MISSING = set(MISSING_VALUES)


def epoch_seconds(raw: pd.Series, name: str, first_line: int) -> np.ndarray:
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


def check_samples(table: pd.DataFrame, name: str, first_line: int) -> tuple[np.ndarray, np.ndarray]:
    """Validate a string-typed chunk of samples; returns (epoch seconds, values). ``first_line`` is its first row's line."""

    def line(mask: np.ndarray) -> str:
        return f"line {int(np.flatnonzero(mask)[0]) + first_line}"

    def first(column: str, mask: np.ndarray) -> str:
        return clip(table[column].iloc[np.flatnonzero(mask)[0]])

    for column in ("entity", "metric"):
        blank = (table[column].str.strip() == "").to_numpy()
        if blank.any():
            raise CaseFormatError(name, f"empty {column}", where=line(blank))
    bad_entity = ~table["entity"].str.contains(":", regex=False).to_numpy(dtype=bool)
    if bad_entity.any():
        raise CaseFormatError(name, f"entity {first('entity', bad_entity)} is not 'kind:name'", where=line(bad_entity))
    seconds = epoch_seconds(table["timestamp"], name, first_line)
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


def add_checked_table(builder: ColumnsBuilder, table: pd.DataFrame, name: str, first_line: int) -> None:
    """Check a string table of samples and add it to ``builder``."""
    seconds, values = check_samples(table, name, first_line)
    entity_local, entity_names = pd.factorize(table["entity"])
    metric_local, metric_names = pd.factorize(table["metric"])
    builder.add(seconds, builder.entities.codes_for(map(str, entity_names))[entity_local],
                builder.metrics.codes_for(map(str, metric_names))[metric_local], values)


def add_csv_segment(
    builder: ColumnsBuilder, header: bytes, segment: bytes, name: str, rows_before: int, limits: CaseLimits
) -> int:
    """Parse and check one segment of ``metrics.csv`` (whole lines) cell by cell; returns its row count.

    ``header`` is the file's own header line, so pandas reads the segment exactly as it would read the file there.
    Rows are counted against ``limits.max_metric_rows`` before they are checked, as the file is read.
    """
    rows = 0
    try:
        reader = pd.read_csv(
            io.BytesIO(header + b"\n" + segment), dtype=str, keep_default_na=False, skipinitialspace=True,
            encoding="utf-8", chunksize=max(1, min(CHUNK_ROWS, limits.max_metric_rows + 1)),
        )
        with reader:
            for chunk in reader:
                check_header(chunk.columns, name)
                if rows_before + rows + len(chunk) > limits.max_metric_rows:
                    raise too_many_rows(name, limits)
                if len(chunk):
                    add_checked_table(builder, chunk, name, first_line=rows_before + rows + 2)
                rows += len(chunk)
    except pd.errors.EmptyDataError as exc:
        raise CaseFormatError(name, "file is empty (a header 'timestamp,entity,metric,value' is required)") from exc
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise CaseFormatError(name, f"not a readable CSV: {clip(str(exc).splitlines()[0] if str(exc) else exc, 200)}") from exc
    return rows
