"""Log records from Grafana Loki: LogQL ``query_range`` over HTTP, for teams that keep their logs there.

``GET /loki/api/v1/query_range`` with a log query (a stream selector and optional line filters) answers
``{"status": "success", "data": {"resultType": "streams", "result": [{"stream": {labels}, "values": [[ts, line],
…]}]}}`` — ``ts`` nanoseconds since the epoch as a string; Loki 3 may add a third element of structured metadata.
One answer holds at most ``limit`` lines, so a window is read page by page going forward: the next page starts at
the last timestamp read (``start`` is inclusive, ``end`` exclusive), and the lines already seen at that timestamp
are dropped. Reading stops at ``max_lines`` (reported as a problem, never silently).

Each line becomes a ``LogRecord`` whose resource attributes come from the stream's labels (``label_map``:
``service_name``/``app`` → ``service.name``, ``namespace``/``pod`` and their OTLP-ingest names → ``k8s.*``, a
``faultline_entity`` label → ``faultline.entity``), so the same entity rules and the same log evidence apply as for
OTLP logs. The level comes from a ``level``/``detected_level``/``severity_text`` label or structured metadata.

Errors: unreachable → ``MetricSourceUnavailableError``; a 4xx (Loki answers a bad LogQL with ``400`` and a plain
text reason) or 5xx, or an answer that is not a log stream result → ``MetricSourceError`` naming the query.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

import httpx
from pydantic import BaseModel, ConfigDict, Field

from topology.problems import SourceProblem, report

from ..exceptions import MetricSourceError, MetricSourceUnavailableError
from .otlp_logs import LogRecord

log = logging.getLogger(__name__)

__all__ = ["LokiConfig", "LokiResult", "LokiSource"]

DEFAULT_LABELS: dict[str, str] = {
    "faultline_entity": "faultline.entity",
    "service_name": "service.name", "app": "service.name", "service": "service.name", "job": "service.name",
    "k8s_namespace_name": "k8s.namespace.name", "namespace": "k8s.namespace.name",
    "k8s_pod_name": "k8s.pod.name", "pod": "k8s.pod.name",
    "k8s_container_name": "k8s.container.name", "container": "k8s.container.name",
}
LEVEL_LABELS = ("level", "detected_level", "severity_text", "severity")


class LokiConfig(BaseModel):
    """What to ask Loki and how to read its labels."""

    model_config = ConfigDict(frozen=True)

    query: str = '{namespace=~".+"}'
    """A LogQL *log* query (stream selector, optional line filters); metric queries are refused."""
    limit: int = Field(default=5000, ge=1, le=50_000)
    """Lines per request (Loki's own ``max_entries_limit_per_query`` defaults to 5000)."""
    max_lines: int = Field(default=200_000, ge=1)
    timeout_s: float = Field(default=30.0, gt=0)
    tenant: str | None = None
    """``X-Scope-OrgID`` for a multi-tenant Loki."""
    label_map: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_LABELS))
    """Loki label → resource attribute; the first label found wins for each attribute (order of this mapping)."""


@dataclass
class LokiResult:
    records: list[LogRecord] = field(default_factory=list)
    problems: list[SourceProblem] = field(default_factory=list)
    requests: int = 0


