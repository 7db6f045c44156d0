"""The text of the note posted back to a PagerDuty incident: the top cause, what the confidence means, the chain,
what happened (each fact once), the fixes with their commands, a console link."""

from __future__ import annotations

from typing import Any

MAX_STEPS = 8
MAX_FIXES = 3


def _clock(at: object) -> str:
    """``2026-11-20T10:50:00Z`` → ``10:50:00`` (the note states the alert's full time once)."""
    text = str(at or "")
    return text[11:19] if len(text) >= 19 and text[10] == "T" else text


def insight_note(result: dict[str, Any], console_url: str) -> str:
    lines = ["faultline root-cause insight"]
    narrative = result.get("narrative") or {}
    candidates = result.get("candidates") or []
    incident = result.get("incident") or {}
    if candidates:
        top = candidates[0]
        lines.append(f"Most likely cause: {top['entity']}")
        if narrative.get("confidence_text"):
            lines.append(str(narrative["confidence_text"]))
        chain = top.get("chain") or []
        if chain:
            lines.append("Fault chain: " + " -> ".join(chain))
        others = [c["entity"] for c in candidates[1:3]]
        if others:
            lines.append("Also considered: " + ", ".join(others))
    else:
        lines.append("No root-cause candidate stood out in the symptom's neighbourhood.")
    for gap in result.get("partial") or []:
        lines.append(f"Partial evidence: {gap}")
    if narrative.get("summary"):
        lines += ["", str(narrative["summary"])]
    steps = narrative.get("event_chain") or []
    if steps:
        at = incident.get("at")
        lines += ["", "What happened" + (f" (UTC+00:00, alert at {str(at).replace('T', ' ')})" if at else "") + ":"]
        lines += [f"  {_clock(s.get('at'))}  {s.get('entity', '')}: {s.get('what', '')}" for s in steps[:MAX_STEPS]]
    fixes = narrative.get("fix_suggestions") or []
    if fixes:
        lines += ["", "Suggested fixes:"]
        for fix in fixes[:MAX_FIXES]:
            lines.append(f"  - {fix.get('action', '')} (risk: {fix.get('risk', '')})")
            if fix.get("command"):
                lines.append(f"      {fix['command']}")
            if fix.get("undo"):
                lines.append(f"      Undo: {fix['undo']}")
    lines.append("")
    lines.append(f"Open in the faultline console: {console_url}")
    return "\n".join(lines)


def failure_note(error: str, console_url: str) -> str:
    return (f"faultline could not analyse this incident: {error}\n"
            f"Details in the faultline console: {console_url}")
