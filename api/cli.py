"""The ``faultline`` command line.

Each sub-command lives in its own module under ``api/commands/`` exposing ``register(subparsers)``; that function
adds a parser and sets ``handler=fn`` where ``fn(args) -> int`` returns the exit code. Errors that faultline raises
on purpose (bad case files, unknown entities, stores that are down) are printed as one line on stderr with exit
code 2 — an on-call engineer needs the reason, not a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

COMMAND_MODULES: tuple[str, ...] = (
    "api.commands.analyze",
    "api.commands.collect",
    "api.commands.demo",
    "api.commands.serve",
    "api.commands.topology",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="faultline", description="Root-cause analysis for AI-native applications.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from .errors import user_facing_errors

    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.handler(args) or 0)
    except user_facing_errors() as exc:
        print(f"faultline: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
