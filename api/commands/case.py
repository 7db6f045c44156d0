"""``faultline case convert CASE_DIR``: write the case's samples as ``metrics.parquet`` beside ``metrics.csv``.

The Parquet copy holds exactly the samples the CSV reader accepts, in the file's order, so an analysis reads the same
series from either (the command reads its output back and compares before keeping it). It records which CSV it came
from; the loader uses it only while that CSV is unchanged (``docs/case-format.md``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from topology.case_files import DEFAULT_LIMITS, CaseLimits


def run_convert(args: argparse.Namespace) -> int:
    import numpy as np

    from detectors.case_files import METRICS_CSV, METRICS_PARQUET, read_metrics_csv
    from detectors.metrics_parquet import read_parquet_columns, source_stamp, write_parquet
    from topology.case_files import case_file
    from topology.exceptions import CaseFormatError

    limits = CaseLimits(max_metric_rows=args.max_metric_rows)
    source = case_file(args.case_dir, METRICS_CSV, max_bytes=limits.max_csv_bytes)
    assert source is not None
    stamp = source_stamp(source)  # taken first: a CSV changed while converting no longer matches the copy
    columns = read_metrics_csv(source, limits)
    target = Path(args.case_dir) / METRICS_PARQUET
    write_parquet(columns, target, source=stamp)
    back = read_parquet_columns(target, str(target), limits)
    same = (
        back.entity_names == columns.entity_names and back.metric_names == columns.metric_names
        and np.array_equal(back.entity_codes, columns.entity_codes)
        and np.array_equal(back.metric_codes, columns.metric_codes)
        and np.array_equal(back.seconds, columns.seconds) and np.array_equal(back.values, columns.values, equal_nan=True)
    )
    if not same:
        target.unlink(missing_ok=True)
        raise CaseFormatError(str(target), "did not read back as the samples of metrics.csv; removed")
    print(f"wrote {target}: {len(columns)} samples of {len(columns.entity_names)} entities "
          f"({target.stat().st_size} bytes; {METRICS_CSV} {stamp['size']} bytes)")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("case", help="work on a case directory (see docs/case-format.md)")
    commands = parser.add_subparsers(dest="case_command", required=True, metavar="ACTION")
    convert = commands.add_parser(
        "convert", help="write CASE_DIR/metrics.parquet from CASE_DIR/metrics.csv (read faster; the CSV stays)",
        description="Read CASE_DIR/metrics.csv with every check faultline analyze applies and write the accepted "
                    "samples to CASE_DIR/metrics.parquet. faultline reads the Parquet copy instead of the CSV while "
                    "the CSV is unchanged. See docs/case-format.md.",
    )
    convert.add_argument("case_dir", metavar="CASE_DIR")
    convert.add_argument("--max-metric-rows", type=int, default=DEFAULT_LIMITS.max_metric_rows, metavar="N",
                         help="refuse a metrics.csv with more samples than this (default %(default)s)")
    convert.set_defaults(handler=run_convert)
