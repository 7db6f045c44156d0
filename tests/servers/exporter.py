"""A metrics endpoint the tests control, in the Prometheus text exposition format.

Why our own exporter rather than canned text: Prometheus only ingests what it scrapes live, so a test that wants a
latency step or a GPU Xid burst must change the values *while* Prometheus scrapes. ``MetricsExporter`` holds
gauges, counters and histograms in memory, serves them on ``/metrics`` over real HTTP on 127.0.0.1, and lets the test
change them between scrapes. ``openmetrics_history`` writes the same kinds of series with past timestamps for
``promtool tsdb create-blocks-from openmetrics`` (backfill), which gives hours of history in a second.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DEFAULT_BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0)

LabelKey = tuple[tuple[str, str], ...]


def _key(labels: Mapping[str, str]) -> LabelKey:
    return tuple(sorted(labels.items()))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def format_labels(labels: Iterable[tuple[str, str]]) -> str:
    body = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
    return "{" + body + "}" if body else ""


def _fmt(value: float) -> str:
    if value == float("inf"):
        return "+Inf"
    return repr(float(value))


@dataclass
class _Histogram:
    buckets: tuple[float, ...]
    counts: list[float]
    total: float = 0.0
    count: float = 0.0


@dataclass
class MetricsExporter:
    """In-memory metric families served at ``http://127.0.0.1:<port>/metrics``."""

    gauges: dict[str, dict[LabelKey, float]] = field(default_factory=dict)
    counters: dict[str, dict[LabelKey, float]] = field(default_factory=dict)
    histograms: dict[str, dict[LabelKey, _Histogram]] = field(default_factory=dict)
    scrapes: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    # -- values ---------------------------------------------------------------------------------------------------
    def set_gauge(self, name: str, labels: Mapping[str, str], value: float) -> None:
        with self._lock:
            self.gauges.setdefault(name, {})[_key(labels)] = float(value)

    def add_counter(self, name: str, labels: Mapping[str, str], amount: float) -> None:
        """``name`` is the full sample name, ``..._total`` included, as the exporters we imitate write it."""
        with self._lock:
            family = self.counters.setdefault(name, {})
            family[_key(labels)] = family.get(_key(labels), 0.0) + float(amount)

    def observe(
        self,
        name: str,
        labels: Mapping[str, str],
        value: float,
        *,
        times: int = 1,
        buckets: Sequence[float] = DEFAULT_BUCKETS,
    ) -> None:
        """Record ``times`` observations of ``value`` in histogram ``name`` (``_bucket``/``_sum``/``_count``)."""
        with self._lock:
            family = self.histograms.setdefault(name, {})
            hist = family.get(_key(labels))
            if hist is None:
                hist = family[_key(labels)] = _Histogram(tuple(buckets), [0.0] * len(buckets))
            for i, upper in enumerate(hist.buckets):
                if value <= upper:
                    hist.counts[i] += times
            hist.total += value * times
            hist.count += times

    def clear(self, name: str) -> None:
        """Drop a family: the exporter stops exposing it (Prometheus marks those series stale)."""
        with self._lock:
            for families in (self.gauges, self.counters, self.histograms):
                families.pop(name, None)

    def render(self) -> str:
        with self._lock:
            lines: list[str] = []
            for name, family in sorted(self.gauges.items()):
                lines.append(f"# TYPE {name} gauge")
                lines.extend(f"{name}{format_labels(k)} {_fmt(v)}" for k, v in family.items())
            for name, family in sorted(self.counters.items()):
                base = name[: -len("_total")] if name.endswith("_total") else name
                lines.append(f"# TYPE {base} counter")
                lines.extend(f"{name}{format_labels(k)} {_fmt(v)}" for k, v in family.items())
            for name, family in sorted(self.histograms.items()):
                lines.append(f"# TYPE {name} histogram")
                for key, hist in family.items():
                    for upper, count in zip(hist.buckets, hist.counts):
                        lines.append(f"{name}_bucket{format_labels(key + (('le', _fmt(upper)),))} {_fmt(count)}")
                    lines.append(f"{name}_bucket{format_labels(key + (('le', '+Inf'),))} {_fmt(hist.count)}")
                    lines.append(f"{name}_sum{format_labels(key)} {_fmt(hist.total)}")
                    lines.append(f"{name}_count{format_labels(key)} {_fmt(hist.count)}")
            return "\n".join(lines) + "\n"

    # -- serving --------------------------------------------------------------------------------------------------
    def start(self) -> str:
        """Serve on a free 127.0.0.1 port; returns ``host:port`` (a Prometheus scrape target)."""
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server API
                if self.path.split("?")[0] != "/metrics":
                    self.send_error(404)
                    return
                body = exporter.render().encode()
                with exporter._lock:
                    exporter.scrapes += 1
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="metrics-exporter", daemon=True).start()
        return self.address

    @property
    def address(self) -> str:
        assert self._server is not None, "exporter not started"
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@dataclass(frozen=True)
class HistorySeries:
    """One backfilled series: sample name, labels, and ``(epoch_seconds, value)`` points in time order."""

    name: str
    labels: Mapping[str, str]
    points: Sequence[tuple[float, float]]


def openmetrics_history(series: Iterable[HistorySeries]) -> str:
    """OpenMetrics text for ``promtool tsdb create-blocks-from openmetrics``.

    No ``# TYPE`` lines: untyped samples keep their names verbatim (``..._bucket``, ``..._total``), which is what
    PromQL later sees anyway. Samples of one series must be contiguous and in time order.
    """
    lines: list[str] = []
    for item in series:
        labels = format_labels(sorted(item.labels.items()))
        lines.extend(f"{item.name}{labels} {_fmt(v)} {t:.3f}" for t, v in item.points)
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def histogram_history(
    name: str,
    labels: Mapping[str, str],
    points: Sequence[tuple[float, float, int]],
    buckets: Sequence[float] = DEFAULT_BUCKETS,
) -> list[HistorySeries]:
    """Cumulative ``_bucket``/``_sum``/``_count`` series of a histogram that, at each ``(t, value, n)``, observed
    ``n`` more requests of latency ``value`` — so ``rate()`` and ``histogram_quantile()`` see exactly that history."""
    bounds = [*buckets, float("inf")]
    counts = [0.0] * len(bounds)
    total = count = 0.0
    series: dict[str, list[tuple[float, float]]] = {}
    for t, value, n in points:
        for i, upper in enumerate(bounds):
            if value <= upper:
                counts[i] += n
        total += value * n
        count += n
        for i, upper in enumerate(bounds):
            series.setdefault(_fmt(upper), []).append((t, counts[i]))
        series.setdefault("_sum", []).append((t, total))
        series.setdefault("_count", []).append((t, count))
    out = [HistorySeries(f"{name}_bucket", {**labels, "le": le}, pts) for le, pts in series.items()
           if not le.startswith("_")]
    out.append(HistorySeries(f"{name}_sum", dict(labels), series["_sum"]))
    out.append(HistorySeries(f"{name}_count", dict(labels), series["_count"]))
    return out
