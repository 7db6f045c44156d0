"""What an anomaly on a trace- or log-derived series can show a reader: the notes of its samples since the onset.

A series' samples carry ``SeriesNote`` records (``SeriesFrame.notes``): exemplar trace ids, the log template behind
the count, example lines. An anomaly keeps those of the samples from its onset to the end of the window — the
evidence of *this* shift, not of the baseline.
"""

from __future__ import annotations

from collections.abc import Mapping

from .models import SeriesNote

MAX_TRACES = 3
MAX_EXAMPLES = 3


def notes_since(by_time: Mapping[float, SeriesNote] | None, onset_s: float, until_s: float) -> SeriesNote | None:
    """One note summing up the samples in ``[onset_s, until_s]``: up to three trace ids (earliest samples first),
    the first template seen and up to three example lines of it, the first detail."""
    if not by_time:
        return None
    traces: list[str] = []
    template = None
    examples: list[str] = []
    detail = None
    for t in sorted(by_time):
        if t < onset_s or t > until_s:
            continue
        note = by_time[t]
        traces += [x for x in note.traces if x not in traces]
        if template is None and note.template:
            template, detail = note.template, note.detail
        if note.template == template:
            examples += [x for x in note.examples if x not in examples]
        if detail is None:
            detail = note.detail
    if not (traces or template or detail):
        return None
    return SeriesNote(traces=tuple(traces[:MAX_TRACES]), template=template, examples=tuple(examples[:MAX_EXAMPLES]),
                      detail=detail)
