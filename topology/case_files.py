"""Reading the parts of a case directory that the topology package owns: ``topology.json``.

Shared helpers for every case-file reader (JSON with line numbers, pydantic errors turned into one line naming the
field) live here too, so the detectors and correlators readers report problems the same way.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from .exceptions import CaseFormatError
from .models import Entity, Relation, RelationKind

MAX_CASE_FILE_BYTES = 512 * 1024 * 1024
"""A case file larger than this is refused rather than read into memory."""


def case_file(case_dir: str | os.PathLike[str], name: str, *, required: bool = True) -> Path | None:
    """Path of ``name`` inside ``case_dir``; missing required files are a ``CaseFormatError``."""
    directory = Path(case_dir)
    if not directory.is_dir():
        raise CaseFormatError(str(directory), "case directory does not exist or is not a directory")
    path = directory / name
    if not path.is_file():
        if required:
            raise CaseFormatError(str(path), "required file is missing")
        return None
    if path.stat().st_size > MAX_CASE_FILE_BYTES:
        raise CaseFormatError(str(path), f"file is larger than {MAX_CASE_FILE_BYTES} bytes")
    return path


def read_json(path: Path) -> Any:
    """Parse a JSON file; syntax errors name the line and column. NaN/Infinity literals are refused."""

    def _no_constants(name: str) -> Any:
        raise ValueError(f"non-standard JSON constant {name}")

    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise CaseFormatError(str(path), f"not UTF-8 text ({exc.reason})") from exc
    try:
        return json.loads(text, parse_constant=_no_constants)
    except json.JSONDecodeError as exc:
        raise CaseFormatError(str(path), f"invalid JSON: {exc.msg}", where=f"line {exc.lineno} col {exc.colno}") from exc
    except ValueError as exc:
        raise CaseFormatError(str(path), f"invalid JSON: {exc}") from exc
    except RecursionError as exc:
        raise CaseFormatError(str(path), "invalid JSON: nested too deeply") from exc


def validation_problem(exc: ValidationError) -> tuple[str, str]:
    """(field path, message) of the first pydantic error, worded for a person."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ())) or "(root)"
    message = first.get("msg", "invalid value")
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    return where, message


def parse_item(model: type[BaseModel], raw: Any, file: str, where: str) -> Any:
    """Validate one JSON object into ``model``; failures become ``CaseFormatError`` at ``where.field``."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        field, message = validation_problem(exc)
        raise CaseFormatError(file, message, where=f"{where}.{field}") from exc


def parse_topology(document: Any, file: str = "topology.json") -> tuple[list[Entity], list[Relation]]:
    """Validate a topology document: unique ids, known relation kinds, relations between known entities."""
    if not isinstance(document, dict):
        raise CaseFormatError(file, "top level must be an object with 'entities' and 'relations'")
    raw_entities = document.get("entities")
    raw_relations = document.get("relations", [])
    if not isinstance(raw_entities, list):
        raise CaseFormatError(file, "'entities' must be a list", where="entities")
    if not isinstance(raw_relations, list):
        raise CaseFormatError(file, "'relations' must be a list", where="relations")
    entities: list[Entity] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_entities):
        if isinstance(raw, dict) and "kind" not in raw and isinstance(raw.get("id"), str) and ":" in raw["id"]:
            raw = {**raw, "kind": raw["id"].split(":", 1)[0]}
        entity = parse_item(Entity, raw, file, f"entities[{index}]")
        if entity.id in seen:
            raise CaseFormatError(file, f"duplicate entity id {entity.id!r}", where=f"entities[{index}].id")
        seen.add(entity.id)
        entities.append(entity)
    relations: list[Relation] = []
    kinds = {k.value for k in RelationKind}
    for index, raw in enumerate(raw_relations):
        where = f"relations[{index}]"
        if isinstance(raw, dict) and raw.get("kind") not in kinds:
            raise CaseFormatError(
                file, f"unknown relation kind {raw.get('kind')!r} (known: {', '.join(sorted(kinds))})", where=f"{where}.kind"
            )
        relation = parse_item(Relation, raw, file, where)
        for end in ("src", "dst"):
            if getattr(relation, end) not in seen:
                raise CaseFormatError(
                    file, f"relation refers to unknown entity {getattr(relation, end)!r}", where=f"{where}.{end}"
                )
        if relation.valid_from and relation.valid_to and relation.valid_to < relation.valid_from:
            raise CaseFormatError(file, "valid_to is before valid_from", where=f"{where}.valid_to")
        relations.append(relation)
    return entities, relations


def load_topology(case_dir: str | os.PathLike[str]) -> tuple[list[Entity], list[Relation]]:
    """Read and validate ``CASE_DIR/topology.json``."""
    path = case_file(case_dir, "topology.json")
    assert path is not None
    return parse_topology(read_json(path), str(path))
