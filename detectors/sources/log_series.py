"""Log records → log evidence as series: Drain3 templates per entity, new templates and error surges.

Each entity's lines (``resource_entity``: the pod when the resource names one, else the service) go through their
own Drain3 template miner (``drain3``: the Drain algorithm of He et al., ICWS 2017, with numbers, hex ids, IPs and
UUIDs masked first), oldest first: the **baseline** lines (before ``baseline_end_s``; when no line precedes it — logs
are often kept only around incidents — the first quarter of the lines' time span, the detectors' short-history rule)
fix the templates the entity is known to write. Then, per sample of the grid (a sample ``t`` covers lines timed in
``(t - step, t]``):

=================================  =================================================================================
``log_lines_per_s``                every line of the entity
``log_errors_per_s``               lines at level ERROR or FATAL
``log_new_templates_per_s``        lines whose template the baseline never showed (a line Drain3 folds into a
                                   baseline template is not new)
``log_template_per_s:<id>``        per error-level template (the ten most frequent of the entity), ``<id>`` a stable
                                   short hash of the template text
=================================  =================================================================================

Each sample's note names the template behind it (the most frequent new or error template of that sample), its count
and up to three example lines, so an anomaly shows the template, the counts before and after, and what the lines
said. Roles come from the catalogue's ``log_*`` families.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections import Counter, defaultdict
from collections.abc import Container, Sequence

import numpy as np

from topology.otlp import resource_entity

from ..models import SeriesKey, SeriesNote
from .otlp_logs import LogRecord
from .samples import Samples
from .trace_series import TelemetrySeries, bucket_labels

log = logging.getLogger(__name__)

__all__ = ["LogTemplates", "log_series", "template_id"]

MASKS = (
    (r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", "UUID"),
    (r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?\b", "IP"),
    (r"\b[0-9a-fA-F]{16,}\b", "HEX"),
    (r"(?<![A-Za-z])[-+]?\d+(?:\.\d+)?(?![A-Za-z])", "NUM"),
)
MAX_TEMPLATE_ROWS = 10
EXAMPLES = 3
MAX_LINE_CHARS = 2000


def template_id(template: str) -> str:
    return hashlib.sha1(template.encode("utf-8")).hexdigest()[:8]


class LogTemplates:
    """One Drain3 miner per entity (different services write different templates)."""

    def __init__(self, sim_th: float = 0.4, depth: int = 4) -> None:
        self.sim_th = sim_th
        self.depth = depth
        self._miners: dict[str, object] = {}

    def _miner(self, entity: str):
        miner = self._miners.get(entity)
        if miner is None:
            from drain3 import TemplateMiner
            from drain3.masking import MaskingInstruction
            from drain3.template_miner_config import TemplateMinerConfig

            config = TemplateMinerConfig()
            config.profiling_enabled = False
            config.drain_sim_th = self.sim_th
            config.drain_depth = self.depth
            config.masking_instructions = [MaskingInstruction(p, name) for p, name in MASKS]
            miner = self._miners[entity] = TemplateMiner(config=config)
        return miner

    def add(self, entity: str, line: str) -> int:
        """The template cluster id ``line`` belongs to (clusters are per entity)."""
        return int(self._miner(entity).add_log_message(line[:MAX_LINE_CHARS])["cluster_id"])

    def template(self, entity: str, cluster: int) -> str:
        miner = self._miners[entity]
        found = next((c for c in miner.drain.clusters if c.cluster_id == cluster), None)
        return found.get_template() if found is not None else ""


_SPACE = re.compile(r"\s+")


def _text(record: LogRecord) -> str:
    return _SPACE.sub(" ", record.body).strip()


def log_series(records: Sequence[LogRecord], *, grid_start_s: float, step_s: float, until_ns: int | None = None,
               baseline_end_s: float | None = None, known: Container[str] | None = None) -> TelemetrySeries:
    """The log evidence of ``records`` on the grid ``grid_start_s + k * step_s`` (see the module docstring)."""
    rows = sorted((r for r in records if until_ns is None or r.time_ns <= until_ns), key=lambda r: r.time_ns)
    if not rows:
        return TelemetrySeries.empty()
    times = np.array([r.time_ns for r in rows], dtype=np.int64)
    first_s, last_s = times[0] / 1e9, times[-1] / 1e9
    if baseline_end_s is None or baseline_end_s <= first_s:
        baseline_end_s = first_s + 0.25 * (last_s - first_s)
    buckets = bucket_labels(times, grid_start_s, step_s)
    resources: dict[int, str | None] = {}
    miners = LogTemplates()
    entity_of: list[str] = []
    cluster_of: list[int] = []
    for r in rows:
        key = id(r.resource)
        if key not in resources:
            resources[key] = resource_entity(r.resource, known)
        entity = resources[key] or ""
        entity_of.append(entity)
        cluster_of.append(miners.add(entity, _text(r)) if entity else -1)
    baseline: dict[str, set[int]] = defaultdict(set)
    error_clusters: dict[str, Counter] = defaultdict(Counter)
    for r, entity, cluster, t in zip(rows, entity_of, cluster_of, times):
        if not entity:
            continue
        if t / 1e9 < baseline_end_s:
            baseline[entity].add(cluster)
        if r.is_error:
            error_clusters[entity][cluster] += 1
    tracked = {e: {c for c, _ in counts.most_common(MAX_TEMPLATE_ROWS)} for e, counts in error_clusters.items()}

    lines: Counter = Counter()
    errors: Counter = Counter()
    new: Counter = Counter()
    per_template: Counter = Counter()
    examples: dict[tuple, dict[int, list[str]]] = defaultdict(lambda: defaultdict(list))
    kinds: dict[tuple, Counter] = defaultdict(Counter)  # (entity, bucket, "new" | "error") → cluster counts
    for r, entity, cluster, b in zip(rows, entity_of, cluster_of, buckets):
        if not entity:
            continue
        lines[(entity, b)] += 1
        is_new = cluster not in baseline[entity]
        if r.is_error:
            errors[(entity, b)] += 1
            kinds[(entity, b, "error")][cluster] += 1
            if cluster in tracked.get(entity, ()):
                per_template[(entity, b, cluster)] += 1
        if is_new:
            new[(entity, b)] += 1
            kinds[(entity, b, "new")][cluster] += 1
        bucket_examples = examples[(entity, b)][cluster]
        if len(bucket_examples) < EXAMPLES:
            bucket_examples.append(r.body[:MAX_LINE_CHARS])

    out_t: list[float] = []
    out_e: list[str] = []
    out_m: list[str] = []
    out_v: list[float] = []
    notes: dict[SeriesKey, dict[float, SeriesNote]] = {}

    def emit(entity: str, metric: str, b: float, value: float, cluster: int | None = None, count: int = 0) -> None:
        out_t.append(float(b))
        out_e.append(entity)
        out_m.append(metric)
        out_v.append(value)
        if cluster is not None:
            template = miners.template(entity, cluster)
            notes.setdefault(SeriesKey(entity, metric), {})[float(b)] = SeriesNote(
                template=template, examples=tuple(examples[(entity, b)][cluster]),
                detail=f"{count} line{'s' if count != 1 else ''} of this template in the {step_s:g}-s sample")

    entities = sorted({e for e in entity_of if e})
    all_buckets = np.unique(buckets)
    for entity in entities:
        seen = [b for b in all_buckets if (entity, b) in lines]
        lo, hi = min(seen), max(seen)
        for b in all_buckets[(all_buckets >= lo) & (all_buckets <= hi)]:  # a quiet sample inside the span is a 0
            emit(entity, "log_lines_per_s", b, lines[(entity, b)] / step_s)
            top_error = kinds.get((entity, b, "error"))
            cluster, count = top_error.most_common(1)[0] if top_error else (None, 0)
            emit(entity, "log_errors_per_s", b, errors[(entity, b)] / step_s, cluster, count)
            top_new = kinds.get((entity, b, "new"))
            cluster, count = top_new.most_common(1)[0] if top_new else (None, 0)
            emit(entity, "log_new_templates_per_s", b, new[(entity, b)] / step_s, cluster, count)
            for tracked_cluster in sorted(tracked.get(entity, ())):
                n = per_template[(entity, b, tracked_cluster)]
                metric = f"log_template_per_s:{template_id(miners.template(entity, tracked_cluster))}"
                emit(entity, metric, b, n / step_s, tracked_cluster if n else None, n)
    return TelemetrySeries(
        Samples(np.array(out_t, dtype=float), np.array(out_e, dtype=object), np.array(out_m, dtype=object),
                np.array(out_v, dtype=float)),
        notes,
    )
