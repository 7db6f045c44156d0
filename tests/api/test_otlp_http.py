"""The OTLP/HTTP transport rules (``api.otlp_http``): content types, gzip with a cap, answers in the request's
encoding."""

from __future__ import annotations

import gzip
import json

import pytest
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse

from api.otlp_http import LOGS, TRACES, OtlpHttpError, export_response, inflate, request_encoding, status_body


def test_content_types():
    assert request_encoding("application/x-protobuf") == "protobuf"
    assert request_encoding("Application/JSON; charset=utf-8") == "json"
    for bad in (None, "", "text/plain", "application/grpc"):
        with pytest.raises(OtlpHttpError) as info:
            request_encoding(bad)
        assert info.value.status == 415


def test_inflate_gzip_members_cap_and_garbage():
    assert inflate(b"abc", None, 10) == b"abc"
    assert inflate(gzip.compress(b"hello ") + gzip.compress(b"world"), "gzip", 100) == b"hello world"
    body = gzip.compress(b"x" * 1001)
    assert inflate(body, "GZIP", 1001) == b"x" * 1001
    for payload, encoding, cap, status in ((body, "gzip", 1000, 413), (b"x" * 11, None, 10, 413),
                                           (body[:-9], "gzip", 5000, 400), (b"not gzip", "gzip", 5000, 400),
                                           (body, "deflate", 5000, 415)):
        with pytest.raises(OtlpHttpError) as info:
            inflate(payload, encoding, cap)
        assert info.value.status == status, (payload[:10], encoding)


def test_answers_follow_the_request_encoding():
    assert export_response(TRACES, "json") == b"{}"
    assert export_response(TRACES, "protobuf") == b""
    partial = json.loads(export_response(LOGS, "json", rejected=3, message="why"))
    assert partial == {"partialSuccess": {"rejectedLogRecords": "3", "errorMessage": "why"}}
    answer = ExportLogsServiceResponse()
    answer.ParseFromString(export_response(LOGS, "protobuf", rejected=0, message="a warning"))
    assert answer.HasField("partial_success") and answer.partial_success.error_message == "a warning"
    status = status_pb2.Status()
    status.ParseFromString(status_body(OtlpHttpError(400, "bad bytes", field="body"), "protobuf"))
    bad = error_details_pb2.BadRequest()
    assert status.code == 3 and status.message == "bad bytes" and status.details[0].Unpack(bad)
    assert json.loads(status_body(OtlpHttpError(503, "later"), "json")) == {"code": 14, "message": "later"}
