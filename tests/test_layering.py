"""Imports flow one way: topology ← detectors ← correlators ← rca ← narrator ← api."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ORDER = ["topology", "detectors", "correlators", "rca", "narrator", "api"]
ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("package", ORDER)
def test_no_import_points_right(package: str) -> None:
    allowed = set(ORDER[: ORDER.index(package) + 1])
    forbidden = set(ORDER) - allowed
    offenders = []
    for file in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else [])
            offenders += [f"{file.relative_to(ROOT)} imports {n}" for n in names if n.split(".")[0] in forbidden]
    assert offenders == []
