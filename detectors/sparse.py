"""Rows sampled only around incidents: score them against their own first samples.

Spans and logs are often kept only in the minutes around a fault (Nezha's public data holds trace and log
minute-files only there), so a series derived from them may have no sample before the incident window, where the
detectors look for a baseline. The rule for such rows is the one ``window_split`` applies to a whole frame with a
short history: **the baseline is whatever precedes the onset search** — here, the first quarter of the row's own
samples (at least ``min_baseline``), the onset searched in the rest.

Which rows: those whose metric the catalogue marks ``short_history`` (the ``trace_*`` and ``log_*`` families).

* When the frame carries a finer companion (``SeriesFrame.fine``: trace and log evidence in 10-s buckets beside
  one-minute metrics), such a row is scored on its finer copy, with the same window: six times the samples to test,
  so a six-minute fault can pass the rank test that five one-minute baseline samples never let it pass.
* A row (or finer copy) with fewer than ``min_baseline`` samples before the window is scored on its own samples:
  rows are grouped by the samples they have (rows derived from one set of spans share them), each group compacted
  to those samples — a dense short series, the gaps between incidents squeezed out — and scored by the same
  ``score_series`` with the short-history split.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np

from .models import SeriesFrame
from .roles import MetricRoles

if TYPE_CHECKING:
    from .detect import DetectConfig, SeriesScores

__all__ = ["rescore_sparse"]


def _baseline_counts(scores: "SeriesScores") -> np.ndarray:
    n_base = scores.split.n_baseline if scores.split is not None else 0
    if not n_base:
        return np.zeros(len(scores.frame.keys), dtype=int)
    return np.isfinite(scores.frame.values[:, :n_base]).sum(axis=1)


_FIELDS = ("score", "sign", "onset", "pvalue", "significant", "constant", "level", "current", "bad", "peak")


def _compacted(src: SeriesFrame, rows: list[int], *, at: datetime, config: "DetectConfig", roles: MetricRoles
               ) -> dict[int, tuple]:
    """Rows of ``src`` scored on their own samples (grouped by which samples they have), short-history split:
    ``{row: (score, sign, onset, ...)}`` for the rows that could be scored."""
    from .detect import score_series

    groups: dict[bytes, list[int]] = {}
    for j in rows:
        mask = np.isfinite(src.values[j])
        if mask.sum() >= config.min_baseline + config.min_tail:
            groups.setdefault(np.packbits(mask).tobytes(), []).append(j)
    out: dict[int, tuple] = {}
    for members in groups.values():
        columns = np.flatnonzero(np.isfinite(src.values[members[0]]))
        times = src.times[columns]
        compact = SeriesFrame(tuple(src.keys[j] for j in members), times, src.values[np.ix_(members, columns)])
        # a lookback reaching before the first sample: no sample precedes the window, so the short-history split
        sub = score_series(compact, at=at, lookback=timedelta(seconds=float(at.timestamp() - times[0]) + 1.0),
                           config=config, roles=roles, sparse=False)
        if sub.split is not None:
            for k, j in enumerate(members):
                out[j] = tuple(getattr(sub, name)[k] for name in _FIELDS)
    return out


def rescore_sparse(scores: "SeriesScores", *, at: datetime, lookback: timedelta, config: "DetectConfig",
                   roles: MetricRoles) -> "SeriesScores":
    """``scores`` with its short-history rows scored on their finer copy or on their own samples (module doc)."""
    from .detect import score_series

    frame = scores.frame
    short = [i for i, key in enumerate(frame.keys) if roles.info(key.metric).short_history]
    if not short:
        return scores
    n_fin = _baseline_counts(scores)
    fine = frame.fine.until(at) if frame.fine is not None else None
    results: dict[int, tuple] = {}
    if fine is not None:
        pairs = [(i, fine._index[frame.keys[i]]) for i in short if frame.keys[i] in fine._index]
        if pairs:
            sub_frame = SeriesFrame(tuple(fine.keys[j] for _, j in pairs), fine.times,
                                    fine.values[[j for _, j in pairs]])
            sub = score_series(sub_frame, at=at, lookback=lookback, config=config, roles=roles, sparse=False)
            fine_base = _baseline_counts(sub)
            thin = [k for k in range(len(pairs)) if fine_base[k] < config.min_baseline]
            compacted = _compacted(sub_frame, thin, at=at, config=config, roles=roles)
            for k, (i, _) in enumerate(pairs):
                if k in compacted:
                    results[i] = compacted[k]
                elif fine_base[k] >= config.min_baseline and sub.split is not None:
                    results[i] = tuple(getattr(sub, name)[k] for name in _FIELDS)
    thin = [i for i in short if i not in results and n_fin[i] < config.min_baseline]
    results.update(_compacted(frame, thin, at=at, config=config, roles=roles))
    if not results:
        return scores
    arrays = {name: getattr(scores, name).copy() for name in _FIELDS}
    for i, values in results.items():
        for name, value in zip(_FIELDS, values):
            arrays[name][i] = value
    return replace(scores, **arrays)
