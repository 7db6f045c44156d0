"""``faultline demo``: build the bundled incident (with a real git repo) in a temp dir and analyse it."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import textwrap
import time


def run(args: argparse.Namespace) -> int:
    from correlators.case_files import load_case
    from ..demo import build_demo_case
    from ..insight import build_insight
    from ..render import render_text, terminal_width

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="faultline-demo-") as tmp:
        world = build_demo_case(args.keep or tmp)
        insight = build_insight(load_case(world.case_dir))
        if args.json:
            json.dump(insight.to_public(), sys.stdout, indent=2)
            sys.stdout.write("\n")
        else:
            print(textwrap.fill("faultline demo: a DeepSeek-style chat with RAG, its deployments in a real git "
                                "repository; analysing its latency incident", terminal_width()) + "\n")
            print(render_text(insight))
            print(f"\nDemo finished in {time.perf_counter() - started:.2f} s"
                  + (f"; case kept in {world.case_dir}" if args.keep else ""))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="run the bundled incident end to end (no servers, no keys)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--keep", metavar="DIR", help="write the demo case and its git repo to DIR and keep them")
    parser.set_defaults(handler=run)
