"""Canary analysis of rollouts: the new pods against the old pods they replaced and against their siblings.

Why: several services are often rolled out within minutes of each other, and "blame the latest rollout" is right
only half the time. A bad release shows on *its own* new pods: their latency, errors or saturation after the
rollout are worse than what the old pods of the same service showed before it, and worse than sibling pods still on
the old image. That is Kayenta's canary judge (Mann-Whitney U per metric, new against old instances), run after the
fact. A rollout whose new pods never report a sample, or crash-loop, is evidence by itself.

The verdict of a rollout is in [0, 1]: ``1 - exp(-effect / 5)`` for the worst latency or errors metric that moved
the bad way and is significant (saturation metrics give a separate ``saturation_verdict``), where ``effect`` is the difference of medians in robust sigmas of the reference pods; 0 when nothing
failed. A silent rollout gets at least 0.5.

References
----------
Spinnaker Kayenta, "Canary analysis: the judge" (NetflixACAJudge: Mann-Whitney U per metric, new vs old).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from detectors.models import Event, SeriesFrame
from detectors.roles import MetricRoles
from detectors.shift_test import mann_whitney_p
from topology.models import Relation, RelationKind

from .models import Change

ROLLOUT_KINDS = ("rollout", "image_swap", "deploy", "deployment", "release", "config_change", "upgrade")
CRASH_REASONS = ("CrashLoopBackOff", "BackOff", "Failed", "ErrImagePull", "ImagePullBackOff", "OOMKilled")


@dataclass(frozen=True)
class RolloutFinding:
    """The canary verdict of one rollout and the entities it is credited to."""

    change: Change
    new_pods: tuple[str, ...]
    reference_pods: tuple[str, ...]
    verdict: float
    silent: bool
    worst_metric: str | None = None
    effect: float = 0.0
    pvalue: float = 1.0
    saturation_verdict: float = 0.0
    """The same verdict from saturation metrics only (CPU, memory): a new build often just runs a little hotter,
    so the ranker weighs it apart from latency and errors (``verdict``)."""

    @property
    def entities(self) -> tuple[str, ...]:
        """What the verdict speaks for: the change's artifacts (new image, commit) and the changed entity. The new
        pods only carried the release; their own trouble is their own evidence."""
        ids = [self.change.entity, *(x for x in (self.change.after, self.change.commit) if x)]
        return tuple(dict.fromkeys(ids))

    @property
    def summary(self) -> str:
        if self.silent:
            return f"{self.change.kind} of {self.change.entity}: its new pods never reported or crash-looped"
        if self.worst_metric is None:
            return f"{self.change.kind} of {self.change.entity}: new pods look like the old ones"
        return (f"{self.change.kind} of {self.change.entity}: new pods' {self.worst_metric} worse than the old pods' "
                f"by {self.effect:.1f} robust sigma (Mann-Whitney p {self.pvalue:.1g})")


def _pods_of(relations: Sequence[Relation], service: str) -> set[str]:
    return {r.dst for r in relations if r.src == service and r.kind == RelationKind.RUNS_ON}


def _runs(relations: Sequence[Relation], image: str | None) -> list[Relation]:
    return [r for r in relations if image and r.dst == image and r.kind == RelationKind.RUNS]


def split_pods(
    change: Change, relations: Sequence[Relation], skew: timedelta
) -> tuple[set[str], set[str]]:
    """(new pods, reference pods) of a rollout: pods that started running the new image (or, without images,
    pods of the changed service that appeared) at the change; reference = old-image pods and the other pods of
    the same services."""
    at = change.at
    new = {r.src for r in _runs(relations, change.after) if r.valid_from is None or r.valid_from >= at - skew}
    if not new and change.after:
        new = {r.src for r in _runs(relations, change.after)}
    old = {r.src for r in _runs(relations, change.before)}
    if change.entity.startswith("pod:"):
        new.add(change.entity)
    services = {r.src for r in relations if r.kind == RelationKind.RUNS_ON and r.dst in (new | {change.entity})}
    services.add(change.entity)
    siblings: set[str] = set()
    for service in services:
        pods = _pods_of(relations, service)
        siblings |= pods
        if not change.after:  # no image named: pods that appeared at the change are the new ones
            for r in relations:
                if r.kind == RelationKind.RUNS_ON and r.src == service and r.valid_from is not None \
                        and at - skew <= r.valid_from <= at + 4 * skew:
                    new.add(r.dst)
    if change.entity.startswith("pod:") and change.before:
        old.add(change.entity)  # the same pod before its image swap is its own reference
    reference = (old | siblings) - (new - ({change.entity} if change.before else set()))
    return new, reference


def judge_rollout(
    change: Change,
    relations: Sequence[Relation],
    frame: SeriesFrame,
    events: Iterable[Event],
    roles: MetricRoles,
    *,
    until: datetime,
    step_s: float,
    alpha: float = 0.01,
) -> RolloutFinding | None:
    """The canary verdict of ``change`` (None when it is not a rollout with pods to compare)."""
    if change.kind not in ROLLOUT_KINDS and not (change.before or change.after):
        return None
    skew = timedelta(seconds=max(2 * step_s, 120.0))
    new, reference = split_pods(change, relations, skew)
    if not new:
        return None
    at = change.at.timestamp()
    end = until.timestamp()
    times = frame.times
    after_mask = (times >= at) & (times <= end)
    before_mask = times < at
    by_pod: dict[str, dict[str, np.ndarray]] = {}
    for i, key in enumerate(frame.keys):
        if key.entity in new or key.entity in reference:
            by_pod.setdefault(key.entity, {})[key.metric] = frame.values[i]
    crashed = any(e.entity in new and e.reason in CRASH_REASONS and e.at >= change.at - skew for e in events)
    reported = any(np.isfinite(v[after_mask]).any() for p in new for v in by_pod.get(p, {}).values())
    silent = crashed or (not reported and any(p in by_pod for p in reference))
    worst: tuple[float, str | None, float] = (0.0, None, 1.0)
    worst_saturation = 0.0
    metrics = {m for p in new for m in by_pod.get(p, {})}
    for metric in sorted(metrics):
        new_vals = np.concatenate([by_pod[p][metric][after_mask] for p in new if metric in by_pod.get(p, {})])
        ref_parts = []
        for p in reference:
            series = by_pod.get(p, {}).get(metric)
            if series is None:
                continue
            own_new = p in new
            ref_parts.append(series[before_mask])  # the old pods (and a swapped pod) before the rollout
            if not own_new:
                ref_parts.append(series[after_mask])  # siblings still on the old image
        if change.entity in new and change.before:
            series = by_pod.get(change.entity, {}).get(metric)
            if series is not None:
                ref_parts.append(series[before_mask])
        ref_vals = np.concatenate(ref_parts) if ref_parts else np.zeros(0)
        new_vals = new_vals[np.isfinite(new_vals)]
        ref_vals = ref_vals[np.isfinite(ref_vals)]
        if new_vals.size < 2 or ref_vals.size < 3:
            continue
        med = float(np.median(ref_vals))
        mad = float(np.median(np.abs(ref_vals - med))) * 1.4826
        mean_ad = float(np.mean(np.abs(ref_vals - med))) * 1.2533
        scale = max(mad, mean_ad, 0.02 * abs(med), 1e-9)
        effect = (float(np.median(new_vals)) - med) / scale
        info = roles.info(metric)
        sign = 1 if effect > 0 else -1
        if info.role.value == "traffic" or not info.bad(sign) or effect == 0:
            continue
        p = mann_whitney_p(new_vals, ref_vals, "greater" if sign > 0 else "less")
        if p >= alpha:
            continue
        if info.role.value in ("latency", "errors"):
            if abs(effect) > worst[0]:
                worst = (abs(effect), metric, p)
        else:
            worst_saturation = max(worst_saturation, abs(effect))
    verdict = 1.0 - math.exp(-worst[0] / 5.0) if worst[1] is not None else 0.0
    if silent:
        verdict = max(verdict, 0.5)
    return RolloutFinding(
        change=change, new_pods=tuple(sorted(new)), reference_pods=tuple(sorted(reference)), verdict=verdict,
        silent=silent, worst_metric=worst[1], effect=worst[0], pvalue=worst[2],
        saturation_verdict=1.0 - math.exp(-worst_saturation / 5.0),
    )


def judge_rollouts(
    changes: Sequence[Change],
    relations: Sequence[Relation],
    frame: SeriesFrame,
    events: Sequence[Event],
    roles: MetricRoles,
    *,
    until: datetime,
    step_s: float,
) -> list[RolloutFinding]:
    """Canary verdicts of every rollout among ``changes``."""
    out = []
    for change in changes:
        finding = judge_rollout(change, relations, frame, events, roles, until=until, step_s=step_s)
        if finding is not None:
            out.append(finding)
    return out
