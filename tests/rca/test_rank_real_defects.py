"""The ranker defects found on real incidents (issue 14), on small incidents with real series, through the shipped
fitted model — each test fails on the old hand-weighted ranker."""

from __future__ import annotations

import pytest

from correlators.models import Change
from detectors.models import Event

from .builders import World, ranking, services, top


def test_the_symptom_itself_can_be_the_cause() -> None:
    w = World(seed=1)
    w.chain("user:u", "app:web").relate("app:web", "CALLS", "app:api").relate("app:api", "QUERIES", "db:users")
    services(w, ["app:web", "app:api", "db:users"])
    w.step("app:web", "latency_p95_s", 150, 1.5)
    w.step("app:web", "error_rate", 151, 0.08)
    assert top(w.incident("app:web", "latency_p95_s", 160)) == ["app:web"]


def test_a_bad_deploy_of_the_alerting_service_is_named() -> None:
    w = World(seed=2)
    w.relate("app:web", "CALLS", "app:api").relate("app:web", "RUNS_ON", "pod:prod/web-a", end=151)
    w.relate("pod:prod/web-a", "RUNS", "image:web-v1", end=151).relate("image:web-v1", "BUILT_FROM", "commit:aaa")
    w.relate("app:web", "RUNS_ON", "pod:prod/web-b", start=150).relate("pod:prod/web-b", "RUNS", "image:web-v2", start=150)
    w.relate("image:web-v2", "BUILT_FROM", "commit:bbb")
    services(w, ["app:web", "app:api"])
    w.noise("pod:prod/web-a", "cpu_usage", 0.3)
    w.step("app:web", "latency_p95_s", 151, 2.0)
    w.changes.append(Change(entity="app:web", kind="rollout", at=w.at(150)))
    assert top(w.incident("app:web", "latency_p95_s", 158))[0] in {"image:web-v2", "commit:bbb", "app:web", "pod:prod/web-b"}


@pytest.mark.parametrize("step_s", [1.0, 60.0, 300.0])
def test_the_same_incident_on_one_second_one_minute_and_five_minute_grids(step_s: float) -> None:
    w = World(seed=3, step_s=step_s, minutes=120 if step_s == 1.0 else 240)
    w.chain("user:u", "app:web", "app:api").relate("app:api", "QUERIES", "db:orders").relate("app:web", "CALLS", "app:cart")
    services(w, ["app:web", "app:api", "app:cart"])
    w.noise("db:orders", "query_latency_p95_s", 0.05)
    w.noise("db:orders", "cpu_usage", 0.4)
    start = w.minutes - 25
    w.step("db:orders", "query_latency_p95_s", start, 0.6)
    w.step("db:orders", "cpu_usage", start, 0.5)
    w.step("app:api", "latency_p95_s", start + 2, 0.6)
    w.step("app:web", "latency_p95_s", start + 3, 0.65)
    assert top(w.incident("app:web", "latency_p95_s", w.minutes - 5, lookback="60m")) == ["db:orders"]


def test_two_concurrent_faults_both_rank_high() -> None:
    w = World(seed=4)
    w.chain("user:u", "app:web")
    w.chain("app:web", "app:pay", "db:ledger")
    w.chain("app:web", "app:search", "db:index")
    services(w, ["app:web", "app:pay", "app:search", "db:ledger", "db:index"])
    w.step("db:ledger", "latency_p95_s", 140, 1.0)
    w.step("app:pay", "latency_p95_s", 141, 1.0)
    w.step("db:index", "error_rate", 146, 0.2)
    w.step("app:search", "error_rate", 147, 0.2)
    w.step("app:web", "latency_p95_s", 142, 1.0)
    w.step("app:web", "error_rate", 147, 0.2)
    assert {"db:ledger", "db:index"} <= set(top(w.incident("app:web", "latency_p95_s", 160), 3))


def test_a_rollout_whose_new_pods_never_report_is_blamed_over_a_later_healthy_one() -> None:
    w = World(seed=5)
    w.chain("user:u", "app:web").relate("app:web", "CALLS", "app:api").relate("app:web", "CALLS", "app:search")
    services(w, ["app:web", "app:api", "app:search"])
    for svc, old, new, t in (("api", "v1", "v2", 150), ("search", "s1", "s2", 153)):
        for i in range(2):
            w.relate(f"app:{svc}", "RUNS_ON", f"pod:prod/{svc}-{old}-{i}", end=t + 1)
            w.relate(f"pod:prod/{svc}-{old}-{i}", "RUNS", f"image:{svc}-{old}", end=t + 1)
            w.relate(f"app:{svc}", "RUNS_ON", f"pod:prod/{svc}-{new}-{i}", start=t)
            w.relate(f"pod:prod/{svc}-{new}-{i}", "RUNS", f"image:{svc}-{new}", start=t)
            old_cpu = w.noise(f"pod:prod/{svc}-{old}-{i}", "cpu_usage", 0.3)
            old_cpu[w.index(t + 1):] = float("nan")
        w.relate(f"image:{svc}-{new}", "BUILT_FROM", f"commit:{svc}{new}")
        w.changes.append(Change(entity=f"app:{svc}", kind="rollout", at=w.at(t)))
    for i in range(2):  # the search rollout is healthy: its new pods report like the old ones did
        cpu = w.noise(f"pod:prod/search-s2-{i}", "cpu_usage", 0.3)
        cpu[: w.index(153)] = float("nan")
        w.events.append(Event(entity=f"pod:prod/api-v2-{i}", reason="BackOff", at=w.at(152 + i)))
    w.step("app:api", "error_rate", 151, 0.5)
    w.step("app:web", "error_rate", 152, 0.3)
    ranked = ranking(w.incident("app:web", "error_rate", 160))
    api_release = {"image:api-v2", "commit:apiv2", "app:api", "pod:prod/api-v2-0", "pod:prod/api-v2-1"}
    assert ranked[0] in api_release
    assert ranked.index("image:search-s2") > 2 if "image:search-s2" in ranked else True


def test_an_idle_blip_on_a_dependency_does_not_beat_the_real_cause() -> None:
    w = World(seed=6)
    w.chain("user:u", "app:web").relate("app:web", "CALLS", "app:api").relate("app:web", "CALLS", "app:idle")
    services(w, ["app:web", "app:api"])
    w.noise("app:idle", "latency_p95_s", 0.1)
    w.series[("app:idle", "error_rate")] = 0.0 * w.times
    w.series[("app:idle", "error_rate")][w.index(155)] = 0.3  # one blip on an idle error rate
    w.step("app:api", "latency_p95_s", 150, 0.8)
    w.step("app:web", "latency_p95_s", 151, 0.8)
    assert top(w.incident("app:web", "latency_p95_s", 160)) == ["app:api"]
