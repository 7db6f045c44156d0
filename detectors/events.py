"""Event detector: Kubernetes events and container states are anomalies in their own right.

An OOMKilled pod or a GPU Xid error is a fact, not a statistical guess, so it gets a fixed, high score; the score
table is a parameter so operators can re-weigh reasons.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from .models import Anomaly, Event

DEFAULT_REASON_SCORES: dict[str, float] = {
    "OOMKilled": 12.0,
    "XidError": 12.0,
    "CrashLoopBackOff": 10.0,
    "BackOff": 8.0,
    "Evicted": 8.0,
    "Unhealthy": 5.0,
    "FailedScheduling": 5.0,
    "NodeNotReady": 10.0,
    "Killing": 0.0,  # routine during every rollout: collected, but not evidence on its own
    "Pulling": 0.0,
    "Pulled": 0.0,
    "Created": 0.0,
    "Started": 0.0,
    "Scheduled": 0.0,
    "SuccessfulCreate": 0.0,
    "ScalingReplicaSet": 0.0,
}


class EventDetector:
    """Turns events inside the incident window into ``Anomaly`` records (metric ``event:<reason>``).

    Parameters
    ----------
    reason_scores:
        Score per event reason; reasons not listed get ``default_score``.
    default_score:
        Score of an unlisted reason (0 ignores it).
    """

    def __init__(self, *, reason_scores: dict[str, float] | None = None, default_score: float = 3.0) -> None:
        self.reason_scores = reason_scores
        self.default_score = default_score

    def detect(self, events: Iterable[Event], start: datetime, end: datetime) -> list[Anomaly]:
        table = self.reason_scores if self.reason_scores is not None else DEFAULT_REASON_SCORES
        strongest: dict[tuple[str, str], Anomaly] = {}
        for event in events:
            if not (start <= event.at <= end):
                continue
            score = table.get(event.reason, self.default_score)
            if score <= 0:
                continue
            key = (event.entity, event.reason)
            earlier = strongest.get(key)
            if earlier is None or event.at < earlier.onset:  # the first occurrence is the onset
                strongest[key] = Anomaly(
                    entity=event.entity, metric=f"event:{event.reason}", onset=event.at, score=score,
                    direction="up", detector="event", role="errors",
                )
        return list(strongest.values())
