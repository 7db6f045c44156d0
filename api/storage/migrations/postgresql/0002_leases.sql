-- Leased work shared by N replicas (see the SQLite migration of the same number for what each column means).
ALTER TABLE insights ADD COLUMN lease_owner TEXT;
ALTER TABLE insights ADD COLUMN lease_until DOUBLE PRECISION;
ALTER TABLE insights ADD COLUMN run_after DOUBLE PRECISION NOT NULL DEFAULT 0;
CREATE INDEX insights_claim ON insights(status, run_after);
ALTER TABLE outbox ADD COLUMN lease_owner TEXT;
ALTER TABLE outbox ADD COLUMN lease_until DOUBLE PRECISION;
ALTER TABLE outbox ADD COLUMN in_flight INTEGER NOT NULL DEFAULT 0;
