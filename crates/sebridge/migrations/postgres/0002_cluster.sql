-- Several replicas on one store: who is alive, and who runs what.

-- One row per `sebridge run` process, kept fresh by its heartbeat (database clock, epoch ms).
CREATE TABLE replicas (
    id           TEXT   PRIMARY KEY,
    host         TEXT   NOT NULL,
    pid          BIGINT NOT NULL,
    started_at   BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL
);

-- A unit of work run by one replica at a time: `tenant:<name>` (its poll and stream
-- sources), `sink:<name>`, `incidents` (engine, executor, reconciler). `epoch` grows with
-- every change of owner; writes that depend on a lease carry the epoch they were given and
-- are refused once it has moved on (fencing).
CREATE TABLE leases (
    name        TEXT   PRIMARY KEY,
    owner       TEXT,
    epoch       BIGINT NOT NULL DEFAULT 0,
    expires_at  BIGINT NOT NULL DEFAULT 0,
    acquired_at BIGINT,
    takeovers   BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX leases_owner ON leases (owner);
