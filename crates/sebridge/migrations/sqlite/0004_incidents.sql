-- Incidents: one row per real problem (tenant + computer + threat within a window), with what
-- was done about it in ServiceNow, Cisco XDR and on the endpoint.
CREATE TABLE incidents (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant            TEXT    NOT NULL,
    correlation_key   TEXT    NOT NULL,          -- tenant|computer|sha256-or-detection
    correlation_id    TEXT    NOT NULL UNIQUE,   -- <prefix>:<tenant>:amp-event:<first event id>
    rule              TEXT    NOT NULL,
    status            TEXT    NOT NULL,          -- open | closing | closed
    severity          TEXT    NOT NULL,          -- Low | Medium | High | Critical (highest seen)
    title             TEXT    NOT NULL,
    connector_guid    TEXT,
    hostname          TEXT,
    sha256            TEXT,
    detection         TEXT,
    event_type        TEXT,
    first_event_id    INTEGER NOT NULL,          -- u64 bit-for-bit
    first_seq         INTEGER NOT NULL,          -- journal seq of the first event
    first_event_time  INTEGER NOT NULL,          -- epoch seconds
    last_event_time   INTEGER NOT NULL,
    event_count       INTEGER NOT NULL,
    snow_short        TEXT    NOT NULL,          -- rendered texts
    snow_description  TEXT    NOT NULL,
    xdr_title         TEXT    NOT NULL,
    xdr_description   TEXT    NOT NULL,
    links             TEXT    NOT NULL,          -- JSON: computer_url, file_url, investigate_url
    isolate           INTEGER NOT NULL,          -- the rule asks to isolate
    triage_group      TEXT,                      -- the rule asks to move (GUID or name)
    snow_sys_id       TEXT,
    snow_number       TEXT,
    xdr_id            TEXT,
    isolated_by_us    INTEGER NOT NULL DEFAULT 0, -- we started the isolation (not someone else)
    isolation_released INTEGER NOT NULL DEFAULT 0,
    original_group    TEXT,                      -- recorded before we move the host
    moved_by_us       INTEGER NOT NULL DEFAULT 0,
    group_restored    INTEGER NOT NULL DEFAULT 0,
    last_note_at      INTEGER,                   -- epoch ms of the last work note
    close_source      TEXT,                      -- webhook | reconciler | cli
    close_code        TEXT,
    close_notes       TEXT,
    closed_at         INTEGER,                   -- epoch ms (ServiceNow's close time when known)
    created_at        INTEGER NOT NULL,          -- epoch ms
    updated_at        INTEGER NOT NULL
);
CREATE INDEX incidents_key ON incidents (correlation_key, status);
CREATE INDEX incidents_status ON incidents (status);
CREATE INDEX incidents_snow ON incidents (snow_sys_id);
CREATE INDEX incidents_host ON incidents (tenant, connector_guid, status);

-- Every event of an incident, with the line it adds to the next work note.
CREATE TABLE incident_events (
    incident_id INTEGER NOT NULL,
    seq         INTEGER NOT NULL,                -- journal seq
    event_id    INTEGER NOT NULL,
    event_time  INTEGER NOT NULL,
    severity    TEXT,
    line        TEXT    NOT NULL,
    noted       INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (incident_id, seq)
);

-- Side effects to perform, worked by a retrying executor. Operations of one incident run in
-- order within a lane (servicenow, xdr, endpoint); lanes run independently.
CREATE TABLE incident_outbox (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id INTEGER NOT NULL,
    lane        TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    status      TEXT    NOT NULL,                -- pending | done | failed
    attempts    INTEGER NOT NULL DEFAULT 0,
    not_before  INTEGER NOT NULL,                -- epoch ms
    lease_until INTEGER,                         -- epoch ms; a claimed operation
    last_error  TEXT,
    created_at  INTEGER NOT NULL,
    done_at     INTEGER
);
CREATE INDEX outbox_due ON incident_outbox (status, not_before);
CREATE INDEX outbox_lane ON incident_outbox (incident_id, lane, status);
-- At most one pending operation of a kind per incident: notes and updates coalesce.
CREATE UNIQUE INDEX outbox_one_pending ON incident_outbox (incident_id, kind) WHERE status = 'pending';

-- Every step, by whom, for the record.
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          INTEGER NOT NULL,                -- epoch ms
    incident_id INTEGER,
    tenant      TEXT,
    actor       TEXT    NOT NULL,                -- engine | executor | webhook | reconciler | cli
    action      TEXT    NOT NULL,
    detail      TEXT    NOT NULL
);
CREATE INDEX audit_incident ON audit_log (incident_id);
