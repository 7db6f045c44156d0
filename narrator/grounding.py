"""The grounding check: a narrative may only name what the evidence it was shown contains.

Why this exists: an LLM writes fluent, confident text whether or not the facts are real. An on-call engineer who acts
on an invented pod or a made-up latency figure loses time in the worst moment, so every checkable claim is checked:

- entity ids (in ``root_cause``, each step and fix, and anywhere in the free text) must be ids of the evidence;
  a commit or digest may be shortened to a prefix of at least 7 hex digits;
- times (step times, ISO timestamps and ``HH:MM[:SS]`` clock readings in text) must be times of the evidence, and
  a step's entity and time must belong together (something happened to that entity at that time);
- bare commit shas / digests (7–64 hex digits) must be prefixes of ones in the evidence;
- URLs must appear in the evidence (it holds none today, so any link is invented);
- month and weekday names must be those of the evidence's times (a date in words is still a date);
- template placeholders (``<entity id>``, ``<what happened>``) copied from the answer format are not content;
- a ``kubectl`` command must name its namespace (``-n``/``--namespace``, or ``-A``), unless it acts on a node:
  pasted into a shell whose namespace is another one, it would act on the wrong objects;
- trace ids (32 hex digits) must be exemplar traces of the evidence; a quoted log template (a quotation holding a
  mask such as ``<NUM>``, ``<IP>`` or ``<*>``) must be, or be part of, a template of the evidence;
- numbers quoted in text must match a number of the evidence within rounding (``3.2`` matches ``3.163``; ``95%``
  matches ``0.95``; ``ms``/``s`` conversions allowed). Version strings (``0.6.3``) are not numbers. The small
  integers 0, 1 and 2 without a unit are allowed (counting words: "both pods", "1 commit").

The evidence side is read from the same rendered messages the model received, plus the pack's structured fields,
so "in the evidence" means "shown to the model", never "somewhere in the analysis".
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from topology.models import KNOWN_KINDS
from topology.timeutil import parse_time

from .evidence import EvidencePack
from .models import ChainStep, FixSuggestion, Narrative
from .schema import NarrativeDraft

__all__ = ["GroundingIndex", "Mentions", "check_grounding", "index_evidence", "scan", "to_narrative", "unsafe_kubectl"]

MAX_PROBLEMS = 8
SMALL_INTEGERS = frozenset({0.0, 1.0, 2.0})

_ISO = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?")
_ENTITY = re.compile(r"(?<![\w/.@-])([a-z][a-z0-9_-]*):([A-Za-z0-9][^\s,;\"'`()\[\]{}<>|→]*)")
_DATE = re.compile(r"(?<!\d)\d{4}-\d{2}-\d{2}(?!\d)")
_CLOCK = re.compile(r"(?<![\d:.])(\d{1,2}):(\d{2})(?::(\d{2}))?(?!\d)(?!:\d)")
_HEX = re.compile(r"(?<![\w])(?:sha256:)?([0-9a-f]{7,64})(?![\w])")
_VERSION = re.compile(r"(?<![\w.])v?\d+(?:\.\d+){2,}(?![\w.])")
_NUMBER = re.compile(r"(?<![A-Za-z0-9_.])(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(\s?%|\s?ms\b|\s?s\b)?")
_URL = re.compile(r"\b(?:https?|ftp)://[^\s\"'<>)\]]+")
_PLACEHOLDER = re.compile(r"<[^<>\n]{1,60}>")
_CALENDAR = re.compile(
    r"\b(January|February|March|April|June|July|August|September|October|November|December"
    r"|Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)\b",
    re.IGNORECASE,
)  # "May" is left out: it is mostly the verb
_MASK = re.compile(r"<(?:NUM|IP|HEX|UUID|\*)>")
_QUOTED = re.compile(r"[\"“”'‘’`]([^\"“”'‘’`\n]{3,400})[\"“”'‘’`]")
_TRACE_ID = re.compile(r"(?<![0-9a-fA-F])[0-9a-fA-F]{32}(?![0-9a-fA-F])")
_TRAILING = ".,:;!?…*_~"
_KUBECTL = re.compile(r"\bkubectl\b[^\n;|&`\"')]*")
_NAMESPACED = re.compile(r"(?:^|\s)(?:-n\s*\S|--namespace[=\s]\S|-A\b|--all-namespaces\b)")
_CLUSTER_SCOPED = re.compile(r"\b(?:node|nodes|no|namespace|namespaces|ns)(?:/|\s)|\b(?:cordon|uncordon|drain)\b")


def unsafe_kubectl(text: str) -> list[str]:
    """The ``kubectl`` commands in ``text`` that name no namespace and act on namespaced objects."""
    return [m.group(0).strip() for m in _KUBECTL.finditer(text)
            if not _NAMESPACED.search(m.group(0)) and not _CLUSTER_SCOPED.search(m.group(0))]


@dataclass(frozen=True)
class Mentions:
    """Checkable claims found in one text."""

    entities: tuple[str, ...] = ()
    times: tuple[datetime, ...] = ()
    dates: tuple[str, ...] = ()
    clocks: tuple[str, ...] = ()  # "HH:MM" or "HH:MM:SS", zero-padded
    hexes: tuple[str, ...] = ()
    numbers: tuple[tuple[str, float, int, str], ...] = ()  # (as written, value, decimals, unit)
    urls: tuple[str, ...] = ()
    placeholders: tuple[str, ...] = ()
    calendar: tuple[str, ...] = ()  # month and weekday names: a date in words
    templates: tuple[str, ...] = ()
    trace_ids: tuple[str, ...] = ()


def _blank(text: str, span: tuple[int, int]) -> str:
    return text[: span[0]] + " " * (span[1] - span[0]) + text[span[1] :]


def scan(text: str, kinds: Iterable[str] = KNOWN_KINDS) -> Mentions:
    """Find entity ids, times, shas and numbers in ``text``; each character counts for one kind of claim only."""
    kinds = set(kinds)
    templates = []
    for m in list(_QUOTED.finditer(text)):  # a quoted log template: its masks are content, not placeholders
        if _MASK.search(m.group(1)):
            templates.append(" ".join(m.group(1).split()))
            text = _blank(text, m.span())
    trace_ids = []
    for m in list(_TRACE_ID.finditer(text)):
        trace_ids.append(m.group(0).lower())
        text = _blank(text, m.span())
    placeholders = tuple(m.group(0) for m in _PLACEHOLDER.finditer(text))
    calendar = tuple(m.group(0) for m in _CALENDAR.finditer(text))
    urls = []
    for m in list(_URL.finditer(text)):
        urls.append(m.group(0).rstrip(_TRAILING))
        text = _blank(text, m.span())
    times: list[datetime] = []
    for m in list(_ISO.finditer(text)):
        try:
            times.append(parse_time(m.group(0)))
        except ValueError:
            continue
        text = _blank(text, m.span())
    entities: list[str] = []
    for m in list(_ENTITY.finditer(text)):
        if m.group(1) not in kinds:
            continue
        entity = m.group(0).rstrip(_TRAILING)
        entities.append(entity)
        text = _blank(text, (m.start(), m.start() + len(entity)))
    dates = []
    for m in list(_DATE.finditer(text)):
        dates.append(m.group(0))
        text = _blank(text, m.span())
    clocks = []
    for m in list(_CLOCK.finditer(text)):
        hh, mm, ss = m.group(1), m.group(2), m.group(3)
        if int(hh) < 24 and int(mm) < 60 and (ss is None or int(ss) < 60):
            clocks.append(f"{int(hh):02d}:{mm}" + (f":{ss}" if ss else ""))
            text = _blank(text, m.span())
    hexes = []
    for m in list(_HEX.finditer(text)):
        token = m.group(1)
        if any(c.isdigit() for c in token) and any(c in "abcdef" for c in token):
            hexes.append(token)
            text = _blank(text, m.span())
    for m in list(_VERSION.finditer(text)):
        text = _blank(text, m.span())
    numbers = []
    for m in _NUMBER.finditer(text):
        whole, frac, unit = m.group(1), m.group(2) or "", (m.group(3) or "").strip()
        value = float(whole.replace(",", "") + frac)
        numbers.append((m.group(0).strip(), value, max(0, len(frac) - 1), unit))
    return Mentions(
        entities=tuple(entities), times=tuple(times), dates=tuple(dates), clocks=tuple(clocks), hexes=tuple(hexes),
        numbers=tuple(numbers), urls=tuple(urls), placeholders=placeholders, calendar=calendar,
        templates=tuple(templates), trace_ids=tuple(trace_ids),
    )


@dataclass(frozen=True)
class GroundingIndex:
    """Everything the model was shown, in the forms a narrative may quote it."""

    entities: frozenset[str]
    kinds: frozenset[str]
    times: frozenset[datetime]
    dates: frozenset[str]
    clocks: frozenset[str]
    hexes: frozenset[str]
    numbers: tuple[float, ...]
    aliases: dict[str, str] = field(default_factory=dict)
    urls: frozenset[str] = frozenset()
    moments: frozenset[tuple[str, datetime]] = frozenset()
    calendar: frozenset[str] = frozenset()
    templates: tuple[str, ...] = ()
    trace_ids: frozenset[str] = frozenset()

    def has_template(self, quoted: str) -> bool:
        return any(quoted in template for template in self.templates)

    def resolve(self, entity: str) -> str | None:
        """The evidence id ``entity`` names (exactly, or as a ≥7-hex-digit prefix of a commit/digest), or None."""
        entity = entity.strip().strip("`'\"")
        if entity in self.entities:
            return entity
        if re.search(r"[0-9a-f]{7,}$", entity):
            matches = {self.aliases.get(e, e) for e in self.entities if e.startswith(entity)}  # short and full: one
            if len(matches) == 1:
                return matches.pop()
        return None

    def has_time(self, moment: datetime) -> bool:
        return any(abs((moment - t).total_seconds()) < 1.0 for t in self.times)

    def has_moment(self, entity: str, moment: datetime) -> bool:
        """Does the evidence say something happened to ``entity`` (an id it resolves) at ``moment``?"""
        return any((e == entity or self.aliases.get(e) == entity) and abs((moment - t).total_seconds()) < 1.0
                   for e, t in self.moments)

    def has_hex(self, token: str) -> bool:
        return any(h.startswith(token) or token.startswith(h) for h in self.hexes if len(h) >= 7)

    def has_number(self, value: float, decimals: int, unit: str) -> bool:
        if unit == "" and value in SMALL_INTEGERS:
            return True
        tolerance = 0.5 * 10.0**-decimals + 1e-9  # "3.2" stands for anything that rounds to it
        factors = [1.0] + {"%": [0.01], "ms": [0.001], "s": [1000.0]}.get(unit, [])
        return any(
            math.isclose(abs(n), value * factor, rel_tol=0.0, abs_tol=tolerance * factor)
            for factor in factors
            for n in self.numbers
        )


def index_evidence(pack: EvidencePack, texts: Iterable[str]) -> GroundingIndex:
    """Index the pack's structured ids and times plus every claim found in the rendered ``texts``."""
    entity_ids = set(pack.entity_ids()) | set(pack.aliases.values())
    kinds = set(KNOWN_KINDS) | {e.split(":", 1)[0] for e in entity_ids}
    mentions = [scan(text, kinds) for text in texts]
    entities = entity_ids | {e for m in mentions for e in m.entities}
    times = set(pack.times()) | {t for m in mentions for t in m.times}
    dates = {t.strftime("%Y-%m-%d") for t in times} | {d for m in mentions for d in m.dates}
    clocks = {t.strftime("%H:%M") for t in times} | {t.strftime("%H:%M:%S") for t in times}
    clocks |= {c for m in mentions for c in m.clocks} | {c[:5] for m in mentions for c in m.clocks}
    hexes = {h for m in mentions for h in m.hexes}
    for entity in entities:
        hexes.update(re.findall(r"[0-9a-f]{7,64}", entity.split(":", 1)[1]))
    numbers = {n[1] for m in mentions for n in m.numbers}
    numbers |= {c.score for c in pack.candidates} | {pack.incident.lookback_min}
    return GroundingIndex(
        entities=frozenset(entities), kinds=frozenset(kinds), times=frozenset(times), dates=frozenset(dates),
        clocks=frozenset(clocks), hexes=frozenset(hexes), numbers=tuple(sorted(numbers)), aliases=dict(pack.aliases),
        urls=frozenset(u for m in mentions for u in m.urls),
        moments=frozenset(pack.moments()),
        calendar=frozenset({w.capitalize() for m in mentions for w in m.calendar}
                           | {t.strftime("%B") for t in times} | {t.strftime("%A") for t in times}),
        templates=tuple(" ".join(t.split()) for t in pack.templates()),
        trace_ids=frozenset(t.lower() for c in pack.candidates for e in c.evidence for t in e.traces),
    )


