"""Prometheus HTTP API (``/api/v1/query_range``) → ``Samples`` per entity, plus GPU Xid ``Event``s.

What is asked comes from the metric catalogue (``detectors/catalogue.json``): every family with a ``query`` — vLLM
(``vllm:`` and the ``vllm_`` form an OpenMetrics exposition turns it into), SGLang, the DCGM exporter, cAdvisor,
kube-state-metrics, node-exporter, OpenTelemetry HTTP and GenAI metrics, and series that carry a ``faultline_entity``
label. ``detectors.sources.promql`` turns a family into PromQL narrowed to the symptom's neighbourhood and result
labels back into entity ids; this module runs the queries.

One read has **one deadline** (``deadline_s``) for all its queries, which run **concurrently** (``concurrency`` at a
time, ``httpx.AsyncClient``); at the deadline the queries still running are cancelled (their connections closed, so
Prometheus stops evaluating them) and reported as problems, and the read returns what it has. A slow or hanging
Prometheus therefore costs an insight at most ``deadline_s``, never a worker thread. A query Prometheus refuses is a
problem too; only a server that cannot be reached at all is a ``MetricSourceUnavailableError``.

Reads with history (``read(..., history_s=...)``): the window and the ``recent_s`` before it at ``step_s``, and
``history_s`` before that at the coarser ``history_step_s`` — a day of baseline for a few hundred points a series.
Before asking, the source lists the metric names Prometheus has (cached ``names_ttl_s``): a family none of whose raw
names exist is not asked, and one whose names exist but whose query gives no series is reported as a convention
mismatch (``PrometheusResult.empty_families``).
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import threading
import time
from collections.abc import Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from topology.problems import SourceProblem, report

from ..exceptions import MetricSourceError, MetricSourceUnavailableError
from ..models import Event
from .matrix import MatrixSeries, NotAMatrix, parse_matrix
from .matrix import loads as _loads
from .promql import PromQuery, catalogue_queries, entity_for, metric_for, promql_for
from .samples import Samples, epoch

log = logging.getLogger(__name__)

MAX_POINTS_PER_SERIES = 11_000  # Prometheus refuses query_range answers longer than this
T = TypeVar("T")

def _loads_or_none(raw: bytes) -> Any:
    try:
        return _loads(raw)
    except ValueError:
        return None


class PrometheusConfig(BaseModel):
    """What to ask Prometheus, how long to wait, and how to name what comes back. Every field is used."""

    model_config = ConfigDict(frozen=True)

    queries: tuple[PromQuery, ...] | None = None
    """``None``: the query families of the metric catalogue."""
    rate_window: str = "2m"
    step_s: float = Field(default=30.0, gt=0)
    deadline_s: float = Field(default=20.0, gt=0)
    """One deadline for a whole read (all queries); what has not answered by then is cancelled and reported."""
    concurrency: int = Field(default=8, ge=1, le=64)
    compress: bool = False
    """Ask for gzip answers. Off by default: next to Prometheus, compressing a 50-MB answer costs Prometheus more CPU
    than sending it (measured: 0.9 s instead of 0.5 s for one 6-MB answer); turn on across a slow network."""
    names_ttl_s: float = Field(default=300.0, ge=0)
    """How long the list of metric names Prometheus has is reused (0: ask every read)."""
    entity_label: str = "faultline_entity"
    xid_metric: str = "xid_errors"
    gpu_pod_query: str = "DCGM_FI_DEV_GPU_UTIL"
    """Instant query whose series carry, per GPU, the pod using it (dcgm-exporter's Kubernetes mode)."""
    gpu_rules: tuple[str, ...] = ("gpu:{node}/{gpu}", "gpu:{Hostname}/{gpu}", "gpu:{UUID}")
    gpu_pod_rules: tuple[str, ...] = ("pod:{exported_namespace}/{exported_pod}",)
    """Only ``exported_*`` by default: a plain ``pod`` label is usually the exporter's own pod (the scrape target)."""

    def resolved_queries(self) -> tuple[PromQuery, ...]:
        return self.queries if self.queries is not None else catalogue_queries()


@dataclass(frozen=True)
class PrometheusResult:
    """What one read returned. ``families`` counts result series per query asked; ``absent`` lists the queries not
    asked because Prometheus has none of their metric names."""

    samples: Samples
    events: tuple[Event, ...]
    problems: tuple[SourceProblem, ...]
    queries_ok: int
    families: Mapping[str, int] = field(default_factory=dict)
    absent: tuple[str, ...] = ()
    empty_families: tuple[str, ...] = ()
    """Queries whose metric names Prometheus has but that returned no series: a label-convention mismatch."""
    timed_out: int = 0
    duration_ms: float = 0.0
    keys: frozenset[tuple[str, str]] = frozenset()
    """``(entity, metric)`` of every series in ``samples`` (cheaper than deriving it from 1.6 M samples)."""


@dataclass(frozen=True)
class FamilyCheck:
    """Series per family fleet-wide (``check_families``); ``empty`` are families whose metric names Prometheus has
    but whose query gives no series: the labels are not the ones the family's rules expect."""

    counts: Mapping[str, int]
    """Series (of the sample) each asked family gives that its entity rules can name."""
    absent: tuple[str, ...]
    empty: tuple[str, ...]
    problems: tuple[str, ...]
    unnamed: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """Families whose series fit none of their entity rules, with one example label set."""
    duration_ms: float = 0.0

    def warnings(self) -> list[str]:
        out = [f"{name}: Prometheus has this family's metrics but its query returns no series — check the labels its "
               "entity rules need (detectors/catalogue.json)" for name in self.empty]
        out += [f"{name}: its series fit none of its entity rules (e.g. labels {dict(example)})"
                for name, example in self.unnamed.items()]
        if self.counts and not any(self.counts.values()):
            out.append("no metric family returns any series: faultline will rank on topology, changes and events only")
        return out + [f"check failed: {p}" for p in self.problems]


@dataclass(frozen=True)
class _Part:
    """One ``query_range`` call: a query over one time range at one step."""

    query: PromQuery
    promql: str
    start: float
    end: float
    step: float
    label: str  # "window" or "history"


def _grid(t: float, step: float) -> float:
    return math.floor(t / step) * step


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion from synchronous code, also when the calling thread already runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc

    worker = threading.Thread(target=target, name="prometheus-read")
    worker.start()
    worker.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


class PrometheusSource:
    """Reads the catalogue's (or ``config.queries``') families from one Prometheus.

    Parameters
    ----------
    url:
        Base URL of the Prometheus HTTP API (``http://prometheus:9090``); anything speaking it (Thanos, Mimir,
        VictoriaMetrics) works.
    config:
        Queries, step, deadline, concurrency and naming.
    transport:
        An ``httpx`` async transport (``None``: the network).
    """

    def __init__(self, url: str, *, config: PrometheusConfig = PrometheusConfig(), transport: object = None) -> None:
        self.url = url.rstrip("/")
        self.config = config
        self.transport = transport
        self._names: tuple[float, frozenset[str]] | None = None
        self._names_lock = threading.Lock()

    # -- planning ---------------------------------------------------------------------------------------------------
    def _step(self, start: float, end: float, step: float) -> float:
        return max(step, math.ceil(max(end - start, 0.0) / (MAX_POINTS_PER_SERIES - 1)))

    def _ranges(self, start: datetime, end: datetime, history_s: float, history_step_s: float,
                recent_s: float) -> list[tuple[str, float, float, float]]:
        """``(label, start, end, step)`` ranges: fine over the window and ``recent_s`` before it, coarse before that.
        Grid points sit at multiples of the step, so rounds read at different moments share timestamps."""
        fine = self.config.step_s
        t1 = epoch(end)
        t0 = epoch(start) - max(recent_s, 0.0)
        ranges = []
        fine_step = self._step(t0, t1, fine)
        ranges.append(("window", _grid(t0, fine_step), _grid(t1, fine_step), fine_step))
        if history_s > 0:
            coarse = max(history_step_s, fine_step)
            h_end = _grid(t0, coarse)
            if h_end >= ranges[0][1]:
                h_end -= coarse
            h_start = _grid(t0 - history_s, coarse)
            if h_end >= h_start:
                step = self._step(h_start, h_end, coarse)
                ranges.insert(0, ("history", h_start, h_end, step))
        return ranges

    def plan(self, start: datetime, end: datetime, *, entities: Iterable[str] | None = None,
             history_s: float = 0.0, history_step_s: float = 300.0, recent_s: float = 0.0,
             names: frozenset[str] | None = None) -> tuple[list[_Part], list[str]]:
        """The calls one read makes, and the queries skipped because Prometheus has none of their metric names."""
        scope = None if entities is None else sorted(set(entities))
        parts: list[_Part] = []
        absent: list[str] = []
        ranges = self._ranges(start, end, history_s, history_step_s, recent_s)
        for query in self.config.resolved_queries():
            if names is not None and query.names is not None and not _any_name(query.names, names):
                absent.append(query.name)
                continue
            promql = promql_for(query, scope, self.config.rate_window)
            if promql is None:
                continue
            parts.extend(_Part(query, promql, s, e, st, label) for label, s, e, st in ranges)
        return parts, absent

    # -- HTTP -------------------------------------------------------------------------------------------------------
    def _async_client(self, timeout_s: float):  # -> httpx.AsyncClient
        import httpx

        limits = httpx.Limits(max_connections=self.config.concurrency, max_keepalive_connections=self.config.concurrency)
        headers = {} if self.config.compress else {"Accept-Encoding": "identity"}
        return httpx.AsyncClient(base_url=self.url, timeout=timeout_s, limits=limits, headers=headers,
                                 transport=self.transport)  # type: ignore[arg-type]

    def _unavailable(self, exc: Exception) -> MetricSourceUnavailableError:
        return MetricSourceUnavailableError(f"prometheus {self.url}: {type(exc).__name__}: {exc}")

    async def _post(self, client, path: str, data: Mapping[str, str]) -> Any:
        """POST ``data`` to ``path``; the ``data`` member of a successful answer, else ``MetricSourceError`` with
        Prometheus' own reason (``MetricSourceUnavailableError`` when the server cannot be reached)."""
        import httpx

        try:
            response = await client.post(path, data=data)
        except (httpx.ConnectError, httpx.UnsupportedProtocol) as exc:
            raise self._unavailable(exc) from exc
        except httpx.TransportError as exc:
            raise MetricSourceError(f"{type(exc).__name__}: {exc}") from exc
        try:
            body = _loads(response.content)
        except ValueError:
            body = None
        if response.status_code != 200 or not isinstance(body, dict) or body.get("status") != "success":
            detail = body.get("error") if isinstance(body, dict) else None
            kind = body.get("errorType") if isinstance(body, dict) else None
            raise MetricSourceError(
                f"HTTP {response.status_code}" + (f" {kind}: {detail}" if detail else f": {response.text[:200]!r}"))
        return body.get("data")

    async def _names_async(self, client, *, fresh: bool = False) -> frozenset[str] | None:
        """Metric names Prometheus has (cached unless ``fresh``); ``None`` when it will not say (then every query is
        asked)."""
        now = time.monotonic()
        with self._names_lock:
            if not fresh and self._names is not None and now - self._names[0] < self.config.names_ttl_s:
                return self._names[1]
        import httpx

        try:
            response = await client.get("/api/v1/label/__name__/values")
            body = _loads(response.content)
        except (httpx.ConnectError, httpx.UnsupportedProtocol) as exc:
            raise self._unavailable(exc) from exc
        except (httpx.TransportError, ValueError) as exc:
            log.info("prometheus: metric names unavailable (%s); asking every family", exc)
            return None
        if response.status_code != 200 or not isinstance(body, dict) or body.get("status") != "success":
            return None
        names = frozenset(str(n) for n in body.get("data") or ())
        with self._names_lock:
            self._names = (now, names)
        return names

    async def _query_range(self, client, part: _Part, deadline: float) -> list[MatrixSeries]:
        import httpx

        remaining = max(deadline - time.monotonic(), 0.1)
        try:
            response = await client.post("/api/v1/query_range", data={
                "query": part.promql, "start": f"{part.start:.3f}", "end": f"{part.end:.3f}", "step": f"{part.step:g}",
                "timeout": f"{max(int(remaining * 1000), 1)}ms",  # Prometheus stops evaluating by our deadline too
            })
        except (httpx.ConnectError, httpx.UnsupportedProtocol) as exc:
            raise self._unavailable(exc) from exc
        except httpx.TransportError as exc:
            raise MetricSourceError(f"{type(exc).__name__}: {exc}") from exc
        try:
            if response.status_code != 200:
                raise NotAMatrix(_loads_or_none(response.content))
            return parse_matrix(response.content)
        except NotAMatrix as exc:
            body = exc.body
            detail = body.get("error") if isinstance(body, dict) else None
            kind = body.get("errorType") if isinstance(body, dict) else None
            if response.status_code == 200 and isinstance(body, dict) and body.get("status") == "success":
                got = (body.get("data") or {}).get("resultType") if isinstance(body.get("data"), dict) else None
                raise MetricSourceError(f"expected a matrix, got {got!r}") from None
            raise MetricSourceError(
                f"HTTP {response.status_code}" + (f" {kind}: {detail}" if detail else f": {response.text[:200]!r}")
            ) from None

    async def _read_async(self, start: datetime, end: datetime, entities: Iterable[str] | None, history_s: float,
                          history_step_s: float, recent_s: float) -> PrometheusResult:
        started = time.monotonic()
        deadline = started + self.config.deadline_s
        problems: list[SourceProblem] = []
        async with self._async_client(self.config.deadline_s) as client:
            try:
                names = await asyncio.wait_for(self._names_async(client), timeout=max(deadline - time.monotonic(), 0.01))
            except asyncio.TimeoutError:
                names = None
                problems.append(report(log, SourceProblem(source="prometheus", where="metric names",
                                                          reason="no answer before the deadline")))
            parts, absent = self.plan(start, end, entities=entities, history_s=history_s,
                                      history_step_s=history_step_s, recent_s=recent_s, names=names)
            if not parts and names is not None:
                # Nothing to ask by the cached list: ask Prometheus again (an exporter may have appeared since), which
                # also tells a server that went away from one that merely has nothing for this neighbourhood.
                try:
                    names = await asyncio.wait_for(self._names_async(client, fresh=True),
                                                   timeout=max(deadline - time.monotonic(), 0.01))
                except asyncio.TimeoutError:
                    names = None
                parts, absent = self.plan(start, end, entities=entities, history_s=history_s,
                                          history_step_s=history_step_s, recent_s=recent_s, names=names)
            gate = asyncio.Semaphore(self.config.concurrency)

            async def one(part: _Part) -> list[MatrixSeries]:
                async with gate:
                    return await self._query_range(client, part, deadline)

            tasks = {asyncio.create_task(one(p)): p for p in parts}
            done: set[asyncio.Task[list[MatrixSeries]]] = set()
            pending: set[asyncio.Task[list[MatrixSeries]]] = set(tasks)
            unavailable: MetricSourceUnavailableError | None = None
            while pending and unavailable is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                finished, pending = await asyncio.wait(pending, timeout=remaining, return_when=asyncio.FIRST_EXCEPTION)
                done |= finished
                for task in finished:
                    if isinstance(task.exception(), MetricSourceUnavailableError):
                        unavailable = task.exception()  # type: ignore[assignment]
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
        if unavailable is not None:
            raise unavailable
        return self._collect(tasks, pending, problems, absent, started, names_known=names is not None)

    def _collect(self, tasks, pending, problems: list[SourceProblem], absent: list[str], started: float, *,
                 names_known: bool) -> PrometheusResult:
        pieces: dict[tuple[str, str], list[MatrixSeries]] = {}
        xid_keys: set[tuple[str, str]] = set()
        counts: dict[str, int] = {}
        warns: dict[str, bool] = {}
        ok = 0
        owners: dict[tuple[str, str, str], tuple[str, str]] = {}
        for task, part in tasks.items():
            name = part.query.name
            counts.setdefault(name, 0)
            warns[name] = part.query.warn_when_empty
            if task in pending:
                problems.append(report(log, SourceProblem(
                    source="prometheus", where=f"{name} ({part.label})",
                    reason=f"no answer within the {self.config.deadline_s:g} s deadline; cancelled")))
                continue
            error = task.exception()
            if error is not None:
                problems.append(report(log, SourceProblem(source="prometheus", where=f"{name} ({part.label})",
                                                          reason=str(error))))
                continue
            ok += 1
            result = task.result()
            if part.label == "window":
                counts[name] += len(result)
            is_xid = part.query.metric_templates == (self.config.xid_metric,)
            for series in result:
                key = self._key(series, part, owners, problems)
                if key is not None:
                    pieces.setdefault(key, []).append(series)
                    if is_xid:
                        xid_keys.add(key)
        samples = _samples(pieces)
        # Xid events only from the DCGM Xid family (a gauge of the last code); a series that merely carries the same
        # name (a recorded case's error count) is not a code.
        events = tuple(xid_events(_samples({k: pieces[k] for k in xid_keys}), self.config.xid_metric))
        empty = tuple(n for n, c in counts.items() if c == 0 and warns.get(n, True)) if names_known else ()
        timed_out = len(pending)
        duration = (time.monotonic() - started) * 1000
        log.info("prometheus: %d of %d calls ok, %d series, %d samples, %d Xid events, %d problems, %d families "
                 "absent, %d empty, %.0f ms", ok, len(tasks), len(pieces), len(samples), len(events), len(problems),
                 len(absent), len(empty), duration)
        return PrometheusResult(samples=samples, events=events, problems=tuple(problems), queries_ok=ok,
                                families=counts, absent=tuple(absent), empty_families=empty, timed_out=timed_out,
                                duration_ms=duration, keys=frozenset(pieces))

    def _key(self, series: MatrixSeries, part: _Part, owners: dict[tuple[str, str, str], tuple[str, str]],
             problems: list[SourceProblem]) -> tuple[str, str] | None:
        """The (entity, metric) a result series is, or ``None`` (reported) when no rule names it or another series
        of the same family already is that key."""
        labels = series.labels
        query = part.query
        entity = entity_for(labels, query.entities, self.config.entity_label)
        metric = metric_for(labels, query.metric_templates)
        if entity is None or metric is None:
            problems.append(report(log, SourceProblem(
                source="prometheus", where=query.name,
                reason=f"no entity rule fits labels {labels} (rules: {', '.join(query.entities)}); skipped")))
            return None
        key = (entity, metric, part.label)
        described = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        owner = owners.get(key)
        if owner is not None and owner != (query.name, described):
            if owner[0] != query.name:  # two families give one metric of one entity: the earlier family wins
                log.debug("prometheus: %s %s from %s kept over %s", entity, metric, owner[0], query.name)
                return None
            problems.append(report(log, SourceProblem(
                source="prometheus", where=query.name,
                reason=f"labels {{{described}}} and {{{owner[1]}}} both name {entity} {metric}; the first kept "
                       "(add the label that tells them apart to the family's entity rules)")))
            return None
        owners[key] = (query.name, described)
        return None if not len(series.times) else (entity, metric)

    # -- public -----------------------------------------------------------------------------------------------------
    def read(self, start: datetime, end: datetime, *, entities: Iterable[str] | None = None, history_s: float = 0.0,
             history_step_s: float = 300.0, recent_s: float = 0.0) -> PrometheusResult:
        """Read every family over ``[start, end]`` (plus ``recent_s`` before it at the same step, and ``history_s``
        before that at ``history_step_s``), narrowed to ``entities`` when given.

        Failing or late queries are problems in the result; an unreachable server raises
        ``MetricSourceUnavailableError``. Never takes longer than ``config.deadline_s`` (plus parsing).
        """
        return _run(self._read_async(start, end, entities, history_s, history_step_s, recent_s))

    def check_families(self, at: datetime | None = None, sample: int = 20) -> "FamilyCheck":
        """Does each family give series faultline can name? Per family, ``topk(sample, <query>)`` fleet-wide at one
        instant (a few series on the wire, whatever the fleet's size) is checked against the family's entity rules.

        A family whose metric names Prometheus lacks is ``absent`` (not a problem: that exporter is not installed);
        one whose names exist but whose query gives no series is ``empty``, and one whose series fit none of its
        entity rules is ``unnamed`` — both mean the labels are not the conventions the catalogue expects, which
        ``faultline collect`` and ``/healthz`` warn about. Bounded by the same deadline as a read.
        """
        return _run(self._check_async(at, sample))

    async def _check_async(self, at: datetime | None, sample: int) -> "FamilyCheck":
        started = time.monotonic()
        deadline = started + self.config.deadline_s
        moment = f"{epoch(at):.3f}" if at is not None else f"{time.time():.3f}"
        async with self._async_client(self.config.deadline_s) as client:
            names = await asyncio.wait_for(self._names_async(client), timeout=self.config.deadline_s)
            asked: dict[str, PromQuery] = {}
            absent: list[str] = []
            for query in self.config.resolved_queries():
                if names is not None and query.names is not None and not _any_name(query.names, names):
                    absent.append(query.name)
                    continue
                asked[query.name] = query
            gate = asyncio.Semaphore(self.config.concurrency)

            async def probe(query: PromQuery) -> tuple[int, int, dict[str, str] | None]:
                expression = promql_for(query, None, self.config.rate_window)
                async with gate:
                    data = await self._post(client, "/api/v1/query", {
                        "query": f"topk({sample}, {expression})", "time": moment,
                        "timeout": f"{max(int((deadline - time.monotonic()) * 1000), 1)}ms"})
                result = (data or {}).get("result") or []
                named, example = 0, None
                for item in result:
                    labels = {k: str(v) for k, v in (item.get("metric") or {}).items()}
                    if (entity_for(labels, query.entities, self.config.entity_label) is not None
                            and metric_for(labels, query.metric_templates) is not None):
                        named += 1
                    elif example is None:
                        example = labels
                return len(result), named, example

            tasks = {name: asyncio.create_task(probe(q)) for name, q in asked.items()}
            pending: set[asyncio.Task[tuple[int, int, dict[str, str] | None]]] = set()
            if tasks:
                _, pending = await asyncio.wait(tasks.values(), timeout=max(deadline - time.monotonic(), 0.01))
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
        counts: dict[str, int] = {}
        unnamed: dict[str, dict[str, str]] = {}
        problems: list[str] = []
        for name, task in tasks.items():
            if task in pending:
                problems.append(f"{name}: no answer within {self.config.deadline_s:g} s")
                continue
            error = task.exception()
            if isinstance(error, MetricSourceUnavailableError):
                raise error
            if error is not None:
                problems.append(f"{name}: {error}")
                continue
            found, named, example = task.result()
            counts[name] = named
            if found and not named and example is not None:
                unnamed[name] = example
        empty = tuple(n for n, c in counts.items() if c == 0 and n not in unnamed and asked[n].warn_when_empty
                      and names is not None)
        return FamilyCheck(counts=counts, absent=tuple(absent), empty=empty, unnamed=unnamed,
                           problems=tuple(problems), duration_ms=(time.monotonic() - started) * 1000)

    def metric_names(self) -> frozenset[str] | None:
        """The metric names Prometheus has (what ``/healthz`` checks the catalogue against)."""

        async def names() -> frozenset[str] | None:
            async with self._async_client(self.config.deadline_s) as client:
                return await asyncio.wait_for(self._names_async(client), timeout=self.config.deadline_s)

        try:
            return _run(names())
        except asyncio.TimeoutError as exc:
            raise MetricSourceError(f"prometheus {self.url}: no metric names within {self.config.deadline_s:g} s") from exc

    def gpu_pods(self, at: datetime) -> dict[str, list[str]]:
        """Which pod uses which GPU at ``at``, as dcgm-exporter labels say; ``MetricSourceError`` when it fails."""

        async def query() -> Any:
            async with self._async_client(self.config.deadline_s) as client:
                return await self._post(client, "/api/v1/query", {"query": self.config.gpu_pod_query,
                                                                  "time": f"{epoch(at):.3f}"})

        try:
            data = _run(asyncio.wait_for(query(), timeout=self.config.deadline_s))
        except asyncio.TimeoutError as exc:
            raise MetricSourceError(f"prometheus {self.url}: GPU allocation query: no answer within "
                                    f"{self.config.deadline_s:g} s") from exc
        except MetricSourceUnavailableError:
            raise
        except MetricSourceError as exc:
            raise MetricSourceError(f"prometheus {self.url}: GPU allocation query: {exc}") from exc
        return gpu_pods_from_series((data or {}).get("result") or [], self.config)


def _any_name(pattern: str, names: frozenset[str]) -> bool:
    compiled = _compiled(pattern)
    return any(compiled.fullmatch(n) for n in names)


@lru_cache(maxsize=512)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


def _samples(pieces: Mapping[tuple[str, str], Sequence[MatrixSeries]]) -> Samples:
    """One ``Samples`` from the pieces of each series (history, then window), series in sorted (entity, metric) order:
    the frame the detectors get does not depend on which query answered first."""
    keys = sorted(pieces)
    if not keys:
        return Samples.empty()
    times: list[np.ndarray] = []
    values: list[np.ndarray] = []
    lengths = np.zeros(len(keys), dtype=np.int64)
    for i, key in enumerate(keys):
        for piece in pieces[key]:
            times.append(piece.times)
            values.append(piece.values)
            lengths[i] += len(piece.times)
    index = np.repeat(np.arange(len(keys)), lengths)
    entities = np.array([k[0] for k in keys], dtype=object)
    metrics = np.array([k[1] for k in keys], dtype=object)
    return Samples(np.concatenate(times), entities[index], metrics[index], np.concatenate(values))


def gpu_pods_from_series(series: Sequence[Mapping[str, object]], config: PrometheusConfig) -> dict[str, list[str]]:
    """Pod entity → GPU entities, from the labels of per-GPU DCGM series (GPUs with no pod label are idle)."""
    found: dict[str, set[str]] = {}
    for item in series:
        labels = {k: str(v) for k, v in (item.get("metric") or {}).items()}  # type: ignore[union-attr]
        pod = entity_for(labels, config.gpu_pod_rules, "")
        gpu = entity_for(labels, config.gpu_rules, config.entity_label)
        if pod and gpu:
            found.setdefault(pod, set()).add(gpu)
    return {pod: sorted(gpus) for pod, gpus in found.items()}


def xid_events(samples: Samples, metric: str = "xid_errors") -> list[Event]:
    """An ``XidError`` event each time a GPU's last-Xid value turns to a new non-zero code.

    ``DCGM_FI_DEV_XID_ERRORS`` is a gauge holding the last Xid error code (0 when none), not a count.
    """
    events: list[Event] = []
    mask = samples.metrics == metric
    if not mask.any():
        return events
    times, entities, values = samples.times[mask], samples.entities[mask], samples.values[mask]
    for entity in np.unique(entities):
        own = entities == entity
        order = np.argsort(times[own], kind="stable")
        t, v = times[own][order], values[own][order]
        previous = 0.0
        for moment, value in zip(t, v):
            if not np.isfinite(value):
                continue
            if value != 0 and value != previous:
                events.append(Event(entity=str(entity), reason="XidError", at=float(moment),
                                    message=f"GPU Xid error {int(value)}"))
            previous = value
    return events


def default_window(end: datetime, lookback: timedelta) -> tuple[datetime, datetime]:
    return end - lookback, end
