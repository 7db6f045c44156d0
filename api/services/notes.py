"""The text of the note posted back to a PagerDuty incident: the top cause, its chain, the fix, a console link."""

from __future__ import annotations

from typing import Any

MAX_EVIDENCE_LINES = 4


def insight_note(result: dict[str, Any], console_url: str) -> str:
    lines = ["faultline root-cause insight"]
    candidates = result.get("candidates") or []
    if candidates:
        top = candidates[0]
        lines.append(f"Most likely cause: {top['entity']} (score {float(top.get('score', 0)):.2f})")
        chain = top.get("chain") or []
        if chain:
            lines.append("Fault chain: " + " -> ".join(chain))
        for ev in (top.get("evidence") or [])[:MAX_EVIDENCE_LINES]:
            if ev.get("summary"):
                lines.append(f"  - {ev['summary']}")
        others = [c["entity"] for c in candidates[1:3]]
        if others:
            lines.append("Also considered: " + ", ".join(others))
    else:
        lines.append("No root-cause candidate stood out in the symptom's neighbourhood.")
    for gap in result.get("partial") or []:
        lines.append(f"Partial evidence: {gap}")
    narrative = result.get("narrative") or {}
    if narrative.get("summary"):
        lines.append("")
        lines.append(str(narrative["summary"]))
    fixes = narrative.get("fix_suggestions") or []
    if fixes:
        lines.append("Suggested fixes:")
        for fix in fixes[:3]:
            lines.append(f"  - {fix.get('action', '')} ({fix.get('entity', '')}; risk: {fix.get('risk', '')})")
    lines.append("")
    lines.append(f"Open in the faultline console: {console_url}")
    return "\n".join(lines)


def failure_note(error: str, console_url: str) -> str:
    return (f"faultline could not analyse this incident: {error}\n"
            f"Details in the faultline console: {console_url}")
