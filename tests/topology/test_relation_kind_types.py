"""A relation ``kind`` that is not a string (a list or an object: unhashable) is a ``CaseFormatError`` naming the
place, not a ``TypeError`` — found by the API's hostile-input corpus (``tests/api/test_hostile_corpus.py``)."""

from __future__ import annotations

import pytest

from topology.case_files import parse_topology
from topology.exceptions import CaseFormatError


@pytest.mark.parametrize("kind", [["CALLS"], {"CALLS": 1}, None, 5, ["x"] * 10_000])
def test_non_string_relation_kind_is_a_case_format_error(kind: object) -> None:
    topology = {"entities": [{"id": "app:a", "kind": "app"}, {"id": "app:b", "kind": "app"}],
                "relations": [{"src": "app:a", "kind": kind, "dst": "app:b"}]}
    with pytest.raises(CaseFormatError, match=r"relations\[0\]\.kind: unknown relation kind") as caught:
        parse_topology(topology)
    assert len(str(caught.value)) < 300
