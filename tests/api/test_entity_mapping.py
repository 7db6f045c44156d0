"""Alert labels and PagerDuty incidents to symptom entities."""

from __future__ import annotations

from api.services.entity_mapping import resolve_alert, resolve_pagerduty
from api.settings import DEFAULT_ALERT_ENTITY_RULES

KNOWN = {"pod:prod/vllm-0", "app:chat", "llm:deepseek-r1@vllm", "app:rag-service"}


def test_explicit_entity_label_wins() -> None:
    r = resolve_alert({"faultline_entity": "app:chat", "namespace": "prod", "pod": "vllm-0"},
                      DEFAULT_ALERT_ENTITY_RULES, KNOWN.__contains__)
    assert r.entity == "app:chat"


def test_template_rule_needs_all_labels_and_a_known_entity() -> None:
    r = resolve_alert({"namespace": "prod", "pod": "vllm-0", "app": "chat"}, DEFAULT_ALERT_ENTITY_RULES,
                      KNOWN.__contains__)
    assert r.entity == "pod:prod/vllm-0"
    r = resolve_alert({"namespace": "prod", "pod": "gone-1", "app": "chat"}, DEFAULT_ALERT_ENTITY_RULES,
                      KNOWN.__contains__)
    assert r.entity == "app:chat"
    assert "pod:prod/gone-1" in r.tried


def test_nothing_maps() -> None:
    r = resolve_alert({"alertname": "HighLatency", "job": "unknown"}, DEFAULT_ALERT_ENTITY_RULES, KNOWN.__contains__)
    assert r.entity is None
    assert "app:unknown" in r.explanation


def test_pagerduty_service_id_then_name_then_title() -> None:
    mapping = {"PIJ90N7": "app:chat", "RAG API": "app:rag-service", "deepseek": "llm:deepseek-r1@vllm"}
    assert resolve_pagerduty(service_id="PIJ90N7", service_name="x", title="t", mapping=mapping,
                             exists=KNOWN.__contains__).entity == "app:chat"
    assert resolve_pagerduty(service_id="P0", service_name="rag api", title="t", mapping=mapping,
                             exists=KNOWN.__contains__).entity == "app:rag-service"
    assert resolve_pagerduty(service_id="P0", service_name="other", title="DeepSeek answers slow", mapping=mapping,
                             exists=KNOWN.__contains__).entity == "llm:deepseek-r1@vllm"


def test_pagerduty_entity_id_in_title_as_last_resort() -> None:
    r = resolve_pagerduty(service_id=None, service_name=None, title="p95 above 4s on app:chat.", mapping={},
                          exists=KNOWN.__contains__)
    assert r.entity == "app:chat"
    assert resolve_pagerduty(service_id=None, service_name=None, title="server on fire", mapping={},
                             exists=KNOWN.__contains__).entity is None


def test_every_alert_of_a_group_is_mapped_and_vllm_model_name_is_understood() -> None:
    from api.services.entity_mapping import map_alert_group
    from api.settings import DEFAULT_ALERT_ENTITY_RULES

    known = {"app:chat", "llm:deepseek-r1"}
    mapping = map_alert_group(
        [{"app": "chat"}, {"model_name": "deepseek-r1"}, {"app": "chat", "instance": "b"}, {"job": "node-exporter"}],
        {"severity": "page"}, DEFAULT_ALERT_ENTITY_RULES, known.__contains__)
    assert mapping.symptoms == {"app:chat": [0, 2], "llm:deepseek-r1": [1]}
    assert mapping.unmapped == [(3, "no known entity for these labels (tried: app:node-exporter)")]
    assert "2 alert(s) -> app:chat" in mapping.explanation and "alert 3 not mapped" in mapping.explanation
