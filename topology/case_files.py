"""Reading the parts of a case directory that the topology package owns: ``topology.json``.

Shared helpers for every case-file reader (JSON with line numbers, pydantic errors turned into one line naming the
field) live here too, so the detectors and correlators readers report problems the same way.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from .exceptions import CaseFormatError
from .models import Entity, Relation, RelationKind

MAX_CASE_FILE_BYTES = 512 * 1024 * 1024
"""A case file larger than this is refused rather than read (``metrics.csv`` is streamed and bounded by rows instead)."""


@dataclass(frozen=True)
class CaseLimits:
    """Bounds on what a case reader will accept, so a hostile or broken case costs an error, not the machine.

    Why each bound exists: JSON files are parsed whole, so their size is capped; deeply nested JSON makes every
    recursive consumer (pydantic, ``json.dumps`` of an insight, the Neo4j driver) a stack-overflow risk, so depth is
    capped right after parsing; ``metrics.csv`` is read in chunks and stops at ``max_metric_rows`` samples, so a
    billion-row export fails in seconds instead of filling memory; one line longer than ``max_line_bytes`` would make
    the CSV parser buffer it whole, so it is refused while streaming.

    The API builds this from its settings (``FAULTLINE_MAX_METRIC_ROWS`` ...); the defaults serve the CLI and tests.
    """

    max_json_bytes: int = 64 * 1024 * 1024
    max_json_depth: int = 64
    max_csv_bytes: int | None = None
    max_metric_rows: int = 10_000_000
    max_line_bytes: int = 64 * 1024


DEFAULT_LIMITS = CaseLimits()


def case_file(
    case_dir: str | os.PathLike[str], name: str, *, required: bool = True, max_bytes: int | None = MAX_CASE_FILE_BYTES
) -> Path | None:
    """Path of ``name`` inside ``case_dir``; missing required files are a ``CaseFormatError``.

    ``name`` must be a plain file name, and the file it names (after following symlinks) must be a regular file inside
    the case directory: a case unpacked from an archive must not make faultline read ``/etc/shadow`` or a FIFO, and
    then echo a line of it back in an error message.
    """
    directory = Path(case_dir)
    if not directory.is_dir():
        raise CaseFormatError(str(directory), "case directory does not exist or is not a directory")
    if not name or "\x00" in name or name in (".", "..") or Path(name).name != name or "\\" in name:
        raise CaseFormatError(str(directory), f"{name!r} is not a plain file name inside the case directory")
    path = directory / name
    if not path.exists() and not path.is_symlink():
        if required:
            raise CaseFormatError(str(path), "required file is missing")
        return None
    try:
        resolved = path.resolve(strict=True)
        inside = resolved.is_relative_to(directory.resolve(strict=True))
    except (OSError, RuntimeError) as exc:  # dangling or looping symlink
        raise CaseFormatError(str(path), f"cannot be resolved ({exc.__class__.__name__})") from exc
    if not inside:
        raise CaseFormatError(str(path), "is a link that leads outside the case directory; refused")
    if not resolved.is_file():
        raise CaseFormatError(str(path), "is not a regular file (a directory, FIFO or device); refused")
    if max_bytes is not None and resolved.stat().st_size > max_bytes:
        raise CaseFormatError(str(path), f"file is larger than {max_bytes} bytes (the limit); refused")
    return path


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} does not fit a float")
    return value


def read_json(path: Path, limits: CaseLimits = DEFAULT_LIMITS) -> Any:
    """Parse a JSON file; syntax errors name the line and column. NaN/Infinity literals, numbers that overflow to
    infinity, files over ``limits.max_json_bytes`` and nesting deeper than ``limits.max_json_depth`` are refused."""

    def _no_constants(name: str) -> Any:
        raise ValueError(f"non-standard JSON constant {name}")

    try:
        if path.stat().st_size > limits.max_json_bytes:
            raise CaseFormatError(str(path), f"file is larger than {limits.max_json_bytes} bytes (max_json_bytes); refused")
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise CaseFormatError(str(path), f"not UTF-8 text ({exc.reason})") from exc
    except OSError as exc:
        raise CaseFormatError(str(path), f"cannot be read ({exc.strerror or exc.__class__.__name__})") from exc
    try:
        document = json.loads(text, parse_constant=_no_constants, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        raise CaseFormatError(str(path), f"invalid JSON: {exc.msg}", where=f"line {exc.lineno} col {exc.colno}") from exc
    except ValueError as exc:
        raise CaseFormatError(str(path), f"invalid JSON: {exc}") from exc
    except RecursionError as exc:
        raise CaseFormatError(
            str(path), f"invalid JSON: nested too deeply (limit {limits.max_json_depth} levels, max_json_depth)"
        ) from exc
    check_depth(document, str(path), limits.max_json_depth)
    return document


def check_depth(document: Any, file: str, max_depth: int = DEFAULT_LIMITS.max_json_depth) -> None:
    """Refuse JSON nested deeper than ``max_depth`` (the top level is depth 1), naming where it gets too deep.

    Iterative on purpose: a recursive walk would itself overflow on exactly the documents it must refuse. Level by
    level (all containers of one depth at a time), so scalars cost one ``isinstance`` each inside a comprehension.
    """
    level, depth = [document] if isinstance(document, (dict, list)) else [], 1
    while level:
        if depth > max_depth:
            raise CaseFormatError(
                file, f"nested deeper than {max_depth} levels (max_json_depth); refused", where=_path_to_depth(document, max_depth)
            )
        deeper: list[Any] = []
        for node in level:
            deeper += [child for child in (node.values() if isinstance(node, dict) else node)
                       if isinstance(child, (dict, list))]
        level, depth = deeper, depth + 1


def _path_to_depth(document: Any, max_depth: int) -> str:
    """JSON path (first eight steps) of a container deeper than ``max_depth``; the costly walk runs only on failure."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(document, ())]
    while stack:
        node, trail = stack.pop()
        if len(trail) >= max_depth:
            text = "".join(f"[{p}]" if isinstance(p, int) else f".{str(p)[:40]}" for p in trail[:8]).lstrip(".")
            return (text or "(root)") + ("..." if len(trail) > 8 else "")
        items = node.items() if isinstance(node, dict) else enumerate(node)
        stack.extend((child, (*trail, key)) for key, child in items if isinstance(child, (dict, list)))
    return "(root)"


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
        if isinstance(raw, dict) and (not isinstance(raw.get("kind"), str) or raw.get("kind") not in kinds):
            raise CaseFormatError(  # a list or object here is unhashable: the type check comes first
                file, f"unknown relation kind {repr(raw.get('kind'))[:60]} (known: {', '.join(sorted(kinds))})",
                where=f"{where}.kind"
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


def load_topology(
    case_dir: str | os.PathLike[str], limits: CaseLimits = DEFAULT_LIMITS
) -> tuple[list[Entity], list[Relation]]:
    """Read and validate ``CASE_DIR/topology.json``."""
    path = case_file(case_dir, "topology.json", max_bytes=limits.max_json_bytes)
    assert path is not None
    return parse_topology(read_json(path, limits), str(path))
