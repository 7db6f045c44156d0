"""Canary analysis of rollouts, and rollouts read from the topology when nobody reported them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np

from correlators.canary import judge_rollout, split_pods
from correlators.changes import merge_changes, rollouts_from_relations
from correlators.models import Change
from detectors.models import Event, SeriesFrame, SeriesKey
from detectors.roles import MetricRoles
from topology.models import Relation

T0 = datetime(2026, 11, 20, 9, tzinfo=timezone.utc)
AT = T0 + timedelta(minutes=100)


def rel(src: str, kind: str, dst: str, start: datetime | None = None, end: datetime | None = None) -> Relation:
    return Relation(src=src, kind=kind, dst=dst, valid_from=start, valid_to=end)


def rollout_world() -> list[Relation]:
    """app:api: pods api-old-{0,1} on image:v1 until AT + 1 min, then api-new-{0,1} on image:v2 from AT."""
    out = [rel("image:v2", "BUILT_FROM", "commit:c2")]
    for i in range(2):
        out += [rel("app:api", "RUNS_ON", f"pod:api-old-{i}", end=AT + timedelta(minutes=1)),
                rel(f"pod:api-old-{i}", "RUNS", "image:v1", end=AT + timedelta(minutes=1)),
                rel("app:api", "RUNS_ON", f"pod:api-new-{i}", start=AT),
                rel(f"pod:api-new-{i}", "RUNS", "image:v2", start=AT)]
    return out


def pods_frame(new_latency: float | None, n: int = 120) -> SeriesFrame:
    rng = np.random.default_rng(0)
    times = T0.timestamp() + 60 * np.arange(n)
    keys, rows = [], []
    for i in range(2):
        old = 0.1 + 0.005 * rng.standard_normal(n)
        old[times >= (AT + timedelta(minutes=1)).timestamp()] = np.nan
        keys.append(SeriesKey(f"pod:api-old-{i}", "latency_p95_s"))
        rows.append(old)
        if new_latency is not None:
            new = new_latency + 0.005 * rng.standard_normal(n)
            new[times < AT.timestamp()] = np.nan
            keys.append(SeriesKey(f"pod:api-new-{i}", "latency_p95_s"))
            rows.append(new)
    return SeriesFrame(tuple(keys), times, np.array(rows))


def test_a_rollout_is_read_from_replaced_pods_and_fills_a_bare_rollout_record() -> None:
    derived = rollouts_from_relations(rollout_world(), T0, AT + timedelta(minutes=20))
    assert [(c.entity, c.kind, c.before, c.after, c.commit, c.at) for c in derived] == [
        ("app:api", "rollout", "image:v1", "image:v2", "commit:c2", AT)]
    bare = Change(entity="app:api", kind="rollout", at=AT + timedelta(seconds=20))
    merged = merge_changes([bare], derived, rollout_world())
    assert len(merged) == 1 and merged[0].after == "image:v2" and merged[0].commit == "commit:c2"


def test_new_pods_are_compared_with_the_old_ones() -> None:
    change = rollouts_from_relations(rollout_world(), T0, AT + timedelta(minutes=20))[0]
    new, reference = split_pods(change, rollout_world(), timedelta(minutes=2))
    assert new == {"pod:api-new-0", "pod:api-new-1"} and reference == {"pod:api-old-0", "pod:api-old-1"}
    until = AT + timedelta(minutes=15)
    bad = judge_rollout(change, rollout_world(), pods_frame(0.3), [], MetricRoles.default(), until=until, step_s=60)
    good = judge_rollout(change, rollout_world(), pods_frame(0.1), [], MetricRoles.default(), until=until, step_s=60)
    assert bad is not None and good is not None
    assert bad.verdict > 0.9 and bad.worst_metric == "latency_p95_s" and not bad.silent
    assert good.verdict < 0.2
    assert "latency_p95_s worse" in bad.summary


def test_new_pods_that_never_report_or_crash_loop_are_evidence_by_themselves() -> None:
    change = rollouts_from_relations(rollout_world(), T0, AT + timedelta(minutes=20))[0]
    until = AT + timedelta(minutes=15)
    silent = judge_rollout(change, rollout_world(), pods_frame(None), [], MetricRoles.default(), until=until, step_s=60)
    assert silent is not None and silent.silent and silent.verdict >= 0.5
    crash = [Event(entity="pod:api-new-0", reason="CrashLoopBackOff", at=AT + timedelta(minutes=3))]
    looping = judge_rollout(change, rollout_world(), pods_frame(0.1), crash, MetricRoles.default(), until=until, step_s=60)
    assert looping is not None and looping.silent
