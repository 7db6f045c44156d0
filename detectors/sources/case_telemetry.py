"""A case's ``traces.jsonl`` and ``logs.jsonl``: read them, and turn them into series rows beside the metrics.

Both files hold one OTLP/JSON export request a line (``ExportTraceServiceRequest`` / ``ExportLogsServiceRequest``),
as the OpenTelemetry Collector's ``file`` exporter writes them. They are streamed a line at a time (a line over
``CaseLimits.max_json_bytes`` or that is not a document is skipped with a ``SourceProblem``), and spans go straight
into columns (``SpanTable``), so a window of hundreds of thousands of spans costs tens of megabytes, not gigabytes.

``telemetry_rows`` computes the trace evidence (``trace_series``) and the log evidence (``log_series``) on the
metric frame's own grid and merges them into it (``merge_rows``), with their notes (exemplar trace ids, templates,
example lines), so the detectors and the ranker read them as more series.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Container, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from topology.otlp import parse_export_lines, parse_otlp_json
from topology.exceptions import TraceFormatError
from topology.problems import SourceProblem, report

from ..exceptions import LogFormatError
from ..frame import frame_from_samples
from ..models import SeriesFrame, SeriesKey
from .otlp_logs import LogRecord, parse_logs_json
from .span_table import SpanTable
from .trace_series import TelemetrySeries, trace_series

log = logging.getLogger(__name__)

__all__ = ["CaseTelemetry", "merge_rows", "read_log_lines", "read_span_lines", "telemetry_rows"]

DEFAULT_STEP_S = 60.0
FINE_FROM_S = 60.0
FINE_DIVISOR = 6
"""On a grid of a minute or more, the trace and log evidence is also bucketed six times finer (``SeriesFrame.fine``):
spans and logs kept only for the few minutes around a fault give two or three one-minute samples, too few to test,
but a dozen or more ten-second ones (``detectors.sparse`` scores a row without baseline on them)."""


@dataclass(frozen=True)
class CaseTelemetry:
    """What a case's telemetry files held: spans as columns, log records, and what was skipped."""

    spans: SpanTable
    logs: tuple[LogRecord, ...] = ()
    problems: tuple[SourceProblem, ...] = ()

    @property
    def empty(self) -> bool:
        return not len(self.spans) and not self.logs


def _lines(path: Path, max_line_bytes: int, problems: list[SourceProblem]) -> Iterator[tuple[int, bytes]]:
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if len(line) > max_line_bytes:
                problems.append(report(log, SourceProblem(
                    source="case", where=f"{path}:{number}", reason=f"line longer than {max_line_bytes} bytes; skipped")))
                continue
            if line.strip():
                yield number, line


def read_span_lines(path: str | Path, *, max_line_bytes: int = 64 * 1024 * 1024) -> tuple[SpanTable, list[SourceProblem]]:
    """``traces.jsonl`` → a ``SpanTable`` (one export request a line; bad lines and bad spans skipped, reported)."""
    path = Path(path)
    problems: list[SourceProblem] = []
    tables = [SpanTable.from_spans(parsed.spans) for parsed in parse_export_lines(
        _lines(path, max_line_bytes, problems), parse_otlp_json, TraceFormatError, where=path, source="otlp",
        problems=problems)]
    return SpanTable.concat(tables), problems


def read_log_lines(path: str | Path, *, max_line_bytes: int = 64 * 1024 * 1024) -> tuple[list[LogRecord], list[SourceProblem]]:
    """``logs.jsonl`` → log records (one export request a line; bad lines and bad records skipped, reported)."""
    path = Path(path)
    problems: list[SourceProblem] = []
    records = [record for parsed in parse_export_lines(_lines(path, max_line_bytes, problems), parse_logs_json,
                                                       LogFormatError, where=path, source="otlp-logs",
                                                       problems=problems)
               for record in parsed.records]
    return records, problems


def grid_of(frame: SeriesFrame, first_s: float | None = None) -> tuple[float, float]:
    """(start, step) of the grid telemetry rows go on: the metric frame's, else minutes from the first sample."""
    if len(frame.times):
        return float(frame.times[0]), frame.step_s
    start = math.floor((first_s or 0.0) / DEFAULT_STEP_S) * DEFAULT_STEP_S
    return start, DEFAULT_STEP_S


