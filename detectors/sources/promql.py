"""From catalogue families to PromQL text, and from result labels back to entity ids.

Why a module of its own: the Prometheus client (``prometheus.py``) only moves bytes and keeps time; everything that
depends on *conventions* — which labels name a pod, a model or a GPU, how a query is narrowed to the symptom's
neighbourhood, which name a result series gets — is here, as pure functions tested without a server.

Narrowing works by reading the entity templates backwards: ``pod:{namespace}/{pod}`` turns the neighbourhood's
``pod:prod/vllm-0`` and ``pod:prod/rag-1`` into the matchers ``namespace=~"prod", pod=~"vllm-0|rag-1"``. A family
with several templates (a model server is named by its pod when Prometheus scraped it in Kubernetes, by its model
otherwise) is asked once per template that fits some neighbour, the parts joined with PromQL ``or`` (which keeps one
copy of a series two parts both return). Each result series is then named by the *first* template its labels fill,
so the same series always gets the same entity, whichever part returned it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field

from ..roles import Catalogue, QueryFamily, default_catalogue

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_RE2_SPECIAL = re.compile(r"([\\.^$|?*+()\[\]{}])")
MAX_ALTERNATIVES = 2000
"""Values per label matcher; a neighbourhood larger than this is read unnarrowed for that label (and filtered after)."""


class PromQuery(BaseModel):
    """One family read with one PromQL expression.

    ``promql`` may use ``$sel`` (neighbourhood matchers, inside braces), ``$by`` (the labels of ``entities`` and
    ``metrics``) and ``$window`` (the rate window). ``metrics`` are name templates (default: ``metric``), ``names``
    the regex of the raw metric names read (a family Prometheus has none of is not asked).
    """

    model_config = ConfigDict(frozen=True)

    metric: str
    promql: str
    entities: tuple[str, ...] = Field(min_length=1)
    metrics: tuple[str, ...] = ()
    family: str = ""
    names: str | None = None
    warn_when_empty: bool = True

    @property
    def name(self) -> str:
        """What problems and logs call it: the family, or the metric."""
        return self.family or self.metric

    @property
    def metric_templates(self) -> tuple[str, ...]:
        return self.metrics or (self.metric,)

    @property
    def labels(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for template in (*self.entities, *self.metric_templates):
            for label in _PLACEHOLDER.findall(template):
                if label != "__name__":
                    seen.setdefault(label, None)
        return tuple(seen)


def query_from_family(family: QueryFamily) -> PromQuery:
    return PromQuery(metric=family.metrics[0], metrics=family.metrics, promql=family.query, entities=family.entities,
                     family=family.family, names=family.names.pattern, warn_when_empty=family.warn_when_empty)


@lru_cache(maxsize=4)
def _queries_of(catalogue: Catalogue) -> tuple[PromQuery, ...]:
    return tuple(query_from_family(f) for f in catalogue.queries)


def catalogue_queries(catalogue: Catalogue | None = None) -> tuple[PromQuery, ...]:
    """The query families of ``catalogue`` (default: the shipped one, or ``FAULTLINE_METRIC_CATALOGUE``)."""
    return _queries_of(catalogue if catalogue is not None else default_catalogue())


def fill(template: str, labels: Mapping[str, str]) -> str | None:
    """``template`` with its ``{label}`` placeholders filled, or ``None`` when one of them is missing or empty."""
    names = _PLACEHOLDER.findall(template)
    if not all(labels.get(name) for name in names):
        return None
    return _PLACEHOLDER.sub(lambda m: labels[m.group(1)], template)


def entity_for(labels: Mapping[str, str], templates: Sequence[str], entity_label: str) -> str | None:
    """The first template whose placeholders are all non-empty labels, filled in; ``None`` when none fits.
    A series carrying ``entity_label`` names its entity outright."""
    if entity_label and labels.get(entity_label):
        return labels[entity_label]
    for template in templates:
        filled = fill(template, labels)
        if filled is not None:
            return filled
    return None


def metric_for(labels: Mapping[str, str], templates: Sequence[str]) -> str | None:
    for template in templates:
        filled = fill(template, labels)
        if filled is not None:
            return filled
    return None


@lru_cache(maxsize=256)
def template_pattern(template: str) -> re.Pattern[str]:
    """A regex that reads an entity id back into the template's labels: every placeholder but the last is lazy."""
    parts = _PLACEHOLDER.split(template)  # literal, name, literal, name, ..., literal
    names = parts[1::2]
    out = []
    for i, literal in enumerate(parts[0::2]):
        out.append(re.escape(literal))
        if i < len(names):
            out.append(f"(?P<{names[i]}>.+{'?' if i < len(names) - 1 else ''})")
    return re.compile("".join(out), re.DOTALL)


def promql_string(value: str) -> str:
    """A double-quoted PromQL string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _alternatives(values: Iterable[str]) -> str:
    """``a|b|c`` for an RE2 regex matcher, each value taken literally."""
    return "|".join(_RE2_SPECIAL.sub(r"\\\1", v) for v in sorted(values))


def selectors(query: PromQuery, entities: Iterable[str] | None) -> list[str]:
    """The ``$sel`` texts of ``query``: one per entity template that fits some of ``entities`` (``[""]`` when
    ``entities`` is ``None``: the whole fleet; ``[]`` when no template fits any: nothing to ask)."""
    if entities is None:
        return [""]
    entities = list(entities)
    out: list[str] = []
    for template in query.entities:
        pattern = template_pattern(template)
        values: dict[str, set[str]] = {}
        for entity in entities:
            match = pattern.fullmatch(entity)
            if match is None:
                continue
            for label, value in match.groupdict().items():
                values.setdefault(label, set()).add(value)
        if not values:
            continue
        matchers = [f"{label}=~{promql_string(_alternatives(vs))}" for label, vs in values.items()
                    if len(vs) <= MAX_ALTERNATIVES]
        matchers += [f'{label}!=""' for label, vs in values.items() if len(vs) > MAX_ALTERNATIVES]
        text = ", ".join(matchers) + ", "
        if text not in out:
            out.append(text)
    return out


def render(query: PromQuery, selector: str, window: str) -> str:
    return (query.promql.replace("$sel", selector).replace("$by", ", ".join(query.labels))
            .replace("$window", window))


def promql_for(query: PromQuery, entities: Iterable[str] | None, window: str) -> str | None:
    """The expression to send for ``query`` narrowed to ``entities``; ``None`` when it has nothing to ask."""
    parts = [render(query, s, window) for s in selectors(query, entities)]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else " or ".join(f"({p})" for p in parts)
