"""What the confidence number means, and when the top candidates are too close to call.

Why here and not in each view: the CLI, the console and the PagerDuty note must say the same thing about the same
number. The number itself is the ranker's (``Analysis.confidence``: the calibrated probability that the top candidate
is the root cause, with ``Analysis.calibrated_on`` development incidents behind it). Neither a model's self-reported
confidence nor a raw ranking score is presented as a probability: without a calibration the answer says
"uncalibrated" and shows the score for what it is.

"Too close to call" compares the top candidate with the others that are a genuinely different explanation — not on
its fault chain (a commit, its image and the pod running it are one fault seen at three layers) and not carrying the
same change — whose score is within ``CLOSE_MARGIN`` of the top score.
"""

from __future__ import annotations

from rca.models import Analysis, Candidate
from topology.models import short_id

from .models import Narrative

CLOSE_MARGIN = 0.10
"""A rival within this share of the top score (relative) is too close to call (for analyses without probabilities)."""
CLOSE_RATIO = 1.5
"""A rival whose model probability is at least the top one's divided by this is too close to call: the evidence
favours the top candidate by less than 3 to 2."""

__all__ = ["CLOSE_MARGIN", "CLOSE_RATIO", "close_calls", "confidence_text", "with_confidence"]


def _changes(candidate: Candidate) -> set[tuple[str, str]]:
    return {
        (e.change.commit or e.change.after or e.change.entity, e.change.kind)
        for e in candidate.evidence if e.kind == "change" and e.change is not None
    }


def _same_fault(top: Candidate, other: Candidate) -> bool:
    if other.entity in top.chain.entities or top.entity in other.chain.entities:
        return True
    return bool(_changes(top) & _changes(other))


def close_calls(analysis: Analysis, margin: float = CLOSE_MARGIN) -> tuple[str, ...]:
    """Candidates that are a different explanation from the top one and nearly as likely: a model probability at
    least ``1 - margin`` of the top one's (``CLOSE_RATIO`` when the model gives probabilities), else a score within
    ``margin`` of the top score."""
    if len(analysis.candidates) < 2:
        return ()
    top = analysis.candidates[0]
    if top.probability > 0:
        return tuple(
            c.entity for c in analysis.candidates[1:]
            if c.probability * CLOSE_RATIO >= top.probability and not _same_fault(top, c)
        )
    if top.score <= 0:
        return ()
    return tuple(
        c.entity for c in analysis.candidates[1:]
        if c.score >= (1.0 - margin) * top.score and not _same_fault(top, c)
    )


def confidence_text(analysis: Analysis, close: tuple[str, ...] | None = None) -> str:
    """One or two sentences: the number and what it means, then any rival too close to call."""
    if not analysis.candidates:
        return "No candidate: nothing anomalous or changed was found beneath the symptom."
    top = analysis.candidates[0]
    if analysis.confidence is not None:
        basis = (f"calibrated on {analysis.calibrated_on} development incidents" if analysis.calibrated_on
                 else "calibrated on the development incidents")
        text = (f"Confidence {analysis.confidence:.2f}: the probability that {short_id(top.entity)} is the root cause, "
                f"{basis}.")
    else:
        text = (f"Confidence: uncalibrated. The score {top.score:.3f} ranks the candidates; it is not a probability "
                "that the top one is right.")
    close = close_calls(analysis) if close is None else close
    if close:
        scores = {c.entity: c.score for c in analysis.candidates}
        rivals = ", ".join(f"{short_id(e)} ({scores[e]:.3f})" for e in close[:3])
        text += (f" Too close to call: {rivals} is nearly as likely as the top candidate "
                 f"({top.score:.3f}) and is a different explanation; check {'it' if len(close) == 1 else 'them'} too.")
    return text


def with_confidence(narrative: Narrative, analysis: Analysis) -> Narrative:
    """``narrative`` carrying the analysis's confidence and its meaning (never a model's own number)."""
    close = close_calls(analysis)
    return narrative.model_copy(update={
        "confidence": analysis.confidence, "calibrated_on": analysis.calibrated_on, "close_calls": close,
        "confidence_text": confidence_text(analysis, close),
    })
