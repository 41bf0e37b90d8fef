-- The journal: every event once per tenant, in arrival order. AUTOINCREMENT so a sequence
-- number is never reused, even after retention deletes old rows: consumer positions stay valid.
CREATE TABLE journal (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant        TEXT    NOT NULL,
    event_id      INTEGER NOT NULL,  -- u64 stored bit-for-bit as i64
    event_type_id INTEGER NOT NULL,
    event_time    INTEGER NOT NULL,  -- epoch seconds (vendor timestamp)
    received_at   INTEGER NOT NULL,  -- epoch milliseconds (when journaled)
    source        TEXT    NOT NULL,
    raw           TEXT    NOT NULL   -- the vendor JSON, byte for byte
);
CREATE UNIQUE INDEX journal_dedup ON journal (tenant, event_id);

-- Poll cursors: the newest event second committed, plus the ids already seen in that second.
CREATE TABLE cursors (
    tenant      TEXT    NOT NULL,
    source      TEXT    NOT NULL,
    cursor_time INTEGER NOT NULL,
    seen_ids    TEXT    NOT NULL,    -- JSON array of u64
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant, source)
);

-- Each journal consumer (sink, incident engine) owns its committed position.
CREATE TABLE positions (
    consumer   TEXT    PRIMARY KEY,
    seq        INTEGER NOT NULL,
    state      TEXT,                 -- consumer-specific (e.g. the file sink's committed length)
    updated_at INTEGER NOT NULL
);

-- What could not be read as an event: kept with the reason, never dropped silently.
CREATE TABLE dead_letters (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant      TEXT    NOT NULL,
    source      TEXT    NOT NULL,
    reason      TEXT    NOT NULL,
    raw         TEXT    NOT NULL,
    received_at INTEGER NOT NULL
);

-- Tenants added with `sebridge tenants add`; secrets sealed with the master key.
CREATE TABLE tenant_registry (
    name       TEXT    PRIMARY KEY,
    region     TEXT,
    base_url   TEXT,
    client_id  TEXT    NOT NULL,
    api_key    BLOB    NOT NULL,
    created_at INTEGER NOT NULL
);
