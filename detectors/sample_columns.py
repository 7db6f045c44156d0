"""``SampleColumns``: long-format samples as numbers — what the columnar case readers produce before pivoting.

Why a separate shape from ``Samples`` (``detectors.sources.samples``): a 1.5 M-row ``metrics.csv`` names a few
thousand entities and a few dozen metrics; keeping one Python string per row (``Samples``' object arrays) costs more
than parsing the file. Here names are held once and rows carry integer codes, so filtering to a neighbourhood and
pivoting to a ``SeriesFrame`` are numpy operations over the rows with no Python loop.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from .frame import first_appearance_codes, frame_from_codes
from .models import SeriesFrame


@dataclass(frozen=True)
class SampleColumns:
    """``seconds`` (epoch s), ``values`` (NaN = missing) and per-row codes into ``entity_names`` / ``metric_names``.

    Names are numbered in order of first appearance, so the frame's series come out in the order the file shows them.
    """

    seconds: np.ndarray
    entity_codes: np.ndarray
    entity_names: tuple[str, ...]
    metric_codes: np.ndarray
    metric_names: tuple[str, ...]
    values: np.ndarray

    def __len__(self) -> int:
        return int(self.seconds.size)

    @staticmethod
    def empty() -> "SampleColumns":
        no_codes = np.zeros(0, dtype=np.int64)
        return SampleColumns(np.zeros(0), no_codes, (), no_codes, (), np.zeros(0))

    def to_frame(self, entities: Collection[str] | None = None, step_s: float | None = None) -> SeriesFrame:
        """The series on one grid; only ``entities``' series are materialised (the grid still spans every sample)."""
        return frame_from_codes(
            self.seconds, self.entity_codes, self.entity_names, self.metric_codes, self.metric_names, self.values,
            step_s=step_s, entities=entities,
        )


class Vocabulary:
    """Names met so far across chunks of a file, each with a stable integer code."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}

    def codes_for(self, names: Iterable[str]) -> np.ndarray:
        """Global codes of a chunk's own distinct names (its dictionary), in the chunk's order."""
        index = self.index
        return np.fromiter((index.setdefault(n, len(index)) for n in names), dtype=np.int64)

    def names(self) -> list[str]:
        return list(self.index)


@dataclass
class ColumnsBuilder:
    """Collects coded chunks of a file, then renumbers names by first appearance once, at the end."""

    def __post_init__(self) -> None:
        self.entities = Vocabulary()
        self.metrics = Vocabulary()
        self._parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []

    def add(self, seconds: np.ndarray, entity_codes: np.ndarray, metric_codes: np.ndarray, values: np.ndarray) -> None:
        """One chunk; codes are this builder's vocabulary codes (``self.entities.codes_for(...)[local]``)."""
        if seconds.size:
            self._parts.append((seconds, entity_codes, metric_codes, values))

    def build(self) -> SampleColumns:
        if not self._parts:
            return SampleColumns.empty()
        seconds, entity_codes, metric_codes, values = (
            np.concatenate(column) if len(self._parts) > 1 else column[0] for column in zip(*self._parts)
        )
        entity_codes, entity_names = _reorder(entity_codes, self.entities.names())
        metric_codes, metric_names = _reorder(metric_codes, self.metrics.names())
        return SampleColumns(np.asarray(seconds, dtype=np.float64), entity_codes, entity_names, metric_codes,
                             metric_names, np.asarray(values, dtype=np.float64))


def _reorder(codes: np.ndarray, names: Sequence[str]) -> tuple[np.ndarray, tuple[str, ...]]:
    new_codes, order = first_appearance_codes(codes, len(names))
    return new_codes, tuple(names[i] for i in order.tolist())
