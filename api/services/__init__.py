"""Server-side services: the insight runner, analysis backends, webhooks' logic, the outbox worker, telemetry."""
