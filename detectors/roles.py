"""What each metric measures: its role (saturation / errors / latency / traffic / other), unit and bad direction.

Why roles are declared and not guessed: the ranker treats a saturated resource differently from a latency that
merely propagates from below, and a success rate that *drops* differently from a latency that *rises*. A metric's
role comes, in this order, from

1. whoever knows it best: the case's ``metrics_meta.json`` or a metric source that declares it;
2. the catalogue of known metric families (``catalogue.json`` beside this module: vLLM, SGLang, DCGM, cAdvisor,
   kube-state-metrics, node-exporter, OpenTelemetry), then the catalogue's ``generic:`` rules that read the plain
   words of the case format's documented names (``latency_p95_s``, ``error_rate``, ``cpu_usage`` …);
3. otherwise the neutral role ``other`` with direction ``both``.

Users add families to the catalogue (or point ``FAULTLINE_METRIC_CATALOGUE`` at their own file of the same format)
without code.

The same file says how to *read* a family from Prometheus: a family with a ``query`` (PromQL), the ``metric`` name(s)
it gives and the ``entities`` rules that turn a result's labels into an entity id (``pod:{namespace}/{pod}``,
``llm:{model_name}``, ``gpu:{Hostname}/{gpu}`` …, or the name of a list in ``entity_rules``). Those are parsed here
into ``QueryFamily`` records, so one file answers both "what is this series" and "where do I get it"; the Prometheus
source (``detectors.sources.prometheus``) runs them. An emitted name (``ttft_p95_s``) gets its family's role before any
pattern is tried.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from functools import lru_cache
from pathlib import Path
from typing import Any

from .exceptions import DetectorError

CATALOGUE_PATH = Path(__file__).with_name("catalogue.json")


class Role(str, Enum):
    SATURATION = "saturation"
    ERRORS = "errors"
    LATENCY = "latency"
    TRAFFIC = "traffic"
    OTHER = "other"


BAD_DIRECTIONS = ("up", "down", "both")


@dataclass(frozen=True, slots=True)
class MetricInfo:
    """What a metric is. ``direction`` is the way that is bad: ``up`` (latency), ``down`` (success rate), ``both``."""

    role: Role = Role.OTHER
    unit: str = ""
    direction: str = "both"
    source: str = "default"
    events: bool = False
    """A fault counter (GPU Xid, row-remap failures, restarts): any departure from an idle baseline is an occurrence
    of a fault, like an event, even a single sample — unlike an idle error *rate*, where one blip is noise."""
    short_history: bool = False
    """Sampled only around incidents (series derived from spans and logs, which are often kept only near faults):
    a row with too few samples before the window takes its own first samples as its baseline
    (``detectors.sparse``)."""

    def bad(self, sign: int) -> bool:
        """Is a move in direction ``sign`` (+1 up, -1 down) a move the bad way?"""
        return self.direction == "both" or (self.direction == "up") == (sign > 0)


NEUTRAL = MetricInfo()


def metric_info(raw: Mapping[str, Any], source: str) -> MetricInfo:
    """A ``MetricInfo`` from a mapping like ``{"role": "latency", "unit": "s", "direction": "up"}``."""
    try:
        role = Role(str(raw.get("role", "other")).lower())
    except ValueError as exc:
        raise DetectorError(f"{source}: unknown role {raw.get('role')!r} (one of {[r.value for r in Role]})") from exc
    direction = str(raw.get("direction", _DEFAULT_DIRECTION[role])).lower()
    if direction not in BAD_DIRECTIONS:
        raise DetectorError(f"{source}: unknown direction {direction!r} (one of {list(BAD_DIRECTIONS)})")
    return MetricInfo(role=role, unit=str(raw.get("unit", "")), direction=direction, source=source,
                      events=bool(raw.get("events", False)), short_history=bool(raw.get("short_history", False)))


_DEFAULT_DIRECTION = {
    Role.SATURATION: "up", Role.ERRORS: "up", Role.LATENCY: "up", Role.TRAFFIC: "both", Role.OTHER: "both",
}


@dataclass(frozen=True)
class _Rule:
    family: str
    pattern: re.Pattern[str]
    info: MetricInfo


_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class QueryFamily:
    """How to read one metric family from Prometheus (a catalogue entry with a ``query``).

    ``query`` is PromQL with ``$sel`` (label matchers narrowing the read to a neighbourhood, with a trailing comma when
    not empty, so it is written inside braces: ``vllm:num_requests_waiting{$sel}``), ``$by`` (the labels the entity
    and metric templates use) and ``$window`` (the rate window). ``metrics`` and ``entities`` are templates tried in
    order, the first whose ``{labels}`` are all present wins. ``names`` matches the raw metric names the query reads.
    """

    family: str
    query: str
    metrics: tuple[str, ...]
    entities: tuple[str, ...]
    names: re.Pattern[str]
    info: MetricInfo
    warn_when_empty: bool = True

    @property
    def labels(self) -> tuple[str, ...]:
        """Labels the templates read, in first-seen order (what ``$by`` stands for); ``__name__`` is never grouped."""
        seen: dict[str, None] = {}
        for template in (*self.entities, *self.metrics):
            for name in _PLACEHOLDER.findall(template):
                if name != "__name__":
                    seen.setdefault(name, None)
        return tuple(seen)


def _templates(raw: Any, what: str, where: str, named: Mapping[str, tuple[str, ...]] | None = None) -> tuple[str, ...]:
    """A template list from a string or a list of strings; a bare name (no ``:`` nor ``{``) refers to ``named``."""
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list) or not items or not all(isinstance(t, str) and t for t in items):
        raise DetectorError(f"{where}: '{what}' must be a non-empty string or list of strings")
    out: list[str] = []
    for item in items:
        if named is not None and ":" not in item and "{" not in item:
            if item not in named:
                raise DetectorError(f"{where}: '{what}' names the rule list {item!r}, which 'entity_rules' lacks "
                                    f"(it has {sorted(named)})")
            out.extend(named[item])
        else:
            out.append(item)
    return tuple(out)


def _query_family(raw: Mapping[str, Any], family: str, info: MetricInfo, where: str,
                  named: Mapping[str, tuple[str, ...]]) -> QueryFamily:
    query = raw["query"]
    if not isinstance(query, str) or not query.strip():
        raise DetectorError(f"{where}: 'query' must be PromQL text")
    if "metric" not in raw or "entities" not in raw:
        raise DetectorError(f"{where}: a family with a 'query' needs 'metric' and 'entities'")
    names = raw.get("names", raw["pattern"])
    try:
        names_re = re.compile(str(names), re.IGNORECASE)
    except re.error as exc:
        raise DetectorError(f"{where}: 'names' does not compile: {exc}") from exc
    return QueryFamily(family=family, query=query, metrics=_templates(raw["metric"], "metric", where),
                       entities=_templates(raw["entities"], "entities", where, named), names=names_re, info=info,
                       warn_when_empty=bool(raw.get("warn_when_empty", True)))


class Catalogue:
    """Ordered rules ``pattern -> MetricInfo``; the first full match wins (case-insensitive). ``queries`` are the
    families that can be read from Prometheus; the names they emit are looked up exactly, before any pattern."""

    def __init__(self, rules: Iterable[_Rule], queries: Iterable[QueryFamily] = ()) -> None:
        self.rules = tuple(rules)
        self.queries = tuple(queries)
        self._emitted: dict[str, MetricInfo] = {}
        for query in self.queries:
            for template in query.metrics:
                base = _base_name(template)
                if "{" not in base:
                    self._emitted.setdefault(base, query.info)

    @classmethod
    def from_document(cls, document: Any, source: str) -> "Catalogue":
        if not isinstance(document, dict) or not isinstance(document.get("families"), list):
            raise DetectorError(f"{source}: expected an object with a 'families' list")
        named_raw = document.get("entity_rules", {})
        if not isinstance(named_raw, dict):
            raise DetectorError(f"{source}: 'entity_rules' must map names to lists of entity templates")
        named = {str(k): _templates(v, f"entity_rules.{k}", source) for k, v in named_raw.items()}
        rules = []
        queries = []
        for i, raw in enumerate(document["families"]):
            if not isinstance(raw, dict) or not isinstance(raw.get("pattern"), str):
                raise DetectorError(f"{source}: families[{i}] needs a 'pattern' string")
            try:
                pattern = re.compile(raw["pattern"], re.IGNORECASE)
            except re.error as exc:
                raise DetectorError(f"{source}: families[{i}] pattern does not compile: {exc}") from exc
            family = str(raw.get("family", raw["pattern"]))
            info = metric_info(raw, f"catalogue: {family}")
            rules.append(_Rule(family, pattern, info))
            if "query" in raw:
                queries.append(_query_family(raw, family, info, f"{source}: families[{i}] ({family})", named))
        return cls(rules, queries)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> "Catalogue":
        path = Path(path)
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise DetectorError(f"metric catalogue {path}: {exc}") from exc
        return cls.from_document(document, str(path))

    def lookup(self, metric: str) -> MetricInfo:
        name = _base_name(metric)
        emitted = self._emitted.get(name)
        if emitted is not None:
            return emitted
        for rule in self.rules:
            if rule.pattern.fullmatch(name):
                return rule.info
        return NEUTRAL


def _base_name(metric: str) -> str:
    """``out_latency_p50_s[cartservice]`` → ``out_latency_p50_s``: a bracketed qualifier names a peer, not a kind."""
    return metric.split("[", 1)[0].strip()


@lru_cache(maxsize=4)
def _catalogue_at(path: str) -> Catalogue:
    return Catalogue.load(path)


def default_catalogue() -> Catalogue:
    """The shipped catalogue, or the file named by ``FAULTLINE_METRIC_CATALOGUE``."""
    return _catalogue_at(os.environ.get("FAULTLINE_METRIC_CATALOGUE") or str(CATALOGUE_PATH))


@dataclass(frozen=True)
class MetricRoles:
    """Role resolution for one analysis: declared metadata first, then the catalogue (memoised per name: a fleet
    has thousands of series but a few dozen metric names)."""

    declared: Mapping[str, MetricInfo]
    catalogue: Catalogue
    _memo: dict[str, MetricInfo] = field(default_factory=dict, compare=False, repr=False)

    def info(self, metric: str) -> MetricInfo:
        known = self._memo.get(metric)
        if known is not None:
            return known
        found = self.declared.get(metric) or self.declared.get(_base_name(metric))
        info = found if found is not None else self.catalogue.lookup(metric)
        self._memo[metric] = info
        return info

    @classmethod
    def default(cls, declared: Mapping[str, MetricInfo] | None = None) -> "MetricRoles":
        return cls(dict(declared or {}), default_catalogue())


def parse_metrics_meta(document: Any, file: str = "metrics_meta.json") -> dict[str, MetricInfo]:
    """``{"metric": {"role": ..., "unit": ..., "direction": ...}}`` → ``MetricInfo`` per metric name."""
    if not isinstance(document, dict):
        raise DetectorError(f"{file}: top level must be an object mapping metric names to {{role, unit}}")
    out: dict[str, MetricInfo] = {}
    for name, raw in document.items():
        if not isinstance(raw, dict):
            raise DetectorError(f"{file}: {name!r} must map to an object like {{\"role\": \"latency\"}}")
        out[str(name)] = metric_info(raw, f"{file}: {name}")
    return out
