"""``Samples``: long-format metric samples as four parallel numpy arrays, the common output of every metric source.

Why not a ``SeriesFrame`` straight away: sources disagree on timestamps and steps (Prometheus at 30 s, traces
bucketed per minute, restart counts once per collection); they are concatenated first and put on one grid once,
with ``frame_from_samples``. The same arrays write ``metrics.csv`` of the case format.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
import pandas as pd

from ..frame import frame_from_samples
from ..models import SeriesFrame


@dataclass(frozen=True)
class Samples:
    """``times`` (epoch s), ``entities``, ``metrics`` (object arrays of str) and ``values`` (float, NaN = missing)."""

    times: np.ndarray
    entities: np.ndarray
    metrics: np.ndarray
    values: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.times)
        if not (len(self.entities) == len(self.metrics) == len(self.values) == n):
            raise ValueError("Samples arrays must have one length")

    def __len__(self) -> int:
        return len(self.times)

    @staticmethod
    def empty() -> "Samples":
        return Samples(np.zeros(0), np.zeros(0, dtype=object), np.zeros(0, dtype=object), np.zeros(0))

    @staticmethod
    def of(times: Sequence[float], entity: str, metric: str, values: Sequence[float]) -> "Samples":
        """One series."""
        n = len(times)
        return Samples(
            np.asarray(times, dtype=float), np.full(n, entity, dtype=object), np.full(n, metric, dtype=object),
            np.asarray(values, dtype=float),
        )

    @staticmethod
    def concat(parts: Iterable["Samples"]) -> "Samples":
        parts = [p for p in parts if len(p)]
        if not parts:
            return Samples.empty()
        return Samples(
            np.concatenate([p.times for p in parts]), np.concatenate([p.entities for p in parts]),
            np.concatenate([p.metrics for p in parts]), np.concatenate([p.values for p in parts]),
        )

    def series_keys(self) -> set[tuple[str, str]]:
        return set(zip(self.entities.tolist(), self.metrics.tolist()))

    def to_frame(self, step_s: float | None = None) -> SeriesFrame:
        return frame_from_samples(self.times, self.entities, self.metrics, self.values, step_s=step_s)

    def to_table(self) -> pd.DataFrame:
        stamps = pd.to_datetime(self.times, unit="s", utc=True).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return pd.DataFrame(
            {"timestamp": stamps, "entity": self.entities, "metric": self.metrics, "value": self.values}
        ).sort_values(["entity", "metric", "timestamp"], kind="stable")

    def write_csv(self, path: str | os.PathLike[str]) -> None:
        """``metrics.csv`` of the case format (header ``timestamp,entity,metric,value``)."""
        self.to_table().to_csv(path, index=False, na_rep="NaN")


def epoch(moment: datetime) -> float:
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()
