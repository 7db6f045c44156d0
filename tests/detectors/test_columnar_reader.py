"""The columnar reader gives the same ``SeriesFrame`` as the reader it replaced, on generated cases.

``reference_frame`` is that reader, kept readable: the whole file through ``pandas.read_csv`` as strings, the
cell-by-cell checks, names factorised per row, series sorted by (series, time) with a two-key sort for the step, and
the bincount pivot. The fast reader must agree with it to the last bit — keys in the same order, the same grid, the
same values — whatever the row order of the file, its timestamp format and whether it is read as CSV or Parquet.
"""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmarks.scenarios import CaseSpec, generate, write_case
from correlators.case_files import load_case
from detectors.case_files import load_metrics, metrics_source, parse_metrics_csv, read_metrics_csv
from detectors.frame import snap_step
from detectors.metrics_pandas import check_samples
from detectors.metrics_parquet import read_parquet_columns, source_stamp, write_parquet
from detectors.models import SeriesFrame, SeriesKey
from rca.pipeline import series_scope

ROOT = Path(__file__).resolve().parents[2]


def reference_frame(path: Path) -> SeriesFrame:
    """The pre-columnar reader and pivot, in one readable function."""
    table = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True, encoding="utf-8")
    seconds, values = check_samples(table, str(path), first_line=2)
    entity_codes, entity_names = pd.factorize(table["entity"].to_numpy(dtype=object))
    metric_codes, metric_names = pd.factorize(table["metric"].to_numpy(dtype=object))
    pairs, codes = np.unique(entity_codes.astype(np.int64) * len(metric_names) + metric_codes, return_inverse=True)
    keys = tuple(SeriesKey(str(entity_names[p // len(metric_names)]), str(metric_names[p % len(metric_names)]))
                 for p in pairs)
    order = np.lexsort((seconds, codes))
    same = codes[order][1:] == codes[order][:-1]
    diffs = np.diff(seconds[order])[same]
    diffs = diffs[diffs > 0]
    step = snap_step(float(np.median(diffs))) if diffs.size else 60.0
    start = float(seconds.min())
    n_times = int(np.rint((seconds.max() - start) / step)) + 1
    slot = np.rint((seconds - start) / step).astype(np.int64)
    present = np.isfinite(values)
    flat = codes[present] * n_times + slot[present]
    sums = np.bincount(flat, weights=values[present], minlength=len(keys) * n_times)
    counts = np.bincount(flat, minlength=len(keys) * n_times)
    with np.errstate(invalid="ignore", divide="ignore"):
        grid = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    return SeriesFrame(keys, start + step * np.arange(n_times), grid.reshape(len(keys), n_times))


def assert_same(actual: SeriesFrame, expected: SeriesFrame) -> None:
    assert actual.keys == expected.keys
    np.testing.assert_array_equal(actual.times, expected.times)
    np.testing.assert_array_equal(actual.values, expected.values)  # NaN where NaN, every other bit equal


def reorder_rows(path: Path, how: str, seed: int = 0) -> None:
    """Rewrite ``metrics.csv`` with its rows in another order (header kept)."""
    header, *rows = path.read_bytes().splitlines(keepends=True)
    if how == "time-major":  # how a Prometheus export or a merge of scrapes comes out
        rows.sort(key=lambda r: r.split(b",", 1)[0])
    elif how == "shuffled":
        rows = [rows[i] for i in np.random.default_rng(seed).permutation(len(rows))]
    path.write_bytes(header + b"".join(rows))


CASES = [
    pytest.param((CaseSpec(seed=7, fault="gpu_fault", entities=200), {}, "as-written"), id="gpu-200"),
    pytest.param((CaseSpec(seed=8, fault="bad_rollout", entities=1000, fleet_series=None), {}, "as-written"),
                 id="rollout-1000-all"),
    pytest.param((CaseSpec(seed=9, fault="memory_leak_oom", entities=200), {"iso_times": True, "full_precision": True},
                  "as-written"), id="oom-200-iso"),
    pytest.param((CaseSpec(seed=10, fault="vectordb_slowdown", entities=200), {}, "time-major"), id="vdb-200-time-major"),
    pytest.param((CaseSpec(seed=11, fault="kv_cache_pressure", entities=60), {"iso_times": True}, "shuffled"),
                 id="kv-60-shuffled"),
]


@pytest.fixture(scope="module", params=CASES)
def case_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec, options, order = request.param
    path = write_case(generate(spec), tmp_path_factory.mktemp("case") / "c", **options)
    reorder_rows(path / "metrics.csv", order)
    return path


def test_same_frame_as_the_reference_reader(case_dir: Path) -> None:
    assert_same(parse_metrics_csv(case_dir / "metrics.csv"), reference_frame(case_dir / "metrics.csv"))


def test_neighbourhood_frame_is_the_full_frames_slice(case_dir: Path) -> None:
    case = load_case(case_dir)
    wanted = series_scope()(case.entities, case.relations, case.incident)
    scoped = load_case(case_dir, series_scope=series_scope())
    assert_same(scoped.series, case.series.for_entities(wanted))
    assert 0 < len(scoped.series.keys) <= len(case.series.keys)


def test_parquet_copy_gives_the_same_frame(case_dir: Path, tmp_path: Path) -> None:
    columns = read_metrics_csv(case_dir / "metrics.csv")
    write_parquet(columns, tmp_path / "metrics.parquet")
    back = read_parquet_columns(tmp_path / "metrics.parquet")
    assert back.entity_names == columns.entity_names and back.metric_names == columns.metric_names
    assert_same(back.to_frame(), reference_frame(case_dir / "metrics.csv"))


def test_the_converted_parquet_is_read_while_the_csv_is_unchanged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    case_dir = write_case(generate(CaseSpec(seed=12, fault="node_cpu_hog", entities=60)), tmp_path / "c")
    expected = reference_frame(case_dir / "metrics.csv")
    write_parquet(read_metrics_csv(case_dir / "metrics.csv"), case_dir / "metrics.parquet",
                  source=source_stamp(case_dir / "metrics.csv"))
    assert metrics_source(case_dir).name == "metrics.parquet"
    assert_same(load_metrics(case_dir), expected)

    (case_dir / "metrics.csv").write_bytes(b"timestamp,entity,metric,value\n1700000000,app:x,rps,1\n")
    assert metrics_source(case_dir).name == "metrics.csv"  # a stale Parquet copy is not read in place of a new CSV
    assert "faultline case convert" in caplog.text
    assert load_metrics(case_dir).keys == (SeriesKey("app:x", "rps"),)

    (case_dir / "metrics.csv").unlink()
    assert_same(load_metrics(case_dir), expected)  # a Parquet file alone is the case's samples


def test_reading_a_clean_case_imports_neither_pandas_nor_pyarrow_compute(tmp_path: Path) -> None:
    case_dir = write_case(generate(CaseSpec(seed=13, fault="gpu_fault", entities=200)), tmp_path / "c")
    code = (
        "import sys\n"
        "from correlators.case_files import load_case\n"
        "from rca.pipeline import series_scope\n"
        f"case = load_case({str(case_dir)!r}, series_scope=series_scope())\n"
        "assert case.series.keys\n"
        "print(' '.join(m for m in ('pandas', 'pyarrow.compute', 'statsmodels') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_whitespace_padded_and_mixed_cells_take_the_exact_path_with_the_same_answer() -> None:
    data = (b"timestamp, entity, metric, value\n"
            b"1700000000, app:chat, rps, 1\n"
            b"2023-11-14T22:13:50Z,app:chat,rps, 2 \n"
            b"1700000060,app:chat,rps,NaN\n"
            b"1700000090,app:chat,rps,\n")
    from detectors.case_files import parse_metrics_stream

    frame = parse_metrics_stream(io.BytesIO(data), "m.csv")
    assert frame.keys == (SeriesKey("app:chat", "rps"),)
    np.testing.assert_array_equal(frame.values[0], [1.0, 2.0, np.nan, np.nan])
