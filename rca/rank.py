"""``rank()``: per-candidate features (``rca.features``) scored by the fitted ranking model (``rca.model``).

Every entity in the symptom's dependency slice is a candidate — the symptom itself included, users excluded. Each
candidate carries its features, each feature's contribution to its score, its probability of being the root
cause among the candidates (the model's softmax), the evidence that put it there, and its fault chain.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import networkx as nx
import numpy as np

from correlators.align import Correlation
from correlators.canary import RolloutFinding
from correlators.models import Change, Evidence, Incident
from detectors.detect import DISPLAY_CLIP, Detection
from detectors.models import epoch_to_datetime
from topology.models import Subgraph, entity_kind

from .chain import dependency_graph, fault_chain
from .features import (
    FEATURES, EntitySignals, call_edge_owners, candidate_features, change_features, entity_signals, has_ended,
    onset_of_symptom,
)
from .model import RankingModel, calibration_input, default_model
from .models import Candidate, ScoreTerms
from .walk import WalkConfig, random_walk_with_restart


@dataclass(frozen=True)
class RankConfig:
    walk: WalkConfig = field(default_factory=WalkConfig)
    top_k: int = 10
    excluded_kinds: tuple[str, ...] = ("user",)
    model: RankingModel | None = None
    """None: the shipped fitted model (``rca/ranker_model.json``)."""


@dataclass(frozen=True)
class ScoredCandidates:
    """Every candidate's features and model score, best first (what ``rank`` turns into ``Candidate`` objects)."""

    entities: tuple[str, ...]
    features: tuple[dict[str, float], ...]
    logits: tuple[float, ...]
    probabilities: tuple[float, ...]
    walk_score: Mapping[str, float]
    graph: nx.DiGraph
    raw_logits: tuple[float, ...] = ()
    """Every candidate's model logit before releases were named above their carriers (what calibration reads)."""


def candidate_pool(subgraph: Subgraph, config: RankConfig) -> list[str]:
    return sorted(n for n in subgraph.entity_ids() if entity_kind(n) not in config.excluded_kinds)


def current_trouble(s: EntitySignals) -> float:
    """The walk's evidence on an entity: its largest bad-way shift (traffic either way), or, when that shift is over
    before the alert, what is left of it. A CPU that fell, or a fault that ended before this one, leads nowhere."""
    bad = max((s.role_size or {}).values(), default=0.0)
    return s.now_bad if has_ended(bad, s.now_bad) else bad


def featurize(
    subgraph: Subgraph,
    detection: Detection,
    correlation: Correlation,
    rollouts: Sequence[RolloutFinding],
    incident: Incident,
    config: RankConfig = RankConfig(),
) -> tuple[list[str], dict[str, dict[str, float]], dict[str, float], nx.DiGraph]:
    """(candidates, their features, the walk's evidence per entity, the dependency graph)."""
    nodes = sorted(subgraph.entity_ids())
    seen: dict[tuple, Change] = {}
    for c in [e.change for n in nodes for e in correlation.evidence_for(n) if e.change is not None] + list(
        correlation.unlinked_changes
    ):
        if incident.start <= c.at <= incident.at:
            seen.setdefault((c.at, c.entity, c.kind, c.before, c.after, c.commit), c)
    changes_in_window = [seen[k] for k in sorted(seen, key=lambda k: (k[0], k[1], k[2]))]
    graph = dependency_graph(subgraph.relations)
    graph.add_nodes_from(nodes)
    scores = detection.scores
    step = scores.split.step_s if scores.split is not None else (scores.frame.step_s if len(scores.frame.times) else 60.0)
    signals = entity_signals(scores, detection.anomalies, incident, owners=call_edge_owners(scores, graph))
    t_sym = onset_of_symptom(signals, incident.symptom, incident.at)
    changes = change_features(graph, changes_in_window, signals, rollouts, t_sym, step, incident.symptom)
    pool = candidate_pool(subgraph, config)
    # the walk follows trouble that is still there: a shift over before the alert keeps only what is left of it
    current = {n: current_trouble(s) for n, s in signals.items()}
    loudest = math.log1p(max(current.values(), default=0.0)) or 1.0
    walk_score = {
        n: max(math.log1p(current[n]) / loudest if n in signals else 0.0, changes.change.get(n, 0.0),
               changes.canary.get(n, 0.0))
        for n in nodes
    }
    edges = sorted({(r.src, r.dst) for r in subgraph.relations if r.src != r.dst})
    mass = random_walk_with_restart(nodes, edges, walk_score, incident.symptom, config.walk)
    features = candidate_features(pool, graph, signals, changes, mass, incident.symptom, step)
    return pool, features, walk_score, graph


