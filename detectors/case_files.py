"""Reading the series (``metrics.csv`` or ``metrics.parquet``) and ``events.json`` of a case directory.

``metrics.csv`` can be large: it is read in bounded segments by pyarrow's multi-threaded CSV reader into coded
columns (``metrics_csv``), checked with numpy, and only then pivoted to a ``SeriesFrame``. Reading stops with a
``CaseFormatError`` naming the limit as soon as the file has more than ``CaseLimits.max_metric_rows`` samples or a
line longer than ``CaseLimits.max_line_bytes``; the first bad row is reported with its line number (the header is
line 1; blank lines are not counted). ``metrics.parquet`` holds the same columns, already typed (``metrics_parquet``).

``entities`` (optional) names the entities whose series the caller will read — an analysis reads only the
symptom's neighbourhood. Every sample is still checked and the time grid still spans every sample, so the frame is
exactly the full frame's ``for_entities(entities)``; only the other series are never materialised.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from topology.case_files import DEFAULT_LIMITS, CaseLimits, case_file, parse_item, read_json
from topology.exceptions import CaseFormatError

from .metrics_csv import read_csv_columns
from .metrics_rules import REQUIRED_COLUMNS, check_header
from .models import Event, SeriesFrame
from .sample_columns import SampleColumns

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)
METRICS_CSV = "metrics.csv"
METRICS_PARQUET = "metrics.parquet"


def parse_metrics_stream(handle: BinaryIO, name: str = METRICS_CSV, limits: CaseLimits = DEFAULT_LIMITS,
                         entities: Collection[str] | None = None) -> SeriesFrame:
    """Read long-format samples from a binary file object, bounded by ``limits`` (see the module docstring)."""
    return read_csv_columns(handle, name, limits).to_frame(entities)


def read_metrics_csv(path: Path, limits: CaseLimits = DEFAULT_LIMITS) -> SampleColumns:
    """Every sample of a ``metrics.csv`` file, checked and coded, not yet on a grid."""
    try:
        with open(path, "rb") as handle:
            return read_csv_columns(handle, str(path), limits)
    except OSError as exc:
        raise CaseFormatError(str(path), f"cannot be read ({exc.strerror or exc.__class__.__name__})") from exc


def parse_metrics_csv(path: Path, limits: CaseLimits = DEFAULT_LIMITS,
                      entities: Collection[str] | None = None) -> SeriesFrame:
    """Read ``metrics.csv`` (bounded; see the module docstring)."""
    return read_metrics_csv(path, limits).to_frame(entities)


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
    import pandas as pd

    table = pd.DataFrame.from_records(rows, columns=list(REQUIRED_COLUMNS)).fillna("").astype(str)
    return parse_metrics_table(table, name)


def parse_metrics_table(table: "pd.DataFrame", name: str) -> SeriesFrame:
    """Validate a string-typed table of samples; errors name the 1-based line (header = line 1)."""
    from .metrics_pandas import add_checked_table
    from .sample_columns import ColumnsBuilder

    check_header(table.columns, name)
    builder = ColumnsBuilder()
    if len(table):
        add_checked_table(builder, table, name, first_line=2)
    return builder.build().to_frame()


def metrics_source(case_dir: str | os.PathLike[str], limits: CaseLimits = DEFAULT_LIMITS) -> Path:
    """Which file holds the case's samples: ``metrics.parquet`` when it is the current copy, else ``metrics.csv``.

    Why the check: ``faultline case convert`` leaves the CSV in place, and a CSV edited or re-exported afterwards
    must not be shadowed by a stale Parquet copy. The Parquet file is used instead of a CSV beside it only when it
    records that it was converted from that very file (same size and modification time); otherwise the CSV is read
    and a warning says to convert again.
    """
    parquet = case_file(case_dir, METRICS_PARQUET, required=False, max_bytes=limits.max_csv_bytes)
    csv_path = case_file(case_dir, METRICS_CSV, required=parquet is None, max_bytes=limits.max_csv_bytes)
    if parquet is None:
        assert csv_path is not None
        return csv_path
    if csv_path is None:
        return parquet
    from .metrics_parquet import converted_from, source_stamp

    if converted_from(parquet) == source_stamp(csv_path):
        return parquet
    log.warning("%s is not a conversion of the %s beside it (changed since?); reading %s — run "
                "'faultline case convert %s' to refresh it", parquet, METRICS_CSV, METRICS_CSV, case_dir)
    return csv_path


def read_metric_columns(case_dir: str | os.PathLike[str], limits: CaseLimits = DEFAULT_LIMITS) -> SampleColumns:
    """Every sample of the case (``metrics_source``), checked and coded, not yet on a grid."""
    path = metrics_source(case_dir, limits)
    if path.name == METRICS_PARQUET:
        from .metrics_parquet import read_parquet_columns

        return read_parquet_columns(path, str(path), limits)
    return read_metrics_csv(path, limits)


def load_metrics(case_dir: str | os.PathLike[str], limits: CaseLimits = DEFAULT_LIMITS,
                 entities: Collection[str] | None = None) -> SeriesFrame:
    """The case's series on one grid; with ``entities``, only theirs are materialised (see the module docstring)."""
    return read_metric_columns(case_dir, limits).to_frame(entities)


def parse_events(document: object, file: str = "events.json") -> list[Event]:
    if not isinstance(document, list):
        raise CaseFormatError(file, "top level must be a list of events")
    return [parse_item(Event, raw, file, f"[{i}]") for i, raw in enumerate(document)]


def load_events(case_dir: str | os.PathLike[str], limits: CaseLimits = DEFAULT_LIMITS) -> list[Event]:
    path = case_file(case_dir, "events.json", required=False, max_bytes=limits.max_json_bytes)
    return [] if path is None else parse_events(read_json(path, limits), str(path))

