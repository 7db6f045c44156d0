"""Changes shortly before an onset, on or under the anomalous entity, are evidence; changes after it are not."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from correlators import Change, changes_from_relations, correlate, merge_changes
from detectors import Anomaly
from topology import Entity, Relation, Subgraph

T = datetime(2026, 11, 20, 11, tzinfo=timezone.utc)


def _subgraph() -> Subgraph:
    ids = ["app:chat", "pod:p", "image:old", "image:new", "commit:abc", "app:other"]
    relations = (
        Relation(src="app:chat", kind="RUNS_ON", dst="pod:p"),
        Relation(src="pod:p", kind="RUNS", dst="image:old", valid_to=T - timedelta(minutes=10)),
        Relation(src="pod:p", kind="RUNS", dst="image:new", valid_from=T - timedelta(minutes=10)),
        Relation(src="image:new", kind="BUILT_FROM", dst="commit:abc"),
    )
    return Subgraph(root="app:chat", entities=tuple(Entity(id=i, kind=i.split(":")[0]) for i in ids), relations=relations)


def _anomaly(entity: str, onset: datetime) -> Anomaly:
    return Anomaly(entity=entity, metric="latency", onset=onset, score=20, direction="up", detector="test")


def test_change_before_onset_on_a_dependency_is_evidence() -> None:
    sub = _subgraph()
    change = Change(entity="pod:p", kind="image_swap", at=T - timedelta(minutes=10), before="image:old", after="image:new", commit="commit:abc")
    result = correlate(sub, [_anomaly("app:chat", T - timedelta(minutes=8))], [change])
    assert len(result.links) == 1 and result.links[0].lag_s == 120
    kinds = {e.entity: e.kind for e in sum(result.evidence.values(), ())}
    assert kinds["commit:abc"] == "change" and kinds["image:new"] == "change" and kinds["pod:p"] == "change"
    commit_weight = result.evidence_for("commit:abc")[0].weight
    assert commit_weight > result.evidence_for("pod:p")[0].weight


def test_change_after_onset_is_not_evidence() -> None:
    change = Change(entity="pod:p", kind="restart", at=T - timedelta(minutes=2))
    result = correlate(_subgraph(), [_anomaly("app:chat", T - timedelta(minutes=8))], [change])
    assert result.links == () and result.unlinked_changes == (change,)
    assert result.evidence_for("pod:p") == ()


def test_change_elsewhere_is_not_evidence() -> None:
    change = Change(entity="app:other", kind="rollout", at=T - timedelta(minutes=9))
    result = correlate(_subgraph(), [_anomaly("app:chat", T - timedelta(minutes=8))], [change])
    assert result.links == ()


def test_small_clock_skew_is_tolerated() -> None:
    change = Change(entity="pod:p", kind="rollout", at=T - timedelta(minutes=8) + timedelta(seconds=45))
    result = correlate(_subgraph(), [_anomaly("app:chat", T - timedelta(minutes=8))], [change])
    assert len(result.links) == 1


def test_image_swap_derived_from_relation_replacement() -> None:
    sub = _subgraph()
    derived = changes_from_relations(sub.relations, T - timedelta(hours=1), T)
    assert [(c.entity, c.kind, c.before, c.after, c.commit) for c in derived] == [
        ("pod:p", "image_swap", "image:old", "image:new", "commit:abc")
    ]
    reported = Change(entity="pod:p", kind="rollout", at=T - timedelta(minutes=10, seconds=20), after="image:new")
    merged = merge_changes([reported], derived, sub.relations)
    assert len(merged) == 1 and merged[0].commit == "commit:abc"  # filled from BUILT_FROM
