-- Sinks: routing columns filled at append time from the typed event view, so per-sink
-- filters (minimum severity, connector) and the SIEM formats need no second parse of `raw`
-- for routing. NULL for rows journaled before this migration (filters treat them as unknown).
ALTER TABLE journal ADD COLUMN severity INTEGER;        -- 1 Low, 2 Medium, 3 High, 4 Critical
ALTER TABLE journal ADD COLUMN connector_guid TEXT;
