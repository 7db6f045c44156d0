"""The live backend parses the collected directory once and again only after a collection round rewrote a file."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from api.services.backend import LiveBackend
from detectors.models import SeriesKey
from detectors.sources.samples import Samples
from topology.memory_store import MemoryStore

T0 = 1_795_000_000.0


def write_metrics(directory: Path, level: float) -> None:
    """As ``save_collected`` does: a new file moved into place."""
    times = T0 + 30.0 * np.arange(60)
    tmp = directory / "metrics.csv.tmp"
    Samples.of(times, "app:chat", "latency_p95_s", np.full(times.size, level)).write_csv(tmp)
    tmp.replace(directory / "metrics.csv")


def window(backend: LiveBackend) -> tuple[float, int]:
    end = datetime.fromtimestamp(T0 + 30 * 59, tz=timezone.utc)
    data = backend.window({"app:chat"}, end - timedelta(minutes=30), end)
    return float(np.nanmax(data.series.row(SeriesKey("app:chat", "latency_p95_s")))), len(data.events)


def test_unchanged_files_are_parsed_once_and_rewritten_ones_again(tmp_path: Path) -> None:
    write_metrics(tmp_path, 1.0)
    backend = LiveBackend(MemoryStore(), collected_dir=tmp_path)
    cache = backend._collected
    assert cache is not None
    assert window(backend) == (1.0, 0)
    assert window(backend) == (1.0, 0)
    assert cache.reads == 1, "an unchanged directory must not be parsed again"

    write_metrics(tmp_path, 2.0)
    assert window(backend) == (2.0, 0)
    assert cache.reads == 2

    events = [{"entity": "app:chat", "reason": "OOMKilled", "at": T0 + 30 * 50}]
    (tmp_path / "events.json").write_text(json.dumps(events))
    assert window(backend) == (2.0, 1)
    assert cache.reads == 3
    assert window(backend) == (2.0, 1)
    assert cache.reads == 3


def test_a_rewrite_within_the_same_second_is_seen(tmp_path: Path) -> None:
    """Same size, same mtime (set back): the new inode of the replaced file still changes the key."""
    write_metrics(tmp_path, 1.0)
    before = os.stat(tmp_path / "metrics.csv")
    backend = LiveBackend(MemoryStore(), collected_dir=tmp_path)
    assert window(backend)[0] == 1.0
    write_metrics(tmp_path, 3.0)  # "3.0" and "1.0": same length, so the same size
    os.utime(tmp_path / "metrics.csv", ns=(before.st_atime_ns, before.st_mtime_ns))
    assert os.stat(tmp_path / "metrics.csv").st_size == before.st_size
    assert window(backend)[0] == 3.0
