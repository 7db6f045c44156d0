"""``max_depth`` measures nesting on raw bytes exactly as a JSON parser would see it — brackets inside strings,
escaped quotes, backslash runs and chunk boundaries included — checked against a recursive reference on generated
documents, and on the hostile shapes the HTTP layer must refuse before any recursive parser runs."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from api.middleware import json_depth
from api.middleware.json_depth import max_depth

PIECES = ['"', "\\", "[", "]", "{", "}", "a", " ", '\\"', "\\\\", "é", "\u2028"]


def reference_depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((reference_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((reference_depth(v) for v in value.values()), default=0)
    return 0


def generate(rng: random.Random, level: int = 0) -> Any:
    roll = rng.random()
    if level > 7 or roll < 0.3:
        return "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 6)))
    if roll < 0.65:
        return [generate(rng, level + 1) for _ in range(rng.randint(0, 3))]
    return {"".join(rng.choice(PIECES) for _ in range(rng.randint(0, 4))): generate(rng, level + 1)
            for _ in range(rng.randint(0, 3))}


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 1 << 20])
def test_matches_a_recursive_parser_on_generated_documents(monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    """Strings full of brackets, quotes and backslashes; every chunk size, so each state carried between chunks
    (inside a string, a run of backslashes cut in two, the depth) is exercised at every position."""
    monkeypatch.setattr(json_depth, "CHUNK_BYTES", chunk)
    rng = random.Random(chunk)
    for _ in range(300 if chunk < 4 else 1500):
        document = generate(rng)
        raw = json.dumps(document, ensure_ascii=rng.random() < 0.5).encode()
        assert max_depth(raw) == reference_depth(document), raw


@pytest.mark.parametrize("raw, depth", [
    (b"1", 0), (b"[]", 1), (b'{"a": {"b": [[]]}}', 4), (b'["[[[[", "]]]]"]', 1), (b'["\\\\", [["\\""]]]', 3),
    (b'["\\\\\\"[[[["]', 1), (b"[" * 10_000 + b"]" * 10_000, 10_000), (b"[" * 10_000, 10_000),
    (b'{"a": ' * 500 + b"1" + b"}" * 500, 500),
])
def test_known_depths(raw: bytes, depth: int) -> None:
    assert max_depth(raw) == depth


def test_stops_early_and_skips_the_scan_when_brackets_are_few() -> None:
    assert max_depth(b"[" * 5_000_000, stop_above=128) > 128
    assert max_depth(b'{"a": [1, 2]}', stop_above=128) <= 128
    # the count is an upper bound: a body with few brackets cannot nest deeper than their number
    assert max_depth(b'["' + b"[" * 100 + b'"]', stop_above=128) <= 128
