-- The schema faultline 0.1 shipped (IF NOT EXISTS: a file written before migrations were versioned takes this as
-- already applied).
CREATE TABLE IF NOT EXISTS incidents (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    id             TEXT NOT NULL UNIQUE,
    source         TEXT NOT NULL,
    external_key   TEXT,
    title          TEXT NOT NULL DEFAULT '',
    symptom        TEXT,
    metric         TEXT,
    at             TEXT NOT NULL,
    status         TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    resolved_at    TEXT,
    details_json   TEXT NOT NULL DEFAULT '{}',
    latest_insight TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS incidents_open_key
    ON incidents(source, external_key) WHERE resolved_at IS NULL AND external_key IS NOT NULL;

CREATE TABLE IF NOT EXISTS insights (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT NOT NULL UNIQUE,
    incident_id  TEXT,
    source       TEXT NOT NULL,
    status       TEXT NOT NULL,
    stage        TEXT NOT NULL,
    request_json TEXT NOT NULL,
    case_json    TEXT,
    result_json  TEXT,
    error        TEXT,
    attempts     INTEGER NOT NULL DEFAULT 0,
    created_at   TEXT NOT NULL,
    started_at   TEXT,
    finished_at  TEXT
);
CREATE INDEX IF NOT EXISTS insights_status ON insights(status);
CREATE INDEX IF NOT EXISTS insights_incident ON insights(incident_id);

CREATE TABLE IF NOT EXISTS webhook_events (
    source      TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    received_at TEXT NOT NULL,
    incident_id TEXT,
    PRIMARY KEY (source, event_id)
);

CREATE TABLE IF NOT EXISTS outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    kind            TEXT NOT NULL,
    target          TEXT NOT NULL,
    insight_id      TEXT NOT NULL,
    payload_json    TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    sent_at         TEXT,
    UNIQUE (kind, target, insight_id)
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox(status, next_attempt_at);
