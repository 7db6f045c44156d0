"""The SQLite insight store: insights (also the durable work queue), incidents, webhook receipts, outbox."""

from .db import Database
from .incidents import IncidentRepository, WebhookReceipts
from .insights import InsightRepository
from .outbox import Outbox
from .records import IncidentRecord, InsightListItem, InsightRecord, InsightRequest, OutboxItem, new_id, now_utc

__all__ = [
    "Database", "IncidentRecord", "IncidentRepository", "InsightListItem", "InsightRecord", "InsightRepository",
    "InsightRequest", "Outbox", "OutboxItem", "WebhookReceipts", "new_id", "now_utc",
]