def merge_rows(frame: SeriesFrame, extra: TelemetrySeries, step_s: float | None = None) -> SeriesFrame:
    """``frame`` plus the rows of ``extra`` (samples already on ``frame``'s grid), the grid extended if they reach
    past it; a series ``frame`` already holds keeps its own samples. An empty ``frame`` becomes a grid of ``step_s``
    (default: a minute)."""
    samples = extra.samples
    if not len(samples):
        return frame
    if not frame.keys:
        built = frame_from_samples(samples.times, samples.entities, samples.metrics, samples.values,
                                   step_s=step_s or grid_of(frame, float(np.min(samples.times)))[1])
        return replace(built, notes=dict(extra.notes))
    start, step = float(frame.times[0]), frame.step_s
    lo = min(start, float(np.min(samples.times)))
    lo = start - math.ceil((start - lo) / step - 1e-9) * step
    hi = max(float(frame.times[-1]), float(np.max(samples.times)))
    n_times = int(round((hi - lo) / step)) + 1
    offset = int(round((start - lo) / step))
    known = set(frame.keys)
    new = [(e, m) for e, m in dict.fromkeys(zip(samples.entities.tolist(), samples.metrics.tolist()))
           if SeriesKey(e, m) not in known]
    code = {key: i for i, key in enumerate(new)}
    rows = np.array([code.get((e, m), -1) for e, m in zip(samples.entities.tolist(), samples.metrics.tolist())])
    slot = np.rint((samples.times - lo) / step).astype(np.int64)
    keep = (rows >= 0) & np.isfinite(samples.values) & (slot >= 0) & (slot < n_times)
    flat = rows[keep] * n_times + slot[keep]
    sums = np.bincount(flat, weights=samples.values[keep], minlength=len(new) * n_times)
    counts = np.bincount(flat, minlength=len(new) * n_times)
    with np.errstate(invalid="ignore", divide="ignore"):
        added = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan).reshape(len(new), n_times)
    values = np.full((len(frame.keys) + len(new), n_times), np.nan)
    values[: len(frame.keys), offset:offset + len(frame.times)] = frame.values
    values[len(frame.keys):] = added
    notes = dict(frame.notes)
    notes.update({k: v for k, v in extra.notes.items() if k not in known})
    keys = frame.keys + tuple(SeriesKey(e, m) for e, m in new)
    return SeriesFrame(keys, lo + step * np.arange(n_times), values, notes=notes)


def telemetry_rows(frame: SeriesFrame, telemetry: CaseTelemetry, *, at: datetime, lookback: timedelta,
                   known: Container[str] | None = None) -> SeriesFrame:
    """``frame`` with the trace and log evidence of ``telemetry`` as more rows (nothing after ``at`` is used)."""
    if telemetry.empty:
        return frame
    until_ns = int(at.timestamp() * 1e9)
    first = [float(telemetry.spans.end.min()) / 1e9] if len(telemetry.spans) else []
    first += [min(r.time_ns for r in telemetry.logs) / 1e9] if telemetry.logs else []
    start, step = grid_of(frame, min(first) if first else None)

    def evidence(step_s: float, tails: bool = True) -> TelemetrySeries:
        parts = [trace_series(telemetry.spans, grid_start_s=start, step_s=step_s, until_ns=until_ns, tails=tails)]
        if telemetry.logs:
            from .log_series import log_series

            parts.append(log_series(telemetry.logs, grid_start_s=start, step_s=step_s, until_ns=until_ns,
                                    baseline_end_s=(at - lookback).timestamp(), known=known))
        return TelemetrySeries.concat(parts)

    merged = merge_rows(frame, evidence(step))
    if step >= FINE_FROM_S:
        fine = evidence(step / FINE_DIVISOR, tails=False)
        if len(fine.samples):
            merged = replace(merged, fine=merge_rows(SeriesFrame.empty(), TelemetrySeries(fine.samples, {}),
                                                     step_s=step / FINE_DIVISOR))
    return merged


def dump_line(document: dict) -> str:
    """One export request as a JSON Lines line (what converters write)."""
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False) + "\n"
