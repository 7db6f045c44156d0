"""How deeply a JSON text nests, measured on the raw bytes without parsing it.

Why: every JSON parser and validator the API uses is recursive somewhere (``json.loads`` raises ``RecursionError``
past ~1,000 levels, pydantic refuses to serialise past 255, ``check_depth`` and ``json.dumps`` recurse too). Measuring
the nesting first, with no recursion and no Python objects built, lets the server refuse a hostile body with one
clear 400 before any of that work starts.

The scan follows JSON's own rules for what is structure: brackets inside strings do not count, and a quote preceded
by an odd number of backslashes does not end a string. It runs vectorised over chunks (numpy), carrying the state —
depth, inside-a-string, trailing backslashes — from one chunk to the next, so its memory is a few MiB whatever the
body size, and it gives the event loop a turn between chunks. Text that is not valid JSON may be measured wrongly
after its first error, but no parser goes past that error either.
"""

from __future__ import annotations

import numpy as np

CHUNK_BYTES = 1 << 20
_QUOTE = ord('"')
_BACKSLASH = ord("\\")
_KIND = np.zeros(256, dtype=np.int8)  # +1 opens a level, -1 closes one, 0 anything else
_KIND[[ord("["), ord("{")]] = 1
_KIND[[ord("]"), ord("}")]] = -1


def max_depth(raw: bytes, *, stop_above: int | None = None) -> int:
    """The deepest nesting of arrays and objects in the JSON text ``raw`` (0 for a scalar).

    With ``stop_above``, the scan stops as soon as the depth passes it (a refusal needs no exact figure), and texts
    with no more opening brackets than ``stop_above`` are answered from a count, without a scan.

    >>> max_depth(b'{"a": [1, {"b": "[[[["}]}')
    3
    """
    if stop_above is not None:
        opening = raw.count(b"[") + raw.count(b"{")
        if opening <= stop_above:
            return opening
    data = np.frombuffer(raw, dtype=np.uint8)
    depth = deepest = 0
    inside = False  # inside a string at the end of the previous chunk
    trailing = 0  # backslashes that ended the previous chunk
    for start in range(0, len(data), CHUNK_BYTES):
        chunk = data[start:start + CHUNK_BYTES]
        quotes = _real_quotes(chunk, trailing)
        trailing = _trailing_backslashes(chunk, trailing)
        kinds = np.take(_KIND, chunk)
        brackets = np.flatnonzero(kinds)
        if len(brackets):
            in_string = (np.searchsorted(quotes, brackets) + int(inside)) % 2 == 1
            steps = kinds[brackets[~in_string]].astype(np.int64)
            if len(steps):
                running = np.cumsum(steps) + depth
                deepest = max(deepest, int(running.max()))
                depth = int(running[-1])
        inside = (len(quotes) + int(inside)) % 2 == 1
        if stop_above is not None and deepest > stop_above:
            break
    return deepest


def _real_quotes(chunk: np.ndarray, trailing: int) -> np.ndarray:
    """Positions of the quotes that open or close a string: those after an even run of backslashes."""
    quotes = np.flatnonzero(chunk == _QUOTE)
    slashes = np.flatnonzero(chunk == _BACKSLASH)
    if not len(quotes) or (not len(slashes) and not trailing):
        return quotes
    run_start = _run_starts(slashes, trailing)
    before = quotes - 1
    at = np.minimum(np.searchsorted(slashes, before), max(len(slashes) - 1, 0))
    escaped_by = np.zeros(len(quotes), dtype=np.int64)
    if len(slashes):
        hit = slashes[at] == before
        escaped_by[hit] = before[hit] - run_start[at[hit]] + 1
    escaped_by[before < 0] = trailing  # a quote first in the chunk follows the previous chunk's backslashes
    return quotes[escaped_by % 2 == 0]


def _run_starts(slashes: np.ndarray, trailing: int) -> np.ndarray:
    """For each backslash position, where its run of consecutive backslashes starts (negative when the run began in
    the previous chunk)."""
    if not len(slashes):
        return slashes
    new_run = np.ones(len(slashes), dtype=bool)
    new_run[1:] = slashes[1:] != slashes[:-1] + 1
    starts = np.maximum.accumulate(np.where(new_run, slashes, -1))
    if slashes[0] == 0:
        starts[starts == 0] = -trailing
    return starts


def _trailing_backslashes(chunk: np.ndarray, trailing: int) -> int:
    """How many backslashes end the text so far (the next chunk's first quote may be escaped by them)."""
    if not len(chunk) or chunk[-1] != _BACKSLASH:
        return 0
    plain = np.flatnonzero(chunk != _BACKSLASH)
    return len(chunk) + trailing if not len(plain) else len(chunk) - 1 - int(plain[-1])