def score_candidates(
    subgraph: Subgraph,
    detection: Detection,
    correlation: Correlation,
    rollouts: Sequence[RolloutFinding],
    incident: Incident,
    config: RankConfig = RankConfig(),
) -> ScoredCandidates:
    model = config.model or default_model()
    pool, features, walk_score, graph = featurize(subgraph, detection, correlation, rollouts, incident, config)
    rows = [features[n] for n in pool]
    logits = model.logits(rows)
    probs = model.softmax(logits)
    order = sorted(range(len(pool)), key=lambda i: (-logits[i], pool[i]))
    raw = tuple(float(x) for x in logits)
    order, promoted = promote_releases(order, pool, rollouts, graph)
    probs = probs.copy()
    logits = logits.copy()
    for artifact, carrier in promoted.items():  # the release speaks with its carrier's weight
        probs[artifact] = max(probs[artifact], probs[carrier])
        logits[artifact] = max(logits[artifact], logits[carrier])
    return ScoredCandidates(
        entities=tuple(pool[i] for i in order), features=tuple(rows[i] for i in order),
        logits=tuple(float(logits[i]) for i in order), probabilities=tuple(float(probs[i]) for i in order),
        walk_score=walk_score, graph=graph, raw_logits=raw,
    )


def promote_releases(
    order: list[int], pool: Sequence[str], rollouts: Sequence[RolloutFinding], graph: nx.DiGraph,
    min_verdict: float = 0.5,
) -> tuple[list[int], dict[int, int]]:
    """Name the release, not only what carried it: when a pod or service that carried a rollout the canary judged
    bad (verdict ≥ ``min_verdict``) ranks above that rollout's commit and image, the commit and image move up to
    just before it. The answer an on-call engineer acts on is the release (revert the commit, roll back the image);
    the chain then runs commit → image → pod → service → symptom, as the evidence does. Returns the new order and,
    for each promoted artifact, the carrier it was promoted over."""
    index = {pool[i]: i for i in order}
    carried: dict[str, list[str]] = {}
    for finding in rollouts:
        if finding.verdict < min_verdict:
            continue
        artifacts = [x for x in (finding.change.commit, finding.change.after) if x and x in index]
        carriers = {finding.change.entity, *finding.new_pods}
        for pod in finding.new_pods:
            if pod in graph:
                carriers |= set(graph.predecessors(pod))
        for c in carriers - set(artifacts):
            carried.setdefault(c, [])
            carried[c] += [a for a in artifacts if a not in carried[c]]
    out: list[int] = []
    placed: set[int] = set()
    promoted: dict[int, int] = {}
    for i in order:
        if i in placed:
            continue
        for artifact in carried.get(pool[i], ()):
            j = index[artifact]
            if j not in placed:
                out.append(j)
                placed.add(j)
                promoted[j] = i
        out.append(i)
        placed.add(i)
    return out, promoted


def _rollout_evidence(rollouts: Sequence[RolloutFinding]) -> dict[str, list[Evidence]]:
    out: dict[str, list[Evidence]] = {}
    for finding in rollouts:
        if finding.verdict <= 0:
            continue
        for entity in finding.entities:
            out.setdefault(entity, []).append(Evidence(
                kind="change", entity=entity, at=finding.change.at, weight=finding.verdict, summary=finding.summary,
                change=finding.change, explains=finding.new_pods,
            ))
    return out


def _fmt(value: float) -> str:
    return "n/a" if not math.isfinite(value) else f"{value:.4g}"


def _series_evidence(detection: Detection, i: int, entity: str) -> Evidence:
    scores = detection.scores
    key = scores.frame.keys[i]
    size = float(scores.score[i])
    shown = f"> {DISPLAY_CLIP:.0f}" if size > DISPLAY_CLIP else f"{size:.1f}"
    where = "" if key.entity == entity else f" seen from {key.entity}"
    verdict = "" if scores.significant[i] else f", below significance: p {scores.pvalue[i]:.2g}"
    weight = size / (size + 5.0) * (1.0 if scores.significant[i] else 0.5)
    return Evidence(
        kind="anomaly", entity=entity, at=epoch_to_datetime(scores.onset[i]), weight=round(min(weight, 0.8), 6),
        summary=(f"{key.metric}{where} {'up' if scores.sign[i] > 0 else 'down'} from {_fmt(scores.level[i])} to "
                 f"{_fmt(scores.current[i])} (robust z {shown}{verdict})"),
        metric=key.metric, baseline=float(scores.level[i]), current=float(scores.current[i]),
    )


