"""A case with ``traces.jsonl`` and ``logs.jsonl`` (one OTLP/JSON export request a line, as the SDK's exporter posts
and the Collector's file exporter writes): the trace and log evidence become series rows with roles, the
anomalies on them carry exemplar trace ids and the log template with example lines, and the ranker puts the
failing service first."""

from __future__ import annotations

import json
import time

import pytest

from correlators.case_files import load_case
from rca.pipeline import analyze
from tests.telemetry_case import MINUTES, write_telemetry_case


@pytest.fixture
def case_dir(tmp_path, otlp_receiver):
    return write_telemetry_case(tmp_path / "case", otlp_receiver)


def test_trace_and_log_evidence_reach_the_ranking(case_dir):
    started = time.perf_counter()
    case = load_case(case_dir)
    assert time.perf_counter() - started < 30
    assert case.telemetry is not None and len(case.telemetry.spans) == MINUTES * 6 * 4
    metrics = {k.metric for k in case.series.keys}
    assert {"trace_error_rate", "trace_error_rate[cart]", "trace_self_p50_s", "log_new_templates_per_s",
            "log_errors_per_s"} <= metrics
    assert case.series.fine is not None and case.series.fine.step_s == 10.0
    analysis = analyze(case)
    assert analysis.candidates[0].entity == "app:cart"
    evidence = [e for c in analysis.candidates for e in c.evidence if e.entity == "app:cart"]
    traced = [e for e in evidence if e.traces]
    assert traced and all(len(t) == 32 for e in traced for t in e.traces)
    assert any(t in e.summary for e in traced for t in e.traces)
    logged = [e for e in evidence if e.template]
    assert logged and logged[0].template.startswith("connection to postgres")
    assert logged[0].log_lines and "refused" in logged[0].log_lines[0]


def test_without_telemetry_files_nothing_changes(case_dir):
    (case_dir / "traces.jsonl").unlink()
    (case_dir / "logs.jsonl").unlink()
    case = load_case(case_dir)
    assert case.telemetry is None and {k.metric for k in case.series.keys} == {"cpu_usage"}


def test_bad_lines_are_skipped_and_reported(case_dir):
    with open(case_dir / "logs.jsonl", "a", encoding="utf-8") as handle:
        handle.write("{not json\n")
        handle.write(json.dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": [{"body": {"stringValue": "x"}}]}]}]}) + "\n")
    case = load_case(case_dir)
    reasons = [str(p) for p in case.telemetry.problems]
    assert any("not JSON" in r for r in reasons) and any("neither timeUnixNano" in r for r in reasons)
