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
    "api.commands.case",
    "api.commands.collect",
    "api.commands.demo",
    "api.commands.serve",
    "api.commands.topology",
)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or of ``only`` that one (its module is then the only one imported)."""
    parser = argparse.ArgumentParser(prog="faultline", description="Root-cause analysis for AI-native applications.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        if only is None or name.rpartition(".")[2] == only:
            importlib.import_module(name).register(subparsers)
    return parser


def _command(argv: Sequence[str]) -> str | None:
    """The command word of ``argv`` when it names a known command (``-h`` before it means: show them all).

    Why: importing every command module to build the parser costs start-up time that ``faultline analyze`` should
    not pay (``collect`` alone pulls in networkx); a typo still gets the full parser and its list of choices.
    """
    for arg in argv:
        if arg.startswith("-"):
            if arg in ("-h", "--help"):
                return None
            continue
        return arg if any(name.rpartition(".")[2] == arg for name in COMMAND_MODULES) else None
    return None


def main(argv: Sequence[str] | None = None) -> int:
    from .errors import user_facing_errors

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_command(argv))
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
