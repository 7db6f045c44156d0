"""Human-readable rendering of an insight for the terminal."""

from __future__ import annotations

from topology.models import short_id

from .insight import Insight


def render_text(insight: Insight, top: int = 5) -> str:
    a, n = insight.analysis, insight.narrative
    lines = [
        f"Incident: {a.incident.title or a.incident.symptom}",
        f"  symptom {a.incident.symptom} at {a.incident.at:%Y-%m-%d %H:%M:%S}Z, lookback {a.incident.lookback}",
        f"  subgraph: {a.subgraph_entities} entities, {a.subgraph_relations} relations; {len(a.anomalies)} anomalies, {len(a.changes)} changes",
        "",
        "Root-cause candidates:",
    ]
    for i, c in enumerate(a.candidates[:top], start=1):
        t = c.terms
        lines.append(
            f"  {i}. {short_id(c.entity)}  score {c.score:.3f}  "
            f"(walk {t.walk:.2f}, anomaly {t.anomaly:.2f}, precedence {t.precedence:.2f}, change {t.change:.2f}, distance {t.distance:.2f})"
        )
        for e in c.evidence[:3]:
            lines.append(f"       - [{e.kind}] {e.summary}")
    if a.candidates:
        lines += ["", "Fault chain (cause → symptom → users):"]
        for hop in a.candidates[0].chain.hops:
            lines.append(f"  {short_id(hop.entity)}" + (f"  — {hop.evidence[0]}" if hop.evidence else ""))
    lines += ["", f"Narrative ({n.narrator}{', ' + n.model if n.model else ''}; confidence {n.confidence:.2f}):", f"  {n.summary}"]
    if n.fallback_reason:
        lines.append(f"  (template used because: {n.fallback_reason})")
    lines += ["", "Event chain:"]
    lines += [f"  {s.at:%H:%M:%S}  {short_id(s.entity)}: {s.what}" for s in n.event_chain]
    lines += ["", "Fix suggestions:"]
    lines += [f"  * {f.action}\n      on {short_id(f.entity)}; risk: {f.risk}" for f in n.fix_suggestions] or ["  (none derived)"]
    lines += ["", "Timings (ms): " + ", ".join(f"{k} {v:.1f}" for k, v in insight.timings_ms.items())]
    return "\n".join(lines)
