"""The insight store: insights (also the durable, leased work queue), incidents, webhook receipts, outbox.

One interface (``SqlDatabase``), two backends: the SQLite file (embedded default, one process) and PostgreSQL
(N replicas sharing work). ``database_for(url, path)`` picks one from the settings.
"""

from .base import SqlDatabase
from .connect import database_for
from .db import Database
from .incidents import IncidentRepository, WebhookReceipts
from .insights import InsightRepository
from .outbox import Outbox
from .postgres import PostgresDatabase
from .records import IncidentRecord, InsightListItem, InsightRecord, InsightRequest, OutboxItem, new_id, now_utc

__all__ = [
    "Database", "IncidentRecord", "IncidentRepository", "InsightListItem", "InsightRecord", "InsightRepository",
    "InsightRequest", "Outbox", "OutboxItem", "PostgresDatabase", "SqlDatabase", "WebhookReceipts", "database_for",
    "new_id", "now_utc",
]
