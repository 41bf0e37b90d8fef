-- Event streams created with `sebridge streams create` (or imported): one row per tenant and
-- stream id. The AMQP credentials (user, password, host, port, proto, queue) are sealed with the
-- master key as one JSON value, bound to (tenant, stream id); the plain columns are copies of the
-- non-secret parts for listing without the key.
CREATE TABLE event_streams (
    tenant       TEXT    NOT NULL,
    stream_id    INTEGER NOT NULL,
    name         TEXT    NOT NULL,
    queue_name   TEXT    NOT NULL,
    host         TEXT    NOT NULL,
    port         TEXT    NOT NULL,
    proto        TEXT    NOT NULL,
    event_types  TEXT    NOT NULL,   -- JSON array of event type ids (empty = all)
    group_guids  TEXT    NOT NULL,   -- JSON array of group GUIDs (empty = all)
    credentials  BLOB    NOT NULL,   -- sealed JSON {user_name, password, queue_name, host, port, proto}
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (tenant, stream_id)
);
CREATE UNIQUE INDEX event_streams_name ON event_streams (tenant, name);
