"""From an alert's labels or a PagerDuty incident to the symptom entity the analysis starts from.

Alert rules are label templates tried in order (settings ``alert_entity_rules``): ``"pod:{namespace}/{pod}"`` applies
when the alert has both labels, and it wins only if the entity it names exists in the topology. ``map_alert_group`` maps
every alert of an Alertmanager group (each alert's own labels, the group's common labels as a fallback) and keeps, per
alert that maps to nothing, the reason. PagerDuty incidents
map through ``pagerduty_service_map``: the service id, then the service name, then a key contained in the title;
as a last resort an entity id written in the title (``… on app:chat``).
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

Exists = Callable[[str], bool]
_ENTITY_IN_TEXT = re.compile(r"(?<![\w:])([a-z][a-z0-9_-]*:[^\s,;()\[\]{}<>\"']+)")


@dataclass(frozen=True)
class Resolution:
    entity: str | None
    tried: tuple[str, ...]

    @property
    def explanation(self) -> str:
        if self.entity:
            return f"mapped to {self.entity}"
        tried = ", ".join(self.tried) if self.tried else "no rule applied to these labels"
        return f"no known entity for these labels (tried: {tried})"


def _fields(template: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(template) if name]


def resolve_alert(labels: Mapping[str, str], rules: Sequence[str], exists: Exists) -> Resolution:
    tried: list[str] = []
    for rule in rules:
        names = _fields(rule)
        if not names or any(not str(labels.get(n, "")).strip() for n in names):
            continue
        try:
            candidate = rule.format_map({n: str(labels[n]).strip() for n in names})
        except (KeyError, ValueError, IndexError):
            continue
        tried.append(candidate)
        if exists(candidate):
            return Resolution(candidate, tuple(tried))
    return Resolution(None, tuple(tried))


@dataclass(frozen=True)
class AlertGroupMapping:
    """Which alerts of a group name which entity (in the order the entities first appear), and which name none."""

    symptoms: dict[str, list[int]]
    unmapped: list[tuple[int, str]]

    @property
    def explanation(self) -> str:
        """One line for the incident and the log: what was mapped, what was not and why."""
        parts = [f"{len(v)} alert(s) -> {k}" for k, v in self.symptoms.items()]
        parts += [f"alert {i} not mapped: {why}" for i, why in self.unmapped]
        return "; ".join(parts) or "no alerts"


def map_alert_group(alerts: Sequence[Mapping[str, str]], common: Mapping[str, str], rules: Sequence[str],
                    exists: Exists) -> AlertGroupMapping:
    """Map every alert (its labels over the group's ``common`` labels) to a symptom entity."""
    symptoms: dict[str, list[int]] = {}
    unmapped: list[tuple[int, str]] = []
    known: dict[tuple[tuple[str, str], ...], Resolution] = {}
    for index, labels in enumerate(alerts):
        merged = {**common, **labels}
        key = tuple(sorted(merged.items()))
        if key not in known:  # a group of a thousand alerts on ten pods asks the topology ten times, not a thousand
            known[key] = resolve_alert(merged, rules, exists)
        resolution = known[key]
        if resolution.entity is None:
            unmapped.append((index, resolution.explanation))
        else:
            symptoms.setdefault(resolution.entity, []).append(index)
    return AlertGroupMapping(symptoms, unmapped)


def resolve_pagerduty(
    *,
    service_id: str | None,
    service_name: str | None,
    title: str,
    mapping: Mapping[str, str],
    exists: Exists,
) -> Resolution:
    tried: list[str] = []
    lowered = {k.lower(): v for k, v in mapping.items()}
    for key in (service_id, service_name):
        if key and key.lower() in lowered:
            tried.append(lowered[key.lower()])
            if exists(lowered[key.lower()]):
                return Resolution(lowered[key.lower()], tuple(tried))
    text = title.lower()
    for key in sorted(lowered, key=len, reverse=True):
        if key and key in text:
            tried.append(lowered[key])
            if exists(lowered[key]):
                return Resolution(lowered[key], tuple(tried))
    for match in _ENTITY_IN_TEXT.finditer(title):
        candidate = match.group(1).rstrip(".")
        tried.append(candidate)
        if exists(candidate):
            return Resolution(candidate, tuple(tried))
    return Resolution(None, tuple(tried))
