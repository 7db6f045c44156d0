-- The schema of faultline 0.1 (same tables and columns as the SQLite store; times as ISO-8601 UTC text so both
-- stores read back identically, epoch seconds as double precision).
CREATE TABLE incidents (
    seq            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
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
CREATE UNIQUE INDEX incidents_open_key
    ON incidents(source, external_key) WHERE resolved_at IS NULL AND external_key IS NOT NULL;

CREATE TABLE insights (
    seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
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
CREATE INDEX insights_status ON insights(status);
CREATE INDEX insights_incident ON insights(incident_id);

CREATE TABLE webhook_events (
    source      TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    received_at TEXT NOT NULL,
    incident_id TEXT,
    PRIMARY KEY (source, event_id)
);

CREATE TABLE outbox (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind            TEXT NOT NULL,
    target          TEXT NOT NULL,
    insight_id      TEXT NOT NULL,
    payload_json    TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at DOUBLE PRECISION NOT NULL,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    sent_at         TEXT,
    UNIQUE (kind, target, insight_id)
);
CREATE INDEX outbox_due ON outbox(status, next_attempt_at);
