"""One router per resource: insights, incidents, topology, alerts (Alertmanager), webhooks (PagerDuty), health,
console."""