def _text_problems(where: str, text: str, index: GroundingIndex) -> list[str]:
    found = scan(text, index.kinds)
    problems = [f"{where} names {e!r}, which is not an entity in the evidence" for e in found.entities if index.resolve(e) is None]
    problems += [f"{where} names the time {t:%Y-%m-%dT%H:%M:%SZ}, which is not in the evidence" for t in found.times if not index.has_time(t)]
    problems += [f"{where} names the date {d}, which is not in the evidence" for d in found.dates if d not in index.dates]
    problems += [f"{where} names the time {c}, which is not in the evidence" for c in found.clocks if c not in index.clocks]
    problems += [f"{where} names {h!r}, which is not a commit or digest in the evidence" for h in found.hexes if not index.has_hex(h)]
    problems += [f"{where} links {u!r}, which is not in the evidence" for u in found.urls if u not in index.urls]
    problems += [f"{where} contains the placeholder {p!r} instead of content" for p in found.placeholders]
    problems += [f"{where} names {w!r}, which is not the day or month of anything in the evidence"
                 for w in found.calendar if w.capitalize() not in index.calendar]
    problems += [f"{where} writes the command {c!r} without -n <namespace>; it would act on whatever namespace the "
                 "shell is in" for c in unsafe_kubectl(text)]
    problems += [f"{where} cites the trace {t}, which is not an exemplar trace of the evidence"
                 for t in found.trace_ids if t not in index.trace_ids]
    problems += [f"{where} quotes the log template {t!r}, which is not a template of the evidence"
                 for t in found.templates if not index.has_template(t)]
    problems += [
        f"{where} quotes the number {raw!r}, which does not match any number in the evidence"
        for raw, value, decimals, unit in found.numbers
        if not index.has_number(value, decimals, unit)
    ]
    return problems


