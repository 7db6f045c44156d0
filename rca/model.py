"""The fitted ranking model: a conditional logit (softmax over one incident's candidates) on ``FEATURES``.

Why this model: an incident has one root cause among its candidates, so the natural likelihood is "the right
candidate wins the softmax of its case" (McFadden's conditional logit, a listwise learning-to-rank loss). Its
weights are readable — one per named feature, on standardised features — and its softmax is a probability that the
calibration step only has to correct, not invent.

The weights are **fitted**, never hand-set: ``benchmarks/fit_ranker.py`` fits them on the development suites (real
and generated), validates leave-one-dataset-out, fits the calibration of the top candidate's probability on the
held-out folds, and writes ``ranker_model.json`` beside this module. That file is versioned data: its ``version``,
the suites it was fitted on and its validation table travel with it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .exceptions import RcaError
from .features import FEATURES

MODEL_PATH = Path(__file__).with_name("ranker_model.json")


@dataclass(frozen=True)
class Calibration:
    """Maps the model's top softmax probability to P(top candidate is right): isotonic steps on fitted knots."""

    knots_x: tuple[float, ...] = (0.0, 1.0)
    knots_y: tuple[float, ...] = (0.0, 1.0)
    cases: int = 0
    input: str = "top_probability"
    """What is mapped: ``top_probability`` (the top candidate's softmax probability) or ``margin`` (``1 - exp(-d)``
    with ``d`` the logit gap between the first two candidates — how clearly the top one stands out)."""

    def __call__(self, p: float) -> float:
        return float(np.interp(p, self.knots_x, self.knots_y))


@dataclass(frozen=True)
class RankingModel:
    """Standardise, dot with the weights, softmax within the incident."""

    features: tuple[str, ...]
    weights: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    calibration: Calibration
    version: str = "unfitted"
    fitted_on: tuple[str, ...] = ()

    def logits(self, rows: Sequence[Mapping[str, float]]) -> np.ndarray:
        if not rows:
            return np.zeros(0)
        x = np.array([[float(r.get(f, 0.0)) for f in self.features] for r in rows])
        return ((x - self.mean) / self.std) @ self.weights

    def contributions(self, row: Mapping[str, float]) -> dict[str, float]:
        """Each feature's share of a candidate's logit (weight × standardised value): why it ranks where it does."""
        x = np.array([float(row.get(f, 0.0)) for f in self.features])
        parts = (x - self.mean) / self.std * self.weights
        return {f: round(float(v), 4) for f, v in zip(self.features, parts)}

    @staticmethod
    def softmax(logits: np.ndarray) -> np.ndarray:
        if logits.size == 0:
            return logits
        e = np.exp(logits - logits.max())
        return e / e.sum()

    def to_document(self, extra: Mapping[str, object] | None = None) -> dict[str, object]:
        return {
            "version": self.version,
            "kind": "conditional-logit",
            "features": list(self.features),
            "weights": [round(float(w), 6) for w in self.weights],
            "mean": [round(float(m), 6) for m in self.mean],
            "std": [round(float(s), 6) for s in self.std],
            "calibration": {"x": list(self.calibration.knots_x), "y": list(self.calibration.knots_y),
                            "cases": self.calibration.cases, "input": self.calibration.input},
            "fitted_on": list(self.fitted_on),
            **dict(extra or {}),
        }

    @classmethod
    def from_document(cls, doc: Mapping[str, object], source: str = "model") -> "RankingModel":
        try:
            features = tuple(str(f) for f in doc["features"])  # type: ignore[union-attr]
            unknown = set(features) - set(FEATURES)
            if unknown:
                raise RcaError(f"{source}: unknown features {sorted(unknown)}")
            cal = doc.get("calibration") or {}
            std = np.array(doc["std"], dtype=float)  # type: ignore[arg-type]
            return cls(
                features=features,
                weights=np.array(doc["weights"], dtype=float),  # type: ignore[arg-type]
                mean=np.array(doc["mean"], dtype=float),  # type: ignore[arg-type]
                std=np.where(std > 0, std, 1.0),
                calibration=Calibration(tuple(cal.get("x", (0.0, 1.0))), tuple(cal.get("y", (0.0, 1.0))),  # type: ignore[union-attr]
                                        int(cal.get("cases", 0)), str(cal.get("input", "top_probability"))),  # type: ignore[union-attr]
                version=str(doc.get("version", "unknown")),
                fitted_on=tuple(str(s) for s in doc.get("fitted_on", ())),  # type: ignore[union-attr]
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise RcaError(f"{source}: not a ranking model document ({exc})") from exc


def calibration_input(logits: np.ndarray, kind: str) -> float:
    """The value the calibration maps, from an incident's candidate logits (any order)."""
    if logits.size == 0:
        return 0.0
    top = np.sort(logits)[::-1]
    if kind == "margin":
        return float(1.0 - math.exp(-(top[0] - top[1]))) if top.size > 1 else 1.0
    p = np.exp(logits - top[0])
    return float(1.0 / p.sum())


@lru_cache(maxsize=4)
def _load(path: str) -> RankingModel:
    p = Path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RcaError(f"ranking model {p}: {exc}") from exc
    return RankingModel.from_document(doc, str(p))


def default_model() -> RankingModel:
    """The shipped fitted model (``ranker_model.json``)."""
    return _load(str(MODEL_PATH))


def top_gap(probabilities: np.ndarray) -> float:
    """Odds ratio of the first over the second candidate, in natural log units (0 = a tie)."""
    if probabilities.size < 2:
        return math.inf
    top = np.sort(probabilities)[::-1]
    return float(math.log(max(top[0], 1e-12) / max(top[1], 1e-12)))
