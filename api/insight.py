"""An insight: the ranked analysis plus its narrative, and its JSON form (docs/case-format.md's analyze output)."""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel, ConfigDict

from correlators.models import Case
from narrator.models import Narrative
from narrator.template import narrate_template
from rca.models import Analysis
from rca.pipeline import AnalysisConfig, analyze


class Insight(BaseModel):
    model_config = ConfigDict(frozen=True)

    analysis: Analysis
    narrative: Narrative
    timings_ms: dict[str, float]

    def to_public(self) -> dict[str, Any]:
        """The JSON document of ``faultline analyze --json`` and of the API."""
        a = self.analysis
        return {
            "incident": a.incident.model_dump(mode="json"),
            "candidates": [
                {
                    "rank": i,
                    "entity": c.entity,
                    "kind": c.kind,
                    "score": c.score,
                    "terms": c.terms.model_dump(),
                    "evidence": [e.model_dump(mode="json", exclude_none=True) for e in c.evidence],
                    "chain": c.chain.entities,
                    "chain_hops": [h.model_dump(mode="json") for h in c.chain.hops],
                }
                for i, c in enumerate(a.candidates, start=1)
            ],
            "anomalies": [x.model_dump(mode="json") for x in a.anomalies],
            "changes": [x.model_dump(mode="json") for x in a.changes],
            "unlinked_changes": [x.model_dump(mode="json") for x in a.unlinked_changes],
            "subgraph": {"entities": a.subgraph_entities, "relations": a.subgraph_relations},
            "narrative": self.narrative.model_dump(mode="json"),
            "timings_ms": self.timings_ms,
        }


def build_insight(case: Case, config: AnalysisConfig = AnalysisConfig(), narrate=narrate_template) -> Insight:
    """Analyse ``case`` and narrate the result. ``narrate`` maps an ``Analysis`` to a ``Narrative``."""
    analysis = analyze(case, config)
    started = time.perf_counter()
    narrative = narrate(analysis)
    timings = {**analysis.timings_ms, "narrate": round((time.perf_counter() - started) * 1000, 3)}
    timings["total"] = round(sum(timings.values()), 3)
    return Insight(analysis=analysis, narrative=narrative, timings_ms=timings)
