"""Pure parts of the Prometheus source: narrowing a family to a neighbourhood, and naming result series."""

from __future__ import annotations

import re

from detectors.sources.promql import (PromQuery, entity_for, metric_for, promql_for, selectors, template_pattern)

VLLM = PromQuery(metric="queue_len", family="vllm waiting",
                 promql='sum by ($by) ({__name__=~"vllm[:_]num_requests_waiting", $sel})',
                 entities=("pod:{namespace}/{pod}", "llm:{model_name}"))


def test_templates_read_entity_ids_back_into_labels() -> None:
    assert template_pattern("pod:{namespace}/{pod}").fullmatch("pod:prod/vllm-0").groupdict() == {
        "namespace": "prod", "pod": "vllm-0"}
    assert template_pattern("gpu:{Hostname}/{gpu}").fullmatch("gpu:gpu-node-1/3").groupdict() == {
        "Hostname": "gpu-node-1", "gpu": "3"}
    assert template_pattern("llm:{model_name}").fullmatch("pod:prod/x") is None


def test_a_family_is_narrowed_per_template_that_fits_a_neighbour() -> None:
    neighbourhood = {"pod:prod/vllm-0", "pod:prod/vllm-1", "llm:qwen2.5-72b", "app:chat"}
    assert selectors(VLLM, neighbourhood) == [
        'namespace=~"prod", pod=~"vllm-0|vllm-1", ', 'model_name=~"qwen2\\\\.5-72b", ']
    text = promql_for(VLLM, neighbourhood, "2m")
    assert text.count(" or ") == 1 and text.count("sum by (namespace, pod, model_name)") == 2
    assert promql_for(VLLM, {"app:chat"}, "2m") is None  # nothing of this family lives there: not asked
    assert promql_for(VLLM, None, "2m") == (
        'sum by (namespace, pod, model_name) ({__name__=~"vllm[:_]num_requests_waiting", })')


def test_label_values_are_matched_literally() -> None:
    (selector,) = selectors(PromQuery(metric="x", promql="x{$sel}", entities=("{faultline_entity}",)),
                            {'app:a.b(c)|"d"'})
    value = re.search(r'=~"(.*)", $', selector).group(1)
    pattern = value.encode().decode("unicode_escape")  # the PromQL string, unquoted
    assert re.fullmatch(pattern, 'app:a.b(c)|"d"') and not re.fullmatch(pattern, "app:aXb(c)")


def test_the_first_fitting_rule_names_a_series() -> None:
    rules = VLLM.entities
    assert entity_for({"namespace": "prod", "pod": "vllm-0", "model_name": "m"}, rules, "faultline_entity") == \
        "pod:prod/vllm-0"
    assert entity_for({"model_name": "m"}, rules, "faultline_entity") == "llm:m"
    assert entity_for({"faultline_entity": "llm:x", "model_name": "m"}, rules, "faultline_entity") == "llm:x"
    assert metric_for({"__name__": "rps"}, ("{faultline_metric}", "{__name__}")) == "rps"
    assert metric_for({"__name__": "x", "faultline_metric": "out_latency_p50_s[cart]"},
                      ("{faultline_metric}", "{__name__}")) == "out_latency_p50_s[cart]"
