"""The catalogue's Prometheus half: query families, entity rules and the roles of the names they emit."""

from __future__ import annotations

import pytest

from detectors.exceptions import DetectorError
from detectors.roles import Catalogue, Role, default_catalogue

BENCHMARK_NAMES = {
    # name: (role, direction, events) as the ranker was fitted with them; emitting these names from Prometheus
    # queries must not change what they mean.
    "latency_p95_s": (Role.LATENCY, "up", False), "error_rate": (Role.ERRORS, "up", False),
    "rps": (Role.TRAFFIC, "both", False), "ttft_p95_s": (Role.LATENCY, "up", False),
    "tpot_p95_s": (Role.LATENCY, "up", False), "tokens_per_s": (Role.TRAFFIC, "both", False),
    "queue_len": (Role.SATURATION, "up", False), "kv_cache_usage": (Role.SATURATION, "up", False),
    "cpu_usage": (Role.SATURATION, "up", False), "mem_bytes": (Role.SATURATION, "up", False),
    "restarts": (Role.ERRORS, "up", True), "gpu_util": (Role.SATURATION, "up", False),
    "gpu_temp_c": (Role.SATURATION, "up", False), "xid_errors": (Role.ERRORS, "up", True),
    "mem_usage": (Role.SATURATION, "up", False),
}


@pytest.mark.parametrize("name", sorted(BENCHMARK_NAMES))
def test_emitted_names_keep_the_roles_the_ranker_was_fitted_with(name: str) -> None:
    info = default_catalogue().lookup(name)
    assert (info.role, info.direction, info.events) == BENCHMARK_NAMES[name]


def test_new_signals_have_their_own_bad_direction() -> None:
    catalogue = default_catalogue()
    assert catalogue.lookup("gpu_fb_free_mib").direction == "down"  # free GPU memory running out
    assert catalogue.lookup("prefix_cache_hit_rate").direction == "down"
    assert catalogue.lookup("queue_time_p95_s").role is Role.SATURATION
    assert catalogue.lookup("aborted_ratio").role is Role.ERRORS
    assert catalogue.lookup("oom_killed").events and catalogue.lookup("gpu_row_remap_failure").events
    assert catalogue.lookup("genai_latency_p95_s[llm:deepseek-r1]").role is Role.LATENCY


def test_every_shipped_query_family_is_complete() -> None:
    queries = default_catalogue().queries
    assert len(queries) >= 30
    families = {q.family for q in queries}
    for needed in ("vllm preemptions (query)", "dcgm dcgm_fi_dev_fb_free (query)",
                   "kube-state-metrics OOMKilled (query)", "cadvisor cpu throttling (query)",
                   "otel genai client operation duration (query)", "http error rate (query)"):
        assert needed in families
    for query in queries:
        assert "$sel" in query.query, f"{query.family}: cannot be narrowed to a neighbourhood"
        assert query.entities and query.metrics
        if "sum by" in query.query or "max by" in query.query:
            assert "$by" in query.query, f"{query.family}: aggregates over labels the entity rules need"


def test_vllm_reads_both_the_colon_and_the_underscore_form() -> None:
    ttft = next(q for q in default_catalogue().queries if q.metrics == ("ttft_p95_s",) and "vllm" in q.family)
    assert ttft.names.fullmatch("vllm:time_to_first_token_seconds_bucket")
    assert ttft.names.fullmatch("vllm_time_to_first_token_seconds_bucket")
    assert ttft.entities == ("pod:{namespace}/{pod}", "llm:{model_name}")  # per pod first: replicas are not summed
    assert ttft.labels == ("namespace", "pod", "model_name")


def test_a_user_family_with_a_named_rule_list() -> None:
    catalogue = Catalogue.from_document({
        "entity_rules": {"mine": ["app:{app}"]},
        "families": [{"family": "checkout", "pattern": "checkout_.*", "role": "latency", "metric": "checkout_p99_s",
                      "entities": ["mine", "pod:{namespace}/{pod}"],
                      "query": "max by ($by) (checkout_p99_seconds{$sel})"}],
    }, "mine.json")
    (query,) = catalogue.queries
    assert query.entities == ("app:{app}", "pod:{namespace}/{pod}")
    assert catalogue.lookup("checkout_p99_s").role is Role.LATENCY


@pytest.mark.parametrize(("family", "message"), [
    ({"pattern": "x", "query": "x{$sel}", "entities": ["app:{a}"]}, "needs 'metric' and 'entities'"),
    ({"pattern": "x", "query": "x{$sel}", "metric": "x", "entities": "nowhere"}, "names the rule list 'nowhere'"),
    ({"pattern": "x", "query": "x{$sel}", "metric": "x", "entities": []}, "non-empty"),
    ({"pattern": "x", "query": "", "metric": "x", "entities": ["app:{a}"]}, "PromQL"),
])
def test_bad_query_families_are_clear_errors(family: dict, message: str) -> None:
    with pytest.raises(DetectorError, match=message):
        Catalogue.from_document({"families": [family]}, "mine.json")