def series_evidence(detection: Detection, owners: Mapping[int, str], min_score: float = 1.5, symptom: str | None = None
                    ) -> tuple[dict[str, list[Evidence]], dict[str, Evidence]]:
    """Evidence the correlator does not attach by itself: (1) call-edge rows that speak for the callee
    (``out_latency_p50_s[cartservice]`` seen from the frontend is evidence on cartservice), significant or not;
    (2) per entity, its largest shift below significance — a candidate that ranks on sizes and shapes still shows what
    moved. The symptom needs no ``min_score``: the alert already says it is in trouble, and when the model names it
    (a bad deploy of the alerting service), its own largest move is what a reader checks.
    Returns (edge evidence per owner, weak evidence per entity)."""
    scores = detection.scores
    edge: dict[str, list[Evidence]] = {}
    best: dict[str, int] = {}
    for i, key in enumerate(scores.frame.keys):
        floor = 0.0 if key.entity == symptom and i not in owners else min_score
        if scores.score[i] <= 0.0 or scores.score[i] < floor or not math.isfinite(scores.onset[i]):
            continue
        owner = owners.get(i)
        if owner is not None and owner != key.entity:
            edge.setdefault(owner, []).append(_series_evidence(detection, i, owner))
            continue
        if scores.significant[i]:
            continue
        if key.entity not in best or scores.score[i] > scores.score[best[key.entity]]:
            best[key.entity] = i
    for owner in edge:
        edge[owner] = sorted(edge[owner], key=lambda e: -e.weight)[:3]
    return edge, {entity: _series_evidence(detection, i, entity) for entity, i in best.items()}


def rank(
    subgraph: Subgraph,
    detection: Detection,
    correlation: Correlation,
    incident: Incident,
    *,
    rollouts: Sequence[RolloutFinding] = (),
    impacted: Sequence[str] = (),
    config: RankConfig = RankConfig(),
) -> list[Candidate]:
    return rank_with_confidence(subgraph, detection, correlation, incident, rollouts=rollouts, impacted=impacted,
                                config=config)[0]


def rank_with_confidence(
    subgraph: Subgraph,
    detection: Detection,
    correlation: Correlation,
    incident: Incident,
    *,
    rollouts: Sequence[RolloutFinding] = (),
    impacted: Sequence[str] = (),
    config: RankConfig = RankConfig(),
) -> tuple[list[Candidate], float | None]:
    """Ranked root-cause candidates for ``incident`` over ``subgraph`` (dependency direction), best first.

    Examples
    --------
    See ``tests/rca/test_rank_distractors.py`` (a quiet GPU under a loud model endpoint, harmless rollouts,
    retrying callers) and ``tests/rca/test_rank_real_defects.py`` (the symptom as the cause, idle blips, grids).
    """
    model = config.model or default_model()
    scored = score_candidates(subgraph, detection, correlation, rollouts, incident, config)
    extra = _rollout_evidence(rollouts)
    edge, weak = series_evidence(detection, call_edge_owners(detection.scores, scored.graph), symptom=incident.symptom)
    candidates: list[Candidate] = []
    for entity, feats, logit, prob in zip(scored.entities, scored.features, scored.logits, scored.probabilities):
        if len(candidates) >= config.top_k:
            break
        evidence = tuple(sorted((*correlation.evidence_for(entity), *extra.get(entity, ()), *edge.get(entity, ())),
                                key=lambda e: -e.weight))
        if not evidence and entity in weak:
            evidence = (weak[entity],)
        if not evidence:
            continue  # nothing moved on it and no change touched it: nothing a reader could check
        terms = ScoreTerms(
            walk=min(max(feats["walk"], 0.0), 1.0),
            anomaly=min(max(feats["size_rel"], 0.0), 1.0),
            precedence=min(max((feats["excess"] + 3.0) / 6.0, 0.0), 1.0),
            change=min(max(feats["change"], feats["canary"], 0.0), 1.0),
            distance=min(max(1.0 - feats["hops"], 0.0), 1.0),
        )
        evidence_map = {n: correlation.evidence_for(n) for n in scored.graph.nodes}
        candidates.append(Candidate(
            entity=entity, kind=entity_kind(entity), score=round(logit, 6), probability=round(prob, 6),
            terms=terms, features={f: round(feats[f], 6) for f in FEATURES},
            contributions=model.contributions(feats), evidence=evidence,
            chain=fault_chain(scored.graph, entity, incident.symptom, scored.walk_score, evidence_map, impacted),
        ))
    confidence = None
    if candidates and model.calibration.cases:
        confidence = model.calibration(calibration_input(np.array(scored.raw_logits), model.calibration.input))
    return candidates, confidence
