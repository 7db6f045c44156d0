"""The fast ``query_range`` parser gives what a JSON parser gives, and falls back to one when the text is unusual."""

from __future__ import annotations

import json

import numpy as np
import pytest

from detectors.sources.matrix import NotAMatrix, _slow, parse_matrix


def _answer(series: list[tuple[dict, list]]) -> bytes:
    body = {"status": "success", "data": {"resultType": "matrix",
                                          "result": [{"metric": m, "values": v} for m, v in series]}}
    return json.dumps(body, separators=(",", ":")).encode()


SERIES = [
    ({"pod": "vllm-0", "odd": 'a "quoted", ],[ {"metric": value'}, [[1795132800, "0.25"], [1795132830.5, "NaN"]]),
    ({}, [[1795132800, "+Inf"], [1795132860, "-Inf"], [1795132920, "1e-05"]]),
]


def test_fast_path_equals_the_json_parser() -> None:
    raw = _answer(SERIES)
    fast = parse_matrix(raw)
    slow = _slow(json.loads(raw))
    assert [s.labels for s in fast] == [s.labels for s in slow] == [m for m, _ in SERIES]
    for a, b in zip(fast, slow):
        assert np.array_equal(a.times, b.times) and np.array_equal(a.values, b.values, equal_nan=True)
    assert fast[1].values.tolist()[:2] == [np.inf, -np.inf]


def test_other_layouts_fall_back_and_errors_are_refused() -> None:
    spaced = json.dumps({"status": "success", "data": {"resultType": "matrix", "result": [
        {"values": [[1, "2"]], "metric": {"a": "b"}}]}}).encode()  # other key order, with spaces
    (series,) = parse_matrix(spaced)
    assert series.labels == {"a": "b"} and series.values.tolist() == [2.0]
    with pytest.raises(NotAMatrix):
        parse_matrix(b'{"status":"error","errorType":"bad_data","error":"parse error"}')
    with pytest.raises(NotAMatrix):
        parse_matrix(b'{"status":"success","data":{"resultType":"vector","result":[]}}')
    assert parse_matrix(_answer([])) == []
