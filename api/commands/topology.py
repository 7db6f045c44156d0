"""``faultline topology load CASE_DIR`` and ``faultline topology show ID --hops N --at T [--json]``.

Both use the store that ``FAULTLINE_*`` configures (``topology/config.py``): Neo4j when ``FAULTLINE_STORE=neo4j``
or a ``FAULTLINE_NEO4J_URI`` is set, else a MemoryStore file — ``FAULTLINE_GRAPH_FILE``, ``--graph-file``, or
``~/.local/share/faultline/graph.json`` so that a ``load`` and a later ``show`` meet. Loading is an upsert under the
store's versioning rule: loading the same case twice changes nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import deque
from datetime import datetime, timezone
from pathlib import Path

from pydantic import ValidationError

from topology.case_files import load_topology
from topology.config import StoreSettings, default_graph_file, open_store
from topology.exceptions import UnknownEntityError
from topology.memory_store import MemoryStore
from topology.models import Subgraph
from topology.store import GraphStore
from topology.timeutil import iso, parse_time


def _open(args: argparse.Namespace) -> tuple[GraphStore, str] | None:
    """The configured store and a one-line description of it; None (after printing why) on bad settings."""
    try:
        settings = StoreSettings()
    except ValidationError as exc:
        first = exc.errors()[0]
        _usage_error(f"store settings: {str(first.get('msg', 'invalid')).removeprefix('Value error, ')}")
        return None
    if args.graph_file is not None:
        settings = settings.model_copy(update={"graph_file": args.graph_file, "store": "memory"})
    store = open_store(settings, graph_file=default_graph_file())
    if isinstance(store, MemoryStore):
        return store, f"graph file {store.path}" if store.path else "memory"
    return store, repr(store)


def _usage_error(message: str) -> int:
    print(f"faultline: error: {message}", file=sys.stderr)
    return 2


def run_load(args: argparse.Namespace) -> int:
    entities, relations = load_topology(args.case_dir)
    opened = _open(args)
    if opened is None:
        return 2
    store, where = opened
    try:
        store.upsert_entities(entities)
        store.upsert_relations(relations)
        held_entities, held_relations = store.counts()
    finally:
        store.close()
    print(f"loaded {len(entities)} entities and {len(relations)} relations from {args.case_dir} into {where} "
          f"(it now holds {held_entities} entities, {held_relations} relation versions)")
    return 0


def _distances(sub: Subgraph, direction: str) -> dict[str, int]:
    """Hop distance of every entity from the root, along the relations the query followed."""
    neighbours: dict[str, set[str]] = {}
    for rel in sub.relations:
        if direction in ("down", "both"):
            neighbours.setdefault(rel.src, set()).add(rel.dst)
        if direction in ("up", "both"):
            neighbours.setdefault(rel.dst, set()).add(rel.src)
    distance = {sub.root: 0}
    queue = deque([sub.root])
    while queue:
        node = queue.popleft()
        for nxt in sorted(neighbours.get(node, ())):
            if nxt not in distance:
                distance[nxt] = distance[node] + 1
                queue.append(nxt)
    return distance


def _render(sub: Subgraph, args: argparse.Namespace, at: datetime, since: datetime | None) -> str:
    window = f"over [{iso(since)}, {iso(at)}]" if since else f"at {iso(at)}"
    lines = [f"{sub.root}: {args.hops}-hop {args.direction} neighbourhood {window}",
             f"{len(sub.entities)} entities, {len(sub.relations)} relations", ""]
    distance = _distances(sub, args.direction)
    for entity in sorted(sub.entities, key=lambda e: (distance.get(e.id, args.hops + 1), e.id)):
        hop = distance.get(entity.id)
        attrs = " ".join(f"{k}={v}" for k, v in sorted(entity.attrs.items()))
        lines.append(f"  [{hop if hop is not None else '-'}] {entity.id}" + (f"  {attrs}" if attrs else ""))
    if sub.relations:
        lines.append("")
    for rel in sorted(sub.relations, key=lambda r: (r.src, r.kind.value, r.dst, iso(r.valid_from) or "")):
        valid = f"{iso(rel.valid_from) or '-inf'} .. {iso(rel.valid_to) or 'open'}"
        lines.append(f"  {rel.src} -{rel.kind.value}-> {rel.dst}  [{valid}]")
    return "\n".join(lines)


def run_show(args: argparse.Namespace) -> int:
    try:
        at = parse_time(args.at) if args.at is not None else datetime.now(timezone.utc)
        since = parse_time(args.since) if args.since is not None else None
    except ValueError as exc:
        return _usage_error(f"--at/--since: {exc}")
    if since is not None and since > at:
        return _usage_error("--since must not be after --at")
    opened = _open(args)
    if opened is None:
        return 2
    store, where = opened
    try:
        sub = store.subgraph(args.entity, hops=args.hops, at=at, since=since, direction=args.direction)
    except UnknownEntityError as exc:
        exc.suggestions  # noqa: B018 - look for "did you mean" ids while the store is still open
        raise
    finally:
        store.close()
    if args.json:
        document = {
            "root": sub.root, "hops": args.hops, "direction": args.direction, "at": iso(at), "since": iso(since),
            "store": where,
            "entities": [e.model_dump(mode="json") for e in sub.entities],
            "relations": [r.model_dump(mode="json") for r in sub.relations],
        }
        json.dump(document, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(_render(sub, args, at, since))
    return 0


def _hops(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 12:
        raise argparse.ArgumentTypeError("hops must be between 0 and 12")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("topology", help="load a case's topology into the store, or show a neighbourhood")
    commands = parser.add_subparsers(dest="topology_command", required=True, metavar="ACTION")
    graph_file_help = "MemoryStore file to use instead of FAULTLINE_* settings"

    load = commands.add_parser("load", help="upsert CASE_DIR/topology.json into the configured store")
    load.add_argument("case_dir", metavar="CASE_DIR", type=Path)
    load.add_argument("--graph-file", type=Path, help=graph_file_help)
    load.set_defaults(handler=run_load)

    show = commands.add_parser("show", help="the neighbourhood of an entity as it was at a time")
    show.add_argument("entity", metavar="ID", help="entity id, e.g. app:chat-frontend")
    show.add_argument("--hops", type=_hops, default=2, help="how many relations away (default 2)")
    show.add_argument("--at", help="ISO-8601 or epoch time (default: now)")
    show.add_argument("--since", help="also include relations valid at any moment of [SINCE, AT]")
    show.add_argument("--direction", choices=("down", "up", "both"), default="down",
                      help="down = towards dependencies (causes), up = towards dependents (impact)")
    show.add_argument("--json", action="store_true", help="print JSON instead of text")
    show.add_argument("--graph-file", type=Path, help=graph_file_help)
    show.set_defaults(handler=run_show)
