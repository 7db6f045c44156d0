"""``faultline analyze CASE_DIR [--json] [--llm]``."""

from __future__ import annotations

import argparse
import json
import sys

from topology.case_files import DEFAULT_LIMITS, CaseLimits


def _neighbourhood(entities, relations, incident) -> set[str]:  # type: ignore[no-untyped-def]
    """The entities whose series the analysis reads (``rca.series_scope``).

    Imported here, inside the loader's call, on purpose: the ranking modules (scipy, networkx) then load while the
    loader's other thread is parsing the samples, instead of before it starts.
    """
    from rca.pipeline import series_scope

    return series_scope()(entities, relations, incident)


def run(args: argparse.Namespace) -> int:
    from correlators.case_files import load_case

    # only the symptom neighbourhood's series are materialised: the analysis reads no others
    case = load_case(args.case_dir, CaseLimits(max_metric_rows=args.max_metric_rows), series_scope=_neighbourhood)
    from ..insight import build_insight
    from ..render import render_text

    if args.llm:  # grounded LLM narrative (FAULTLINE_LLM_*); the template's, flagged with the reason, if it fails
        from narrator.narrate import narrate

        insight = build_insight(case, narrate=lambda analysis: narrate(analysis, use_llm=True))
    else:
        insight = build_insight(case)
    if args.json:
        json.dump(insight.to_public(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(render_text(insight, top=args.top))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "analyze", help="analyse an incident case directory (format: docs/case-format.md)",
        description="Rank the root-cause candidates of the incident in CASE_DIR: topology.json, metrics.csv (or "
                    "metrics.parquet, see 'faultline case convert'), incident.json and optionally changes.json and "
                    "events.json. The case format is described in docs/case-format.md of the faultline repository.",
    )
    parser.add_argument("case_dir", metavar="CASE_DIR")
    parser.add_argument("--json", action="store_true", help="print the JSON document instead of text")
    parser.add_argument("--top", type=int, default=5, help="candidates to show in text mode")
    parser.add_argument("--max-metric-rows", type=int, default=DEFAULT_LIMITS.max_metric_rows, metavar="N",
                        help="refuse a metrics file with more samples than this (default %(default)s)")
    parser.add_argument("--llm", action="store_true",
                        help="narrate with the LLM at FAULTLINE_LLM_BASE_URL / FAULTLINE_LLM_MODEL (grounded; falls back to the template)")
    parser.set_defaults(handler=run)
