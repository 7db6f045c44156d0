-- Leased work: an insight or an outbox row is held by one process (lease_owner) until lease_until (epoch seconds);
-- a process that dies lets its lease run out and another takes the row over. run_after delays a retry.
-- outbox.in_flight is set (and committed) before a note is POSTed and cleared when PagerDuty answered: a row found
-- with in_flight = 1 may or may not have reached PagerDuty, so the incident's notes are read before sending again.
ALTER TABLE insights ADD COLUMN lease_owner TEXT;
ALTER TABLE insights ADD COLUMN lease_until REAL;
ALTER TABLE insights ADD COLUMN run_after REAL NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS insights_claim ON insights(status, run_after);
ALTER TABLE outbox ADD COLUMN lease_owner TEXT;
ALTER TABLE outbox ADD COLUMN lease_until REAL;
ALTER TABLE outbox ADD COLUMN in_flight INTEGER NOT NULL DEFAULT 0;
