"""Rows sampled only around incidents: score them against their own first samples.

Spans and logs are often kept only in the minutes around a fault (Nezha's public data holds trace and log
minute-files only there), so a series derived from them may have no sample before the incident window, where the
detectors look for a baseline. The rule for such rows is the one ``window_split`` applies to a whole frame with a
short history: **the baseline is whatever precedes the onset search** — here, the first quarter of the row's own
samples (at least ``min_baseline``), the onset searched in the rest.

Which rows: those whose metric the catalogue marks ``short_history`` (the ``trace_*`` and ``log_*`` families) and
that hold fewer than ``min_baseline`` samples before the window. They are grouped by the samples they have (rows
derived from one set of spans share them), each group is compacted to its samples — a dense short series, gaps
between the incidents squeezed out — and scored by the same ``score_series``; the results replace the rows' empty
scores. When the frame carries a finer companion (``SeriesFrame.fine``: trace evidence in 10-s buckets beside
one-minute metrics), a row is scored on its finer copy, which has six times the samples to test.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np

from .models import SeriesFrame, SeriesKey
from .roles import MetricRoles

if TYPE_CHECKING:
    from .detect import DetectConfig, SeriesScores

__all__ = ["rescore_sparse"]


def _candidates(scores: "SeriesScores", roles: MetricRoles, min_baseline: int) -> list[int]:
    if scores.split is None:
        n_base = 0
    else:
        n_base = scores.split.n_baseline
    base = scores.frame.values[:, :n_base]
    n_fin = np.isfinite(base).sum(axis=1) if n_base else np.zeros(len(scores.frame.keys), dtype=int)
    return [i for i, key in enumerate(scores.frame.keys)
            if n_fin[i] < min_baseline and roles.info(key.metric).short_history]


def rescore_sparse(scores: "SeriesScores", *, at: datetime, config: "DetectConfig", roles: MetricRoles
                   ) -> "SeriesScores":
    """``scores`` with its short-history rows scored on their own samples (see the module docstring)."""
    from .detect import score_series

    frame = scores.frame
    rows = _candidates(scores, roles, config.min_baseline)
    if not rows:
        return scores
    fine = frame.fine.until(at) if frame.fine is not None else None
    source: dict[int, tuple[SeriesFrame, int]] = {}
    for i in rows:
        j = fine._index.get(frame.keys[i]) if fine is not None else None
        source[i] = (fine, j) if j is not None else (frame, i)
    groups: dict[tuple[int, bytes], list[int]] = {}
    for i, (src, j) in source.items():
        mask = np.isfinite(src.values[j])
        if mask.sum() < config.min_baseline + config.min_tail:
            continue
        groups.setdefault((id(src), np.packbits(mask).tobytes()), []).append(i)
    if not groups:
        return scores
    arrays = {name: getattr(scores, name).copy() for name in
              ("score", "sign", "onset", "pvalue", "significant", "constant", "level", "current", "bad", "peak")}
    for members in groups.values():
        src, _ = source[members[0]]
        idx = [source[i][1] for i in members]
        columns = np.flatnonzero(np.isfinite(src.values[idx[0]]))
        times = src.times[columns]
        compact = SeriesFrame(tuple(SeriesKey(frame.keys[i].entity, frame.keys[i].metric) for i in members), times,
                              src.values[np.ix_(idx, columns)])
        # a lookback reaching before the first sample: no sample precedes the window, so the short-history split
        sub = score_series(compact, at=at, lookback=timedelta(seconds=float(at.timestamp() - times[0]) + 1.0),
                           config=config, roles=roles, sparse=False)
        if sub.split is None:
            continue
        for k, i in enumerate(members):
            for name, array in arrays.items():
                array[i] = getattr(sub, name)[k]
    return replace(scores, **arrays)
