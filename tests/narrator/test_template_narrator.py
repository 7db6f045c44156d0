"""The template narrator on the demo incident: time-ordered chain, rollback and revert suggestions."""

from __future__ import annotations

from pathlib import Path

from api.demo import build_demo_case
from correlators import load_case
from narrator import narrate_template
from rca import analyze


def test_demo_narrative(tmp_path: Path) -> None:
    world = build_demo_case(tmp_path)
    analysis = analyze(load_case(world.case_dir))
    narrative = narrate_template(analysis)
    assert narrative.narrator == "template" and 0 < narrative.confidence <= 1
    times = [step.at for step in narrative.event_chain]
    assert times == sorted(times)
    assert narrative.event_chain[-1].entity == world.symptom  # the alert closes the chain
    actions = " ".join(f.action for f in narrative.fix_suggestions)
    assert "Roll back" in actions and world.bad_commit[:12] in actions and "max_num_seqs" in actions
    known = {e for c in analysis.candidates for e in c.chain.entities} | {a.entity for a in analysis.anomalies} | {
        c.entity for c in analysis.changes} | {c.commit for c in analysis.changes if c.commit}
    assert narrative.root_cause in known
    assert all(step.entity in known for step in narrative.event_chain)
    assert all(fix.entity in known for fix in narrative.fix_suggestions)