def _resource(labels: Mapping[str, str], label_map: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for label, attribute in label_map.items():
        value = labels.get(label)
        if value and attribute not in out:
            out[attribute] = value
    return out


class LokiSource:
    """Reads log lines of a time window from Loki's HTTP API."""

    def __init__(self, url: str, config: LokiConfig = LokiConfig(), client: httpx.Client | None = None) -> None:
        self.url = url.rstrip("/")
        self.config = config
        self._client = client

    def _get(self, client: httpx.Client, params: dict) -> dict:
        where = f"Loki {self.url} query {self.config.query!r}"
        headers = {"X-Scope-OrgID": self.config.tenant} if self.config.tenant else {}
        try:
            response = client.get(f"{self.url}/loki/api/v1/query_range", params=params, headers=headers)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise MetricSourceUnavailableError(f"{where}: cannot connect: {exc}") from exc
        except httpx.HTTPError as exc:
            raise MetricSourceError(f"{where}: {type(exc).__name__}: {exc}") from exc
        if response.status_code >= 400:
            raise MetricSourceError(f"{where}: HTTP {response.status_code}: {response.text.strip()[:300]}")
        try:
            body = response.json()
        except ValueError as exc:
            raise MetricSourceError(f"{where}: answer is not JSON: {response.text[:200]!r}") from exc
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict) or body.get("status") != "success":
            raise MetricSourceError(f"{where}: unexpected answer {str(body)[:200]}")
        if data.get("resultType") != "streams":
            raise MetricSourceError(f"{where}: answer is a {data.get('resultType')!r}, not log streams: "
                                    "give a log query (a stream selector with optional filters), not a metric query")
        if not isinstance(data.get("result"), list):
            raise MetricSourceError(f"{where}: data.result is not a list")
        return data

    def read(self, start: datetime, end: datetime) -> LokiResult:
        """Every line of ``[start, end)`` matching the query, oldest first (paged, at most ``max_lines``)."""
        result = LokiResult()
        begin, stop = int(start.timestamp() * 1e9), int(end.timestamp() * 1e9)
        seen_at_edge: set[tuple] = set()
        client = self._client or httpx.Client(timeout=self.config.timeout_s)
        try:
            while begin < stop:
                data = self._get(client, {"query": self.config.query, "start": str(begin), "end": str(stop),
                                          "limit": str(self.config.limit), "direction": "forward"})
                result.requests += 1
                page = self._entries(data, result)
                page.sort(key=lambda item: item[0])
                fresh = [item for item in page if (item[0], item[1], item[2]) not in seen_at_edge]
                for t, labels_key, line, record in fresh:
                    result.records.append(record)
                if len(result.records) >= self.config.max_lines:
                    result.records = result.records[: self.config.max_lines]
                    result.problems.append(report(log, SourceProblem(
                        source="loki", where=self.config.query,
                        reason=f"more than {self.config.max_lines} lines in the window; the rest was not read")))
                    break
                if len(page) < self.config.limit or not fresh:
                    break
                last = page[-1][0]
                seen_at_edge = {(t, k, line) for t, k, line, _ in page if t == last}
                begin = last
        finally:
            if self._client is None:
                client.close()
        return result

    def _entries(self, data: dict, result: LokiResult) -> list[tuple]:
        out = []
        for stream in data["result"]:
            labels = stream.get("stream") if isinstance(stream, dict) else None
            values = stream.get("values") if isinstance(stream, dict) else None
            if not isinstance(labels, dict) or not isinstance(values, list):
                result.problems.append(report(log, SourceProblem(source="loki", where=self.config.query,
                                                                  reason=f"malformed stream skipped: {str(stream)[:120]}")))
                continue
            resource = _resource(labels, self.config.label_map)
            labels_key = tuple(sorted(labels.items()))
            level_label = next((labels[k] for k in LEVEL_LABELS if labels.get(k)), "")
            for value in values:
                try:
                    t = int(value[0])
                    line = str(value[1])
                    metadata = value[2] if len(value) > 2 and isinstance(value[2], dict) else {}
                except (TypeError, ValueError, IndexError, KeyError):
                    result.problems.append(report(log, SourceProblem(source="loki", where=self.config.query,
                                                                     reason=f"malformed entry skipped: {str(value)[:120]}")))
                    continue
                level = next((str(metadata[k]) for k in LEVEL_LABELS if metadata.get(k)), level_label)
                trace = metadata.get("trace_id") or metadata.get("traceID")
                record = LogRecord.model_construct(
                    time_ns=t, body=line, severity_number=0, severity_text=level,
                    trace_id=str(trace).lower() if isinstance(trace, str) and len(trace) == 32 else None,
                    span_id=None, attributes={k: v for k, v in metadata.items() if isinstance(v, str)},
                    resource=resource, scope="loki")
                out.append((t, labels_key, line, record))
        return out
