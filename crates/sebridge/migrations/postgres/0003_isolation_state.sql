-- The isolation status last read for an incident's host (`pending_start`, `isolated`,
-- `pending_stop`, `not_isolated`) and since when (epoch ms): a host stuck in a pending
-- state is shown, not taken for done.
ALTER TABLE incidents ADD COLUMN isolation_state TEXT;
ALTER TABLE incidents ADD COLUMN isolation_state_since BIGINT;
