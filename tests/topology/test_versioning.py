"""``plan_relation_writes``: the versioning rule as a pure function (what Neo4jStore folds batches with)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from topology.models import Relation, RelationKind
from topology.versioning import plan_relation_writes

T0 = datetime(2026, 11, 20, 10, tzinfo=timezone.utc)


def _rel(start: datetime | None = T0, end: datetime | None = None, dst: str = "image:a", **attrs: object) -> Relation:
    return Relation(src="pod:p", kind=RelationKind.RUNS, dst=dst, valid_from=start, valid_to=end, attrs=attrs)


def test_new_versions_pass_through() -> None:
    batch = [_rel(), _rel(dst="image:b")]
    assert plan_relation_writes([], batch) == batch


def test_recollecting_stored_state_writes_nothing() -> None:
    stored = [_rel(size=1), _rel(T0 - timedelta(days=1), T0, dst="image:b")]
    assert plan_relation_writes(stored, [_rel(size=1), _rel(T0 + timedelta(hours=1))]) == []


def test_same_start_merges_attrs_and_takes_a_given_end() -> None:
    end = T0 + timedelta(hours=2)
    assert plan_relation_writes([_rel(a=1)], [_rel(end=end, b=2)]) == [_rel(end=end, a=1, b=2)]
    # an open re-collection of a closed version keeps its end
    assert plan_relation_writes([_rel(end=end)], [_rel(c=3)]) == [_rel(end=end, c=3)]


def test_repeats_inside_a_batch_fold_in_order() -> None:
    later = T0 + timedelta(hours=1)
    batch = [_rel(a=1), _rel(later), _rel(a=2, b=1), _rel(T0 - timedelta(days=1), T0, x=1)]
    assert plan_relation_writes([], batch) == [_rel(a=2, b=1), _rel(T0 - timedelta(days=1), T0, x=1)]


def test_open_row_is_dropped_while_another_version_is_open() -> None:
    assert plan_relation_writes([_rel(None)], [_rel(T0)]) == []
    assert plan_relation_writes([_rel(None, T0)], [_rel(T0)]) == [_rel(T0)]
