"""What a valid metric sample is, shared by every metrics reader (CSV, Parquet, inline JSON rows).

A sample is ``timestamp, entity, metric, value``: the timestamp ISO-8601 or epoch seconds within 1970..2200, the
entity a non-blank ``kind:name``, the metric a non-blank name, the value a number, or empty / ``NaN`` / ``null`` for
a missing sample (infinities are missing samples too). The readers differ in how fast they check this, never in
what they accept: the CSV reader's columnar fast path hands anything unusual to the cell-by-cell checker
(``metrics_pandas``), whose messages are the reference.
"""

from __future__ import annotations

from collections.abc import Iterable

from topology.case_files import CaseLimits
from topology.exceptions import CaseFormatError

REQUIRED_COLUMNS = ("timestamp", "entity", "metric", "value")
MISSING_VALUES = ("", "nan", "NaN", "NAN", "null", "NULL", "None")
"""Cells that mean "no sample" (after stripping blanks); any other text that is not a number is an error."""


def clip(text: object, limit: int = 60) -> str:
    """``repr`` of an offending cell, cut short: an error message must not carry a megabyte of hostile input."""
    text = str(text)
    return repr(text if len(text) <= limit else text[:limit] + "…")


def check_header(columns: Iterable[object], name: str) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in set(columns)]
    if missing:
        raise CaseFormatError(
            name, f"missing column(s) {', '.join(missing)}; header must be {','.join(REQUIRED_COLUMNS)}", where="line 1"
        )


def too_many_rows(name: str, limits: CaseLimits) -> CaseFormatError:
    return CaseFormatError(
        name, f"more than {limits.max_metric_rows} samples (max_metric_rows); refused — raise the limit or cut the export",
        where=f"line {limits.max_metric_rows + 2}",
    )
