"""Reading ``metrics.csv`` and ``events.json`` of a case directory.

``metrics.csv`` can be large, so it is parsed column-wise with pandas and checked vectorised; the first bad row is
reported with its line number (the header is line 1).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from topology.case_files import case_file, parse_item, read_json
from topology.exceptions import CaseFormatError

from .frame import frame_from_samples
from .models import Event, SeriesFrame

REQUIRED_COLUMNS = ("timestamp", "entity", "metric", "value")
_MISSING = {"", "nan", "NaN", "NAN", "null", "NULL", "None"}


def _epoch_seconds(raw: pd.Series) -> np.ndarray:
    """ISO-8601 or epoch seconds per cell (mixed is fine); NaN where unparseable."""
    numeric = pd.to_numeric(raw, errors="coerce")
    result = numeric.to_numpy(dtype=float, na_value=np.nan).copy()
    textual = numeric.isna().to_numpy()
    if textual.any():
        parsed = pd.to_datetime(raw[textual], errors="coerce", utc=True, format="ISO8601")
        seconds = (parsed - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
        result[textual] = seconds.to_numpy(dtype=float, na_value=np.nan)
    return result


def parse_metrics_csv(path: Path) -> SeriesFrame:
    name = str(path)
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except pd.errors.EmptyDataError as exc:
        raise CaseFormatError(name, "file is empty (a header 'timestamp,entity,metric,value' is required)") from exc
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise CaseFormatError(name, f"not a readable CSV: {str(exc).splitlines()[0]}") from exc
    return parse_metrics_table(table, name)


def parse_metrics_rows(rows: object, name: str = "metrics") -> SeriesFrame:
    """Samples sent as JSON objects ``{timestamp, entity, metric, value}`` (the API's inline case)."""
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise CaseFormatError(name, "must be a list of {timestamp, entity, metric, value} objects")
    table = pd.DataFrame.from_records(rows, columns=list(REQUIRED_COLUMNS)).fillna("").astype(str)
    return parse_metrics_table(table, name)


def parse_metrics_table(table: pd.DataFrame, name: str) -> SeriesFrame:
    """Validate a string-typed table of samples; errors name the 1-based line (header = line 1)."""
    missing = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        raise CaseFormatError(name, f"missing column(s) {', '.join(missing)}; header must be {','.join(REQUIRED_COLUMNS)}", where="line 1")
    if table.empty:
        return SeriesFrame.empty()

    def line(mask: np.ndarray) -> str:
        return f"line {int(np.flatnonzero(mask)[0]) + 2}"

    for column in ("entity", "metric"):
        blank = (table[column].str.strip() == "").to_numpy()
        if blank.any():
            raise CaseFormatError(name, f"empty {column}", where=line(blank))
    bad_entity = ~table["entity"].str.contains(":", regex=False).to_numpy()
    if bad_entity.any():
        raise CaseFormatError(name, f"entity {table['entity'].iloc[np.flatnonzero(bad_entity)[0]]!r} is not 'kind:name'", where=line(bad_entity))
    seconds = _epoch_seconds(table["timestamp"])
    bad_time = ~np.isfinite(seconds)
    if bad_time.any():
        raise CaseFormatError(
            name, f"unparseable timestamp {table['timestamp'].iloc[np.flatnonzero(bad_time)[0]]!r}", where=line(bad_time)
        )
    raw_values = table["value"].str.strip()
    values = pd.to_numeric(raw_values, errors="coerce").to_numpy(dtype=float, na_value=np.nan).copy()
    not_numeric = np.isnan(values) & ~raw_values.isin(_MISSING).to_numpy()
    if not_numeric.any():
        raise CaseFormatError(name, f"non-numeric value {raw_values.iloc[np.flatnonzero(not_numeric)[0]]!r}", where=line(not_numeric))
    values[~np.isfinite(values)] = np.nan  # inf is not a measurement either
    return frame_from_samples(seconds, table["entity"].to_numpy(), table["metric"].to_numpy(), values)


def load_metrics(case_dir: str | os.PathLike[str]) -> SeriesFrame:
    path = case_file(case_dir, "metrics.csv")
    assert path is not None
    return parse_metrics_csv(path)


def parse_events(document: object, file: str = "events.json") -> list[Event]:
    if not isinstance(document, list):
        raise CaseFormatError(file, "top level must be a list of events")
    return [parse_item(Event, raw, file, f"[{i}]") for i, raw in enumerate(document)]


def load_events(case_dir: str | os.PathLike[str]) -> list[Event]:
    path = case_file(case_dir, "events.json", required=False)
    return [] if path is None else parse_events(read_json(path), str(path))
