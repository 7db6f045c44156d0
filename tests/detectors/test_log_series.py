"""Log evidence with known answers: Drain3 templates per entity, lines of templates the baseline never showed, an
error template's surge, and the template, counts and example lines behind each sample."""

from __future__ import annotations

from detectors.models import SeriesKey
from detectors.sources.log_series import log_series, template_id
from detectors.sources.otlp_logs import LogRecord

S = 10**9
T0 = 1_700_000_000
CART = {"service.name": "cart", "k8s.namespace.name": "shop", "k8s.pod.name": "cart-0"}
FRONT = {"service.name": "front"}


def _line(t: float, body: str, resource=CART, severity: int = 9) -> LogRecord:
    return LogRecord(time_ns=int(t * S), body=body, severity_number=severity, resource=resource)


def _records() -> list[LogRecord]:
    out = []
    for i in range(600):  # ten minutes, one line a second per entity
        t = T0 + i
        out.append(_line(t, f"GET /cart/{i % 97} served in {3 + i % 7} ms"))
        out.append(_line(t + 0.5, f"rendered page {i} for user u{i % 13}", FRONT))
        if i >= 480:  # the last two minutes: redis fails and a new kind of line appears
            out.append(_line(t + 0.2, f"redis timeout after {100 + i % 5} ms on key cart:{i}", severity=17))
            out.append(_line(t + 0.3, f"falling back to empty cart for session s{i}"))
    return out


def test_new_templates_and_error_surges_with_their_lines():
    series = log_series(_records(), grid_start_s=T0, step_s=60, baseline_end_s=T0 + 300)
    table = series.samples.to_table()
    row = lambda e, m: table[(table.entity == e) & (table.metric == m)].sort_values("timestamp")["value"].tolist()  # noqa: E731
    # samples are labelled by the end of their minute: T0 (the first line), T0+60 … T0+600
    new = row("pod:shop/cart-0", "log_new_templates_per_s")
    assert new[:9] == [0.0] * 9 and min(new[9:]) > 1.9  # 2 new templates a second from 480 s
    errors = row("pod:shop/cart-0", "log_errors_per_s")
    assert not any(errors[:9]) and min(errors[9:]) > 0.95
    assert row("app:front", "log_new_templates_per_s") == [0.0] * 10  # nothing new on the front end (T0+60 … +600)
    assert row("pod:shop/cart-0", "log_lines_per_s")[1] == 1.0
    note = series.notes[SeriesKey("pod:shop/cart-0", "log_errors_per_s")][float(T0 + 540)]
    assert note.template == "redis timeout after <NUM> ms on key cart:<NUM>"
    assert len(note.examples) == 3 and note.examples[0] == "redis timeout after 100 ms on key cart:480"
    assert note.detail.startswith("60 lines")
    per_template = f"log_template_per_s:{template_id(note.template)}"
    assert row("pod:shop/cart-0", per_template)[-2:] == errors[-2:]


def test_the_entity_follows_the_topology_and_nothing_after_the_analysis_is_read():
    records = _records()
    known = {"app:cart", "app:front"}  # a topology without pods: the pod's lines are the service's
    series = log_series(records, grid_start_s=T0, step_s=60, baseline_end_s=T0 + 300, known=known,
                        until_ns=(T0 + 300) * S)
    entities = set(series.samples.entities.tolist())
    assert entities == {"app:cart", "app:front"}
    assert series.samples.times.max() <= T0 + 300


def test_without_lines_before_the_window_the_first_quarter_is_the_baseline():
    records = [r for r in _records() if r.time_ns >= (T0 + 240) * S]  # logs kept only from 240 s on
    series = log_series(records, grid_start_s=T0, step_s=60, baseline_end_s=T0 + 300)
    table = series.samples.to_table()
    new = table[(table.entity == "pod:shop/cart-0") & (table.metric == "log_new_templates_per_s")]
    values = new.sort_values("timestamp")["value"].tolist()
    assert not any(values[:-2]) and min(values[-2:]) > 1.9
