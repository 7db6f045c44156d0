"""The live backend reads what ``faultline collect`` saved once, within the case format's limits, and again only after
a collection round rewrote a file; a file it cannot read is named in ``partial``, not a failed insight."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from api.services.backend import LiveBackend
from detectors.models import SeriesKey
from detectors.roles import Role
from detectors.sources.samples import Samples
from topology.case_files import CaseLimits
from topology.memory_store import MemoryStore

T0 = 1_795_000_000.0
END = datetime.fromtimestamp(T0 + 30 * 59, tz=timezone.utc)


def _metrics(directory: Path, level: float) -> None:
    times = T0 + 30.0 * np.arange(60)
    tmp = directory / "metrics.csv.tmp"
    Samples.of(times, "app:chat", "checkout_p99", np.full(times.size, level)).write_csv(tmp)
    tmp.replace(directory / "metrics.csv")  # as save_collected does: a new file moved into place


def _window(backend: LiveBackend):
    return backend.window({"app:chat"}, END - timedelta(minutes=30), END)


def test_parsed_once_reparsed_after_a_rewrite_and_meta_honoured(tmp_path: Path) -> None:
    _metrics(tmp_path, 1.0)
    (tmp_path / "metrics_meta.json").write_text(json.dumps({"checkout_p99": {"role": "latency", "unit": "s"}}))
    backend = LiveBackend(MemoryStore(), collected_dir=tmp_path)
    for _ in range(3):
        data = _window(backend)
    assert backend._collected is not None and backend._collected.reads == 1
    assert np.nanmax(data.series.row(SeriesKey("app:chat", "checkout_p99"))) == 1.0
    assert data.metrics_meta["checkout_p99"].role is Role.LATENCY
    _metrics(tmp_path, 3.0)  # same size, new inode
    assert np.nanmax(_window(backend).series.row(SeriesKey("app:chat", "checkout_p99"))) == 3.0
    assert backend._collected.reads == 2


def test_a_file_over_the_limits_is_partial_not_fatal(tmp_path: Path) -> None:
    _metrics(tmp_path, 1.0)
    (tmp_path / "events.json").write_text(json.dumps([
        {"entity": "app:chat", "reason": "BackOff", "at": (END - timedelta(hours=2)).isoformat(),
         "last_at": (END - timedelta(minutes=5)).isoformat()}]))
    backend = LiveBackend(MemoryStore(), collected_dir=tmp_path, limits=CaseLimits(max_metric_rows=10))
    data = _window(backend)
    assert len(data.series.keys) == 0
    assert len(data.partial) == 1 and "metrics.csv" in data.partial[0] and "max_metric_rows" in data.partial[0]
    (event,) = data.events  # a BackOff recurring since before the window is seen at the window's start
    assert event.at == END - timedelta(minutes=30)
