"""Nezha's trace and log minute-files → ``traces.jsonl`` / ``logs.jsonl`` in OTLP/JSON (Online Boutique days only).

What the files are (read against the data, ``rca_data/<day>/trace|log/HH_MM_<kind>.csv``):

* ``trace``: ``TraceID,SpanID,ParentID,PodName,OperationName,StartTimeUnixNano,EndTimeUnixNano,Duration`` — one row
  a span (``ParentID`` is ``root`` for a root span; ``Duration`` is in microseconds and equals end − start). A file
  labelled ``HH_MM`` holds the spans that started in the minute before ``HH:MM`` plus 19–29 s, like the metric
  samples labelled ``HH:MM``. The spans carry no kind, no status and no attributes: nothing of them is invented here
  (kind ``UNSPECIFIED``, status ``UNSET``); the receiving side infers callers and callees from the parent links.
* ``log``: ``Timestamp,TimeUnixNano,Node,PodName,Container,TraceID,SpanID,Log`` — ``Log`` is the container runtime's
  JSON line (``{"log": "...", "stream": "stdout", "time": ...}``); most services log JSON themselves (``message``,
  ``severity``), adservice and cartservice plain text.

Mapping (the case format's resource attributes): resource ``service.name`` (the pod name without its ReplicaSet
suffix), ``k8s.pod.name``, ``k8s.namespace.name`` (``hipster``, as for the metrics), ``host.ip`` (the node address
the log rows carry). Logs: ``timeUnixNano`` from ``TimeUnixNano``; the body is the application's ``message`` when
it logs JSON, else its raw line; ``severityText``/``severityNumber`` from its ``severity`` (the data model's
numbers: INFO 9, WARN 13, ERROR 17 …; plain-text lines have none); ``traceId``/``spanId`` when the row carries valid
ones; ``log.iostream`` from ``stream``. One export request a line, at most ``BATCH`` spans or records a line, grouped
by pod, as the Collector's ``file`` exporter writes batches.

Only files of the two allowed days are opened, each by its exact name (no directory is listed).
"""

from __future__ import annotations

import csv
import json
from collections import OrderedDict, defaultdict
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from ._nezha_read import service_of

BATCH = 2000
SEVERITY = {"TRACE": 1, "DEBUG": 5, "INFO": 9, "NOTICE": 10, "WARN": 13, "WARNING": 13, "ERROR": 17, "CRITICAL": 21,
            "FATAL": 21}
_HEX = set("0123456789abcdefABCDEF")


def _resource(pod: str, namespace: str, node: str | None = None) -> dict:
    attrs = [("service.name", service_of(pod)), ("k8s.pod.name", pod), ("k8s.namespace.name", namespace)]
    if node:
        attrs.append(("host.ip", node))
    return {"attributes": [{"key": k, "value": {"stringValue": v}} for k, v in attrs]}


def _hex(value: str, length: int) -> str | None:
    value = (value or "").strip()
    return value.lower() if len(value) == length and set(value) <= _HEX and set(value) != {"0"} else None


class MinuteCache:
    """Parsed minute-files, kept for the next case (windows of consecutive faults overlap)."""

    def __init__(self, size: int = 24) -> None:
        self.size = size
        self._items: OrderedDict[Path, list] = OrderedDict()

    def get(self, path: Path, reader) -> list:
        if path in self._items:
            self._items.move_to_end(path)
            return self._items[path]
        rows = reader(path)
        self._items[path] = rows
        while len(self._items) > self.size:
            self._items.popitem(last=False)
        return rows


def read_trace_file(path: Path) -> list[tuple]:
    """(pod, span dict) per row; rows without ids or times are skipped (counted by the caller as absent)."""
    out = []
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            trace, span = _hex(row.get("TraceID", ""), 32), _hex(row.get("SpanID", ""), 16)
            try:
                start, end = int(row["StartTimeUnixNano"]), int(row["EndTimeUnixNano"])
            except (KeyError, TypeError, ValueError):
                continue
            if trace is None or span is None:
                continue
            parent = _hex(row.get("ParentID", ""), 16)
            item = {"traceId": trace, "spanId": span, "name": row.get("OperationName", ""), "kind": 0,
                    "startTimeUnixNano": str(start), "endTimeUnixNano": str(end)}
            if parent:
                item["parentSpanId"] = parent
            out.append((row.get("PodName", ""), end, item))
    return out


def _log_body(raw: str) -> tuple[str, str, str | None]:
    """(body, severity text, stream) from the runtime's JSON line."""
    stream = None
    line = raw
    try:
        outer = json.loads(raw)
        if isinstance(outer, dict):
            line = str(outer.get("log", raw))
            stream = outer.get("stream")
    except ValueError:
        pass
    line = line.rstrip("\n")
    try:
        inner = json.loads(line)
    except ValueError:
        return line, "", stream
    if isinstance(inner, dict) and "message" in inner:
        return str(inner["message"]), str(inner.get("severity", inner.get("level", ""))).upper(), stream
    return line, "", stream


def read_log_file(path: Path) -> list[tuple]:
    out = []
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            try:
                t = int(row["TimeUnixNano"])
            except (KeyError, TypeError, ValueError):
                continue
            body, severity, stream = _log_body(row.get("Log", ""))
            item: dict = {"timeUnixNano": str(t), "body": {"stringValue": body}}
            if severity:
                item["severityText"] = severity
                if severity in SEVERITY:
                    item["severityNumber"] = SEVERITY[severity]
            trace, span = _hex(row.get("TraceID", ""), 32), _hex(row.get("SpanID", ""), 16)
            if trace:
                item["traceId"] = trace
            if span:
                item["spanId"] = span
            if stream:
                item["attributes"] = [{"key": "log.iostream", "value": {"stringValue": stream}}]
            out.append((row.get("PodName", ""), row.get("Node", ""), t, item))
    return out


def _lines(groups: dict, namespace: str, blocks_key: str, scopes_key: str, items_key: str) -> Iterator[str]:
    for (pod, node), items in sorted(groups.items()):
        for i in range(0, len(items), BATCH):
            document = {blocks_key: [{"resource": _resource(pod, namespace, node or None), scopes_key: [
                {"scope": {"name": "nezha-converter"}, items_key: items[i:i + BATCH]}]}]}
            yield json.dumps(document, separators=(",", ":")) + "\n"


def write_traces(files: list[Path], out: Path, namespace: str, until: datetime, cache: MinuteCache) -> int:
    """``traces.jsonl`` from trace minute-files; spans that ended after ``until`` are left out. Returns the count."""
    limit = int(until.timestamp() * 1e9)
    groups: dict[tuple, list] = defaultdict(list)
    n = 0
    for path in files:
        for pod, end, item in cache.get(path, read_trace_file):
            if end <= limit and pod:
                groups[(pod, "")].append(item)
                n += 1
    with out.open("w", encoding="utf-8") as handle:
        handle.writelines(_lines(groups, namespace, "resourceSpans", "scopeSpans", "spans"))
    return n


def write_logs(files: list[Path], out: Path, namespace: str, until: datetime, cache: MinuteCache) -> int:
    limit = int(until.timestamp() * 1e9)
    groups: dict[tuple, list] = defaultdict(list)
    n = 0
    for path in files:
        for pod, node, t, item in cache.get(path, read_log_file):
            if t <= limit and pod:
                groups[(pod, node)].append(item)
                n += 1
    with out.open("w", encoding="utf-8") as handle:
        handle.writelines(_lines(groups, namespace, "resourceLogs", "scopeLogs", "logRecords"))
    return n
