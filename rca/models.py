"""What the ranker returns: candidates with their score terms, evidence and fault chain."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from correlators.models import Change, Evidence, Incident
from detectors.models import Anomaly


class ScoreTerms(BaseModel):
    """A five-number summary of a candidate's features, each in [0, 1], for displays that want a fixed shape:
    ``walk`` (relative visit mass), ``anomaly`` (relative size of its own shift), ``precedence`` (how much louder it is
    than what it depends on), ``change`` (confirmed change or failed canary), ``distance`` (closeness to the symptom).
    The ranking itself uses ``Candidate.features`` through the fitted model."""

    model_config = ConfigDict(frozen=True)

    walk: float
    anomaly: float
    precedence: float
    change: float
    distance: float


class ChainHop(BaseModel):
    """One step of a fault chain: the entity, the relation to the next hop, what is wrong with it."""

    model_config = ConfigDict(frozen=True)

    entity: str
    relation: str | None = None
    evidence: tuple[str, ...] = ()


class FaultChain(BaseModel):
    """From the root-cause candidate to the symptom, then on to the impacted users."""

    model_config = ConfigDict(frozen=True)

    hops: tuple[ChainHop, ...]

    @property
    def entities(self) -> list[str]:
        return [hop.entity for hop in self.hops]


class Candidate(BaseModel):
    """A root-cause candidate: ranked, scored by named terms, with the evidence that put it there."""

    model_config = ConfigDict(frozen=True)

    entity: str
    kind: str
    score: float
    """The fitted model's logit: comparable between the candidates of one incident."""
    terms: ScoreTerms
    evidence: tuple[Evidence, ...]
    chain: FaultChain
    probability: float = 0.0
    """The model's probability that this candidate is the root cause, among this incident's candidates."""
    features: dict[str, float] = {}
    contributions: dict[str, float] = {}
    """Each feature's part of ``score`` (weight × standardised value)."""


class Analysis(BaseModel):
    """The ranker's whole answer for one incident, before any narrative."""

    model_config = ConfigDict(frozen=True)

    incident: Incident
    candidates: tuple[Candidate, ...]
    anomalies: tuple[Anomaly, ...]
    changes: tuple[Change, ...]
    unlinked_changes: tuple[Change, ...] = ()
    model_version: str = ""
    subgraph_entities: int = 0
    subgraph_relations: int = 0
    timings_ms: dict[str, float] = {}
    confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    """P(the top candidate is the root cause), calibrated on development incidents; None while uncalibrated."""
    calibrated_on: int | None = Field(default=None, ge=0)
    """How many development incidents ``confidence`` was calibrated on (said next to the number)."""
