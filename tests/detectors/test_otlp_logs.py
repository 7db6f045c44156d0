"""OTLP log records from the SDK's own encoders, protobuf and JSON, into ``LogRecord``; bad records skipped."""

from __future__ import annotations

import json
import logging

import pytest
from opentelemetry.exporter.otlp.json.common._log_encoder import encode_logs as encode_json
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs as encode_protobuf
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource

from detectors.exceptions import LogFormatError
from detectors.sources.otlp_logs import level_of, parse_logs_json, parse_logs_protobuf, read_logs_file


@pytest.fixture(scope="module")
def sdk_logs():
    import warnings

    from opentelemetry.sdk._logs import LoggingHandler

    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider(resource=Resource.create({"service.name": "checkout"}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = logging.getLogger("tests.otlp-logs")
    logger.propagate = False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        handler = LoggingHandler(level=logging.DEBUG, logger_provider=provider)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.info("order %s placed", "o-1")
    logger.error("charge failed for %s", "o-2", extra={"order.id": "o-2"})
    logger.removeHandler(handler)
    return exporter.get_finished_logs()


def test_both_encodings_decode_to_the_same_records(sdk_logs):
    from_pb = parse_logs_protobuf(encode_protobuf(sdk_logs).SerializeToString())
    from_json = parse_logs_json(encode_json(sdk_logs).to_json())
    assert from_pb.problems == () and from_json.problems == ()
    assert [r.model_dump() for r in from_pb.records] == [r.model_dump() for r in from_json.records]
    info, error = from_pb.records
    assert (info.body, info.level, error.body, error.level) == ("order o-1 placed", "INFO", "charge failed for o-2", "ERROR")
    assert error.attributes["order.id"] == "o-2" and error.entity == "app:checkout" and error.time_ns > 1.6e18


def test_bad_records_are_skipped_with_a_reason_and_documents_refused(tmp_path):
    doc = {"resourceLogs": [{"scopeLogs": [{"logRecords": [
        {"observedTimeUnixNano": "1700000000000000000", "body": {"kvlistValue": {"values": [
            {"key": "msg", "value": {"stringValue": "structured"}}]}}, "severityText": "warning"},
        {"timeUnixNano": "1700000000000000001", "spanId": "zz"},
        {"body": {"stringValue": "no time"}},
    ]}]}]}
    parsed = parse_logs_json(json.dumps(doc))
    assert [r.body for r in parsed.records] == ['{"msg":"structured"}']
    assert parsed.records[0].level == "WARN" and parsed.records[0].time_ns == 1_700_000_000_000_000_000
    assert len(parsed.problems) == 2 and "spanId" in str(parsed.problems[0])
    with pytest.raises(LogFormatError):
        parse_logs_json("[]")
    with pytest.raises(LogFormatError):
        parse_logs_protobuf(b"\x0a\x05\x0a\x03")
    lines = tmp_path / "logs.jsonl"
    lines.write_text(json.dumps(doc) + "\nnot json\n" + json.dumps(doc) + "\n")
    parsed = read_logs_file(lines)
    assert len(parsed.records) == 2 and any("logs.jsonl:2" in str(p) for p in parsed.problems)


def test_levels():
    assert [level_of(n) for n in (1, 5, 9, 13, 17, 21)] == ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"]
    assert level_of(0, "Critical") == "FATAL" and level_of(0, "") == "INFO"
