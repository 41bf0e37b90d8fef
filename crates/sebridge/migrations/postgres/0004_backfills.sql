-- The range a tenant's backfill covers: from `since` (epoch seconds) to when it finished
-- (epoch ms; NULL while it is under way or was interrupted). A later backfill asked to start
-- earlier reads the wider range instead of resuming a cursor that is already past it.
CREATE TABLE backfills (
    tenant TEXT PRIMARY KEY,
    since BIGINT NOT NULL,
    finished_at BIGINT
);