def check_grounding(draft: NarrativeDraft, index: GroundingIndex) -> list[str]:
    """Every reason ``draft`` is not grounded in the evidence (empty when it is), at most ``MAX_PROBLEMS``."""
    problems: list[str] = []
    if index.resolve(draft.root_cause) is None:
        problems.append(f"root_cause {draft.root_cause!r} is not an entity in the evidence")
    problems += _text_problems("summary", draft.summary, index)
    if not draft.event_chain:
        problems.append("event_chain is empty; list at least the root cause's step and the symptom's")
    for i, step in enumerate(draft.event_chain):
        if index.resolve(step.entity) is None:
            problems.append(f"event_chain[{i}].entity {step.entity!r} is not an entity in the evidence")
        try:
            moment = parse_time(step.at)
        except ValueError:
            problems.append(f"event_chain[{i}].at {step.at!r} is not a time")
        else:
            if not index.has_time(moment):
                problems.append(f"event_chain[{i}].at {step.at!r} is not a time in the evidence")
            elif (entity := index.resolve(step.entity)) is not None and not index.has_moment(entity, moment):
                problems.append(f"event_chain[{i}] puts {step.entity!r} at {step.at!r}, but the evidence has nothing "
                                "about that entity at that time")
        problems += _text_problems(f"event_chain[{i}].what", step.what, index)
    for i, fix in enumerate(draft.fix_suggestions):
        if index.resolve(fix.entity) is None:
            problems.append(f"fix_suggestions[{i}].entity {fix.entity!r} is not an entity in the evidence")
        problems += _text_problems(f"fix_suggestions[{i}].action", fix.action, index)
        problems += _text_problems(f"fix_suggestions[{i}].risk", fix.risk, index)
    unique = list(dict.fromkeys(problems))
    return unique[:MAX_PROBLEMS]


def to_narrative(draft: NarrativeDraft, index: GroundingIndex, model: str | None) -> Narrative:
    """A grounded draft as the public ``Narrative``: full ids, parsed times, steps in time order."""

    def full(entity: str) -> str:
        resolved = index.resolve(entity)
        if resolved is None:
            raise ValueError(f"{entity!r} is not grounded; run check_grounding first")
        return index.aliases.get(resolved, resolved)

    steps = [ChainStep(entity=full(s.entity), at=parse_time(s.at), what=s.what.strip()) for s in draft.event_chain]
    steps = list(dict.fromkeys(steps))  # small models repeat a step verbatim; once is enough
    steps.sort(key=lambda s: s.at)  # stable: the model's order breaks ties
    return Narrative(
        summary=draft.summary.strip(),
        root_cause=full(draft.root_cause),
        event_chain=tuple(steps),
        fix_suggestions=tuple(dict.fromkeys(  # a small model may pick the same action twice
            FixSuggestion(action=f.action.strip(), entity=full(f.entity), risk=f.risk.strip()) for f in draft.fix_suggestions
        )),
        narrator="llm",
        model=model,
    )
