"""Reading a whole case directory: ``incident.json`` and ``changes.json`` here, the rest from the packages that own
them. ``truth.json`` is deliberately never opened: the analysis must not see the answer.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from detectors.case_files import load_events, parse_events, parse_metrics_rows, read_metric_columns
from detectors.exceptions import DetectorError
from detectors.roles import MetricInfo, parse_metrics_meta
from topology.case_files import (
    DEFAULT_LIMITS, CaseLimits, case_file, check_depth, load_topology, parse_item, parse_topology, read_json,
)
from topology.exceptions import CaseFormatError
from topology.models import Entity, Relation

from .models import Case, Change, Incident

if TYPE_CHECKING:
    from detectors.sources.case_telemetry import CaseTelemetry

SeriesScope = Callable[[Sequence[Entity], Sequence[Relation], Incident], Collection[str]]
"""Which entities' series an analysis will read, decided from the topology and the incident before the series are
read (``rca.series_scope``): the other series of a big case are checked but never materialised."""


def parse_incident(document: Any, file: str = "incident.json") -> Incident:
    if not isinstance(document, dict):
        raise CaseFormatError(file, "top level must be an object with 'symptom' and 'at'")
    return parse_item(Incident, document, file, "incident")


def parse_changes(document: Any, file: str = "changes.json") -> list[Change]:
    if not isinstance(document, list):
        raise CaseFormatError(file, "top level must be a list of changes")
    return [parse_item(Change, raw, file, f"[{i}]") for i, raw in enumerate(document)]


def parse_meta(document: Any, file: str = "metrics_meta.json") -> dict[str, MetricInfo]:
    """``metrics_meta.json``: the role, unit and bad direction of metrics the catalogue may not know."""
    try:
        return parse_metrics_meta(document, file)
    except DetectorError as exc:
        raise CaseFormatError(file, str(exc).removeprefix(f"{file}: ")) from exc


def check_references(case: Case, file_hint: str = "") -> None:
    """The symptom must be a known entity; a case about an entity nobody knows cannot be analysed."""
    known = {e.id for e in case.entities}
    if case.incident.symptom not in known:
        raise CaseFormatError(
            f"{file_hint}incident.json", f"symptom {case.incident.symptom!r} is not an entity of topology.json", where="symptom"
        )


def load_telemetry(directory: Path, limits: CaseLimits = DEFAULT_LIMITS) -> "CaseTelemetry | None":
    """``traces.jsonl`` and ``logs.jsonl`` when the case has them (bad lines and items are skipped and logged)."""
    traces = case_file(directory, "traces.jsonl", required=False, max_bytes=None)
    logs = case_file(directory, "logs.jsonl", required=False, max_bytes=None)
    if traces is None and logs is None:
        return None
    # imported here: a case without spans or logs never loads the trace and log stack
    from detectors.sources.case_telemetry import CaseTelemetry, read_log_lines, read_span_lines
    from detectors.sources.span_table import SpanTable

    spans, problems = read_span_lines(traces, max_line_bytes=limits.max_json_bytes) if traces else (SpanTable.empty(), [])
    records, log_problems = read_log_lines(logs, max_line_bytes=limits.max_json_bytes) if logs else ([], [])
    return CaseTelemetry(spans=spans, logs=tuple(records), problems=tuple(problems + log_problems))


def load_case(
    case_dir: str | os.PathLike[str], limits: CaseLimits = DEFAULT_LIMITS, series_scope: SeriesScope | None = None
) -> Case:
    """Read and validate a case directory (see ``docs/case-format.md``), within ``limits`` (sizes, depth, sample count).

    With ``series_scope``, ``case.series`` holds only the series of the entities it names (every sample is still
    checked, on the same time grid); without, every series of the case.
    """
    directory = Path(case_dir)
    # The samples are parsed on another thread (pyarrow releases the GIL) while this one reads the JSON files and
    # works out the scope: on a big case the two take similar time. Errors keep their order: topology, incident,
    # then metrics.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="faultline-metrics") as pool:
        samples = pool.submit(read_metric_columns, directory, limits)
        entities, relations = load_topology(directory, limits)
        incident_path = case_file(directory, "incident.json", max_bytes=limits.max_json_bytes)
        assert incident_path is not None
        incident = parse_incident(read_json(incident_path, limits), str(incident_path))
        scope = None
        if series_scope is not None and any(e.id == incident.symptom for e in entities):
            scope = set(series_scope(entities, relations, incident))
        series = samples.result().to_frame(scope)
    changes_path = case_file(directory, "changes.json", required=False, max_bytes=limits.max_json_bytes)
    changes = parse_changes(read_json(changes_path, limits), str(changes_path)) if changes_path else []
    events = load_events(directory, limits)
    meta_path = case_file(directory, "metrics_meta.json", required=False, max_bytes=limits.max_json_bytes)
    meta = parse_meta(read_json(meta_path, limits), str(meta_path)) if meta_path else {}
    telemetry = load_telemetry(directory, limits)
    if telemetry is not None:
        from detectors.sources.case_telemetry import telemetry_rows

        series = telemetry_rows(series, telemetry, at=incident.at, lookback=incident.lookback,
                                known={e.id for e in entities})
    case = Case(
        entities=tuple(entities), relations=tuple(relations), series=series, incident=incident,
        changes=tuple(changes), events=tuple(events), metrics_meta=meta, name=directory.name, telemetry=telemetry,
    )
    check_references(case, f"{directory}/")
    return case


def case_from_documents(
    topology: Any, metrics: Any, incident: Any, changes: Any = None, events: Any = None, name: str = "",
    limits: CaseLimits = DEFAULT_LIMITS,
) -> Case:
    """Build a case from JSON documents (the API receives a case inline; ``metrics`` is a list of sample objects).

    The documents were parsed by someone else (the HTTP layer), so their nesting is checked here as a file's would be.
    """
    for file, document in (("topology", topology), ("metrics", metrics), ("incident", incident), ("changes", changes),
                           ("events", events)):
        check_depth(document, file, limits.max_json_depth)
    entities, relations = parse_topology(topology)
    case = Case(
        entities=tuple(entities), relations=tuple(relations), series=parse_metrics_rows(metrics, limits=limits),
        incident=parse_incident(incident), changes=tuple(parse_changes(changes or [])),
        events=tuple(parse_events(events or [])), name=name,
    )
    check_references(case)
    return case
