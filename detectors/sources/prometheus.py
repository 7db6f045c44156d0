"""Prometheus HTTP API (``/api/v1/query_range``) → ``Samples`` per entity, plus GPU Xid ``Event``s.

The default queries read what inference stacks export:

* **vLLM** — ``vllm:time_to_first_token_seconds``, ``vllm:inter_token_latency_seconds`` (and its old name
  ``vllm:time_per_output_token_seconds``), ``vllm:e2e_request_latency_seconds``, ``vllm:num_requests_waiting``,
  ``vllm:num_requests_running``, ``vllm:kv_cache_usage_perc`` (old ``vllm:gpu_cache_usage_perc``),
  ``vllm:generation_tokens_total``; label ``model_name``.
* **SGLang** — the same ideas as ``sglang:time_to_first_token_seconds``, ``sglang:inter_token_latency_seconds`` /
  ``sglang:time_per_output_token_seconds``, ``sglang:e2e_request_latency_seconds``, ``sglang:num_queue_reqs``,
  ``sglang:num_running_reqs``, ``sglang:token_usage``, ``sglang:generation_tokens_total``.
* **NVIDIA DCGM exporter** — ``DCGM_FI_DEV_GPU_UTIL``, ``DCGM_FI_DEV_GPU_TEMP``, ``DCGM_FI_DEV_FB_USED``,
  ``DCGM_FI_DEV_XID_ERRORS``, ``DCGM_FI_DEV_POWER_USAGE`` with labels ``gpu``, ``UUID``, ``Hostname`` and, when
  scraped in Kubernetes, ``pod``/``namespace`` (renamed ``exported_pod``/``exported_namespace`` by Prometheus when
  the target has its own).
* **RED** — OpenTelemetry's ``http_server_request_duration_seconds`` (``service_name``,
  ``http_response_status_code``) and the classic ``http_request_duration_seconds`` / ``http_requests_total``
  (``service``, ``code``).

Old and new names are joined with PromQL ``or`` so whichever a server exports is read, never both twice. Each
result series is mapped to an entity id by the first ``entities`` template whose labels are all present; a series
that no template fits is logged and skipped (a ``SourceProblem``). A series carrying ``entity_label``
(``faultline_entity``) names its entity outright.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from topology.problems import SourceProblem, report

from ..exceptions import MetricSourceError, MetricSourceUnavailableError
from ..models import Event
from .samples import Samples, epoch

log = logging.getLogger(__name__)

MAX_POINTS_PER_SERIES = 11_000  # Prometheus refuses query_range answers longer than this
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_WITHOUT_TARGET = "without (instance, job, pod, namespace, container, exported_pod, exported_namespace, exported_container, service, endpoint)"


class PromQuery(BaseModel):
    """One faultline metric read with one PromQL expression (``$window`` = the rate window)."""

    model_config = ConfigDict(frozen=True)

    metric: str
    promql: str
    entities: tuple[str, ...] = Field(min_length=1)


def _hist(q: float, names: Sequence[str], by: str) -> str:
    return " or ".join(
        f"histogram_quantile({q}, sum by (le, {by}) (rate({name}_bucket[$window])))" for name in names
    )


def _agg(op: str, names: Sequence[str], by: str, rate: bool = False) -> str:
    inner = (lambda n: f"rate({n}[$window])") if rate else (lambda n: n)
    return " or ".join(f"{op} by ({by}) ({inner(n)})" for n in names)


_LLM = ("llm:{model_name}",)
_GPU = ("gpu:{node}/{gpu}", "gpu:{Hostname}/{gpu}", "gpu:{UUID}")
_APP = ("app:{service_name}", "app:{service}")


def _dcgm(field: str) -> str:
    return f"max {_WITHOUT_TARGET} ({field})"


DEFAULT_QUERIES: tuple[PromQuery, ...] = (
    # vLLM first, SGLang second: `or` keeps the first expression's series per label set.
    PromQuery(metric="ttft_p95_s", entities=_LLM, promql=_hist(
        0.95, ["vllm:time_to_first_token_seconds", "sglang:time_to_first_token_seconds"], "model_name")),
    PromQuery(metric="tpot_p95_s", entities=_LLM, promql=_hist(
        0.95, ["vllm:inter_token_latency_seconds", "vllm:time_per_output_token_seconds",
               "sglang:inter_token_latency_seconds", "sglang:time_per_output_token_seconds"], "model_name")),
    PromQuery(metric="latency_p95_s", entities=_LLM, promql=_hist(
        0.95, ["vllm:e2e_request_latency_seconds", "sglang:e2e_request_latency_seconds"], "model_name")),
    PromQuery(metric="rps", entities=_LLM, promql=_agg(
        "sum", ["vllm:e2e_request_latency_seconds_count", "sglang:e2e_request_latency_seconds_count"], "model_name",
        rate=True)),
    PromQuery(metric="queue_len", entities=_LLM, promql=_agg(
        "sum", ["vllm:num_requests_waiting", "sglang:num_queue_reqs"], "model_name")),
    PromQuery(metric="running_requests", entities=_LLM, promql=_agg(
        "sum", ["vllm:num_requests_running", "sglang:num_running_reqs"], "model_name")),
    PromQuery(metric="kv_cache_usage", entities=_LLM, promql=_agg(
        "max", ["vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc", "sglang:token_usage"], "model_name")),
    PromQuery(metric="tokens_per_s", entities=_LLM, promql=_agg(
        "sum", ["vllm:generation_tokens_total", "sglang:generation_tokens_total"], "model_name", rate=True)),
    PromQuery(metric="gpu_util", entities=_GPU, promql=_dcgm("DCGM_FI_DEV_GPU_UTIL")),
    PromQuery(metric="gpu_temp_c", entities=_GPU, promql=_dcgm("DCGM_FI_DEV_GPU_TEMP")),
    PromQuery(metric="gpu_fb_used_mib", entities=_GPU, promql=_dcgm("DCGM_FI_DEV_FB_USED")),
    PromQuery(metric="xid_errors", entities=_GPU, promql=_dcgm("DCGM_FI_DEV_XID_ERRORS")),
    PromQuery(metric="gpu_power_w", entities=_GPU, promql=_dcgm("DCGM_FI_DEV_POWER_USAGE")),
    PromQuery(metric="rps", entities=_APP, promql=(
        "sum by (service_name) (rate(http_server_request_duration_seconds_count[$window]))"
        " or sum by (service) (rate(http_requests_total[$window]))")),
    PromQuery(metric="error_rate", entities=_APP, promql=(
        "(sum by (service_name) (rate(http_server_request_duration_seconds_count{http_response_status_code=~\"5..\"}[$window]))"
        " / sum by (service_name) (rate(http_server_request_duration_seconds_count[$window])))"
        " or (sum by (service) (rate(http_requests_total{code=~\"5..\"}[$window]))"
        " / sum by (service) (rate(http_requests_total[$window])))")),
    PromQuery(metric="latency_p95_s", entities=_APP, promql=(
        _hist(0.95, ["http_server_request_duration_seconds"], "service_name") + " or "
        + _hist(0.95, ["http_request_duration_seconds"], "service"))),
)


class PrometheusConfig(BaseModel):
    """What to ask Prometheus and how to name what comes back. Every field is used."""

    model_config = ConfigDict(frozen=True)

    queries: tuple[PromQuery, ...] = DEFAULT_QUERIES
    rate_window: str = "2m"
    step_s: float = Field(default=30.0, gt=0)
    timeout_s: float = Field(default=30.0, gt=0)
    entity_label: str = "faultline_entity"
    xid_metric: str = "xid_errors"
    gpu_pod_query: str = "DCGM_FI_DEV_GPU_UTIL"
    """Instant query whose series carry, per GPU, the pod using it (dcgm-exporter's Kubernetes mode)."""
    gpu_rules: tuple[str, ...] = _GPU
    gpu_pod_rules: tuple[str, ...] = ("pod:{exported_namespace}/{exported_pod}",)
    """Only ``exported_*`` by default: a plain ``pod`` label is usually the exporter's own pod (the scrape target)."""


def entity_for(labels: Mapping[str, str], templates: Sequence[str], entity_label: str) -> str | None:
    """The first template whose placeholders are all non-empty labels, filled in; ``None`` when none fits."""
    if labels.get(entity_label):
        return labels[entity_label]
    for template in templates:
        names = _PLACEHOLDER.findall(template)
        if all(labels.get(name) for name in names):
            return _PLACEHOLDER.sub(lambda m: labels[m.group(1)], template)
    return None


@dataclass(frozen=True)
class PrometheusResult:
    samples: Samples
    events: tuple[Event, ...]
    problems: tuple[SourceProblem, ...]
    queries_ok: int


class PrometheusSource:
    """Reads ``config.queries`` from one Prometheus over ``[start, end]``.

    Parameters
    ----------
    url:
        Base URL of the Prometheus HTTP API (``http://prometheus:9090``).
    config:
        Queries, entity templates, step and timeouts.
    transport:
        An ``httpx`` transport (tests of failure handling pass ``httpx.MockTransport`` here; everything else talks
        to a real server).
    """

    def __init__(self, url: str, *, config: PrometheusConfig = PrometheusConfig(), transport: object = None) -> None:
        self.url = url.rstrip("/")
        self.config = config
        self.transport = transport

    def _client(self):  # -> httpx.Client
        import httpx

        return httpx.Client(base_url=self.url, timeout=self.config.timeout_s, transport=self.transport)  # type: ignore[arg-type]

    def _step(self, start: datetime, end: datetime) -> float:
        span = max((end - start).total_seconds(), 0.0)
        return max(self.config.step_s, math.ceil(span / (MAX_POINTS_PER_SERIES - 1)))

    def query_range(self, client, promql: str, start: datetime, end: datetime, step: float) -> list[dict]:
        """One ``query_range`` call; raises ``MetricSourceError`` with Prometheus' own reason."""
        import httpx

        expression = promql.replace("$window", self.config.rate_window)
        try:
            response = client.post("/api/v1/query_range", data={
                "query": expression, "start": f"{epoch(start):.3f}", "end": f"{epoch(end):.3f}", "step": f"{step:g}",
            })
        except (httpx.ConnectError, httpx.UnsupportedProtocol) as exc:
            raise MetricSourceUnavailableError(f"prometheus {self.url}: {type(exc).__name__}: {exc}") from exc
        except httpx.TransportError as exc:
            raise MetricSourceError(f"{type(exc).__name__}: {exc}") from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code != 200 or not isinstance(body, dict) or body.get("status") != "success":
            detail = (body or {}).get("error") if isinstance(body, dict) else None
            kind = (body or {}).get("errorType") if isinstance(body, dict) else None
            raise MetricSourceError(
                f"HTTP {response.status_code}" + (f" {kind}: {detail}" if detail else f": {response.text[:200]!r}"))
        data = body.get("data") or {}
        if data.get("resultType") != "matrix":
            raise MetricSourceError(f"expected a matrix, got {data.get('resultType')!r}")
        return list(data.get("result") or [])

    def gpu_pods(self, at: datetime) -> dict[str, list[str]]:
        """Which pod uses which GPU at ``at``, as dcgm-exporter labels say; ``MetricSourceError`` when it fails."""
        import httpx

        with self._client() as client:
            try:
                response = client.post("/api/v1/query", data={"query": self.config.gpu_pod_query,
                                                              "time": f"{epoch(at):.3f}"})
                body = response.json()
            except (httpx.ConnectError, httpx.UnsupportedProtocol) as exc:
                raise MetricSourceUnavailableError(f"prometheus {self.url}: {type(exc).__name__}: {exc}") from exc
            except (httpx.TransportError, ValueError) as exc:
                raise MetricSourceError(f"prometheus {self.url}: GPU allocation query: {exc}") from exc
        if response.status_code != 200 or body.get("status") != "success":
            raise MetricSourceError(f"prometheus {self.url}: GPU allocation query: HTTP {response.status_code} "
                                    f"{body.get('error', '')}")
        return gpu_pods_from_series((body.get("data") or {}).get("result") or [], self.config)

    def read(self, start: datetime, end: datetime) -> PrometheusResult:
        """Run every query; a failing query is a problem, an unreachable server a ``MetricSourceError``."""
        step = self._step(start, end)
        # Grid points at multiples of the step: rounds collected at different moments land on the same timestamps.
        start = datetime.fromtimestamp(math.floor(epoch(start) / step) * step, start.tzinfo)
        end = datetime.fromtimestamp(math.floor(epoch(end) / step) * step, end.tzinfo)
        parts: list[Samples] = []
        problems: list[SourceProblem] = []
        ok = 0
        with self._client() as client:
            for query in self.config.queries:
                started = time.perf_counter()
                try:
                    result = self.query_range(client, query.promql, start, end, step)
                except MetricSourceUnavailableError:
                    raise  # the server is down: stop asking
                except MetricSourceError as exc:
                    problems.append(report(log, SourceProblem(source="prometheus", where=query.metric,
                                                              reason=str(exc))))
                    continue
                ok += 1
                for series in result:
                    labels = {k: str(v) for k, v in (series.get("metric") or {}).items()}
                    entity = entity_for(labels, query.entities, self.config.entity_label)
                    if entity is None:
                        problems.append(report(log, SourceProblem(
                            source="prometheus", where=query.metric,
                            reason=f"no entity rule fits labels {labels} (rules: {', '.join(query.entities)}); skipped")))
                        continue
                    values = series.get("values") or []
                    if not values:
                        continue
                    pairs = np.asarray(values, dtype=object)
                    times = pairs[:, 0].astype(float)
                    numbers = np.array([_number(v) for v in pairs[:, 1]], dtype=float)
                    parts.append(Samples.of(times, entity, query.metric, numbers))
                log.debug("prometheus: %s -> %d series in %.0f ms", query.metric, len(result),
                          (time.perf_counter() - started) * 1000)
        samples = Samples.concat(parts)
        events = tuple(xid_events(samples, self.config.xid_metric))
        log.info("prometheus: %d queries ok, %d samples in %d series, %d Xid events, %d problems", ok, len(samples),
                 len(samples.series_keys()), len(events), len(problems))
        return PrometheusResult(samples=samples, events=events, problems=tuple(problems), queries_ok=ok)


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


def _number(raw: object) -> float:
    try:
        return float(raw)  # Prometheus sends "NaN", "+Inf" as strings; float() reads both
    except (TypeError, ValueError):
        return float("nan")


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
