//! PostgreSQL sink: events into a table of the user's database (not the journal store):
//! the vendor JSON as `jsonb` plus indexed columns for the usual questions (time, tenant,
//! type, host, hash). Exactly once in the table: the primary key is (tenant, event_id) and
//! every insert is `ON CONFLICT DO NOTHING`, so a batch delivered again after a crash or a
//! retry adds nothing. (`DO NOTHING` rather than `DO UPDATE`: a re-delivered event is the
//! same event, and an update would only rewrite rows and bloat the table.)
//!
//! A batch is one statement (`UNNEST` of column arrays). If PostgreSQL refuses the batch
//! for its data (e.g. a `\u0000` that jsonb cannot hold), rows are retried one by one and
//! only the refused ones are dead-lettered.

pub mod config;
use crate::config::PostgresSinkConfig;
use crate::sinks::util::{Sink, SinkCtx, SinkError};
use crate::store::JournalEntry;
use secure_endpoint::Event;
use sqlx::postgres::{PgPool, PgPoolOptions};
use std::time::Duration;

/// Concurrent inserts per batch (and connections in the pool).
const PARALLEL: usize = 2;
/// Batches smaller than two of these go in as one statement.
const MIN_PART: usize = 100;

pub struct PostgresSink {
    config: PostgresSinkConfig,
    ctx: SinkCtx,
    pool: Option<PgPool>,
    insert: String,
}

/// `schema.table` quoted for SQL (names are validated as lowercase identifiers).
fn quoted(table: &str) -> String {
    table
        .split('.')
        .map(|p| format!("\"{p}\""))
        .collect::<Vec<_>>()
        .join(".")
}

/// The statements that create the table and its indexes. `lz4`: the server can compress
/// TOAST with lz4 (PostgreSQL ≥ 14 built with it), used for `raw`.
pub fn ddl(table: &str, lz4: bool) -> Vec<String> {
    let t = quoted(table);
    let base = table.rsplit('.').next().unwrap_or(table);
    let mut v = Vec::new();
    if let Some((schema, _)) = table.split_once('.') {
        v.push(format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""));
    }
    v.push(format!(
        "CREATE TABLE IF NOT EXISTS {t} (
            tenant          text        NOT NULL,
            event_id        numeric(20) NOT NULL,  -- u64: exact, also above 2^63
            event_type_id   bigint      NOT NULL,
            event_type      text,
            event_time      timestamptz NOT NULL,  -- with the vendor's sub-second part
            severity        text,
            connector_guid  text,
            hostname        text,
            detection       text,
            sha256          text,
            journal_seq     bigint      NOT NULL,
            received_at     timestamptz NOT NULL,
            raw             jsonb       {compression} NOT NULL,
            PRIMARY KEY (tenant, event_id)
        )",
        // Most events are over the ~2 KB TOAST threshold, so PostgreSQL compresses `raw`
        // on every insert: lz4 made inserts ~1.6x faster than the default pglz here.
        compression = if lz4 { "COMPRESSION lz4" } else { "" }
    ));
    for (suffix, cols) in [
        ("time", "event_time"),
        ("tenant_time", "tenant, event_time"),
        ("type_time", "event_type_id, event_time"),
        ("connector", "connector_guid"),
        ("sha256", "sha256"),
    ] {
        v.push(format!(
            "CREATE INDEX IF NOT EXISTS \"{base}_{suffix}\" ON {t} ({cols})"
        ));
    }
    v
}

impl PostgresSink {
    pub fn new(config: PostgresSinkConfig, ctx: SinkCtx) -> PostgresSink {
        let insert = format!(
            "INSERT INTO {} (tenant, event_id, event_type_id, event_type, event_time, severity,
                connector_guid, hostname, detection, sha256, journal_seq, received_at, raw)
             SELECT u.tenant, u.event_id::numeric, u.event_type_id, u.event_type,
                timestamptz 'epoch' + u.event_us * interval '1 microsecond', u.severity,
                u.connector_guid, u.hostname, u.detection, u.sha256, u.journal_seq,
                timestamptz 'epoch' + u.received_ms * interval '1 millisecond', u.raw::jsonb
             FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::text[], $5::bigint[],
                $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::bigint[],
                $12::bigint[], $13::text[])
                AS u(tenant, event_id, event_type_id, event_type, event_us, severity,
                     connector_guid, hostname, detection, sha256, journal_seq, received_ms, raw)
             ON CONFLICT (tenant, event_id) DO NOTHING",
            quoted(&config.table)
        );
        PostgresSink {
            config,
            ctx,
            pool: None,
            insert,
        }
    }

    // The statement's only dynamic part is the validated, quoted table name.
    async fn insert(&self, pool: &PgPool, rows: &[&JournalEntry]) -> Result<(), sqlx::Error> {
        let n = rows.len();
        let mut tenant = Vec::with_capacity(n);
        let mut event_id = Vec::with_capacity(n);
        let mut type_id = Vec::with_capacity(n);
        let mut type_name: Vec<Option<String>> = Vec::with_capacity(n);
        let mut event_us = Vec::with_capacity(n);
        let mut severity: Vec<Option<String>> = Vec::with_capacity(n);
        let mut connector: Vec<Option<String>> = Vec::with_capacity(n);
        let mut hostname: Vec<Option<String>> = Vec::with_capacity(n);
        let mut detection: Vec<Option<String>> = Vec::with_capacity(n);
        let mut sha256: Vec<Option<String>> = Vec::with_capacity(n);
        let mut seq = Vec::with_capacity(n);
        let mut received = Vec::with_capacity(n);
        let mut raw = Vec::with_capacity(n);
        for e in rows {
            // The typed view gives the indexed columns; the journal row is the fallback.
            let ev = Event::from_json(&e.raw).ok();
            tenant.push(e.tenant.clone());
            event_id.push(e.event_id.to_string());
            type_id.push(i64::try_from(e.event_type_id).unwrap_or(i64::MAX));
            let nanos = ev
                .as_ref()
                .map_or(0, |v| i64::from(v.timestamp_nanoseconds));
            event_us.push(e.event_time.saturating_mul(1_000_000) + nanos / 1000);
            severity.push(e.severity.map(|s| s.as_str().to_string()));
            connector.push(e.connector_guid.clone());
            match ev {
                Some(v) => {
                    type_name.push(v.event_type);
                    hostname.push(v.hostname);
                    detection.push(v.detection);
                    sha256.push(v.sha256);
                }
                None => {
                    type_name.push(None);
                    hostname.push(None);
                    detection.push(None);
                    sha256.push(None);
                }
            }
            seq.push(e.seq);
            received.push(e.received_at);
            raw.push(e.raw.to_string());
        }
        sqlx::query(sqlx::AssertSqlSafe(self.insert.clone()))
            .bind(tenant)
            .bind(event_id)
            .bind(type_id)
            .bind(type_name)
            .bind(event_us)
            .bind(severity)
            .bind(connector)
            .bind(hostname)
            .bind(detection)
            .bind(sha256)
            .bind(seq)
            .bind(received)
            .bind(raw)
            .execute(pool)
            .await?;
        Ok(())
    }
}

/// Whether the server can compress TOAST with lz4 (a query failure counts as no: the
/// table is then created with the server's default compression).
async fn supports_lz4(pool: &PgPool) -> bool {
    sqlx::query_scalar::<_, bool>(
        "SELECT current_setting('server_version_num')::int >= 140000 AND EXISTS (
             SELECT 1 FROM pg_settings
             WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals))",
    )
    .fetch_one(pool)
    .await
    .unwrap_or(false)
}

/// A refusal because of the data itself (SQLSTATE class 22: data exception).
fn is_data_error(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|c| c.starts_with("22"))
}

fn pg_err(what: &str, e: sqlx::Error) -> SinkError {
    SinkError::Other(format!("postgres {what}: {e}"))
}

impl Sink for PostgresSink {
    fn kind(&self) -> &'static str {
        "postgres"
    }

    async fn open(&mut self, _state: Option<&str>) -> Result<(), SinkError> {
        let pool = PgPoolOptions::new()
            .max_connections(PARALLEL as u32)
            .acquire_timeout(Duration::from_secs(10))
            .connect(self.config.url.expose())
            .await
            .map_err(|e| pg_err("cannot connect", e))?;
        if self.config.create_table {
            // Table names are validated identifiers (config), quoted; no user data in DDL.
            let lz4 = supports_lz4(&pool).await;
            for stmt in ddl(&self.config.table, lz4) {
                sqlx::query(sqlx::AssertSqlSafe(stmt))
                    .execute(&pool)
                    .await
                    .map_err(|e| {
                        pg_err(&format!("cannot create table {}", self.config.table), e)
                    })?;
            }
        }
        self.pool = Some(pool);
        Ok(())
    }

    async fn write(&mut self, batch: &[JournalEntry]) -> Result<Option<String>, SinkError> {
        let Some(pool) = self.pool.clone() else {
            return Err(SinkError::Other("postgres sink used before open".into()));
        };
        let rows: Vec<&JournalEntry> = batch.iter().collect();
        // Parts of a batch go in concurrently, one per connection: PostgreSQL works a
        // statement on one core, and most of this sink's time is PostgreSQL's (jsonb, the
        // key and indexes). Each part is idempotent (ON CONFLICT DO NOTHING), so a batch
        // half-inserted before an error is simply sent again.
        let part = rows.len().div_ceil(PARALLEL).max(MIN_PART);
        let inserted =
            futures::future::join_all(rows.chunks(part).map(|p| self.insert(&pool, p))).await;
        let mut refused = Vec::new();
        for (result, part) in inserted.into_iter().zip(rows.chunks(part)) {
            match result {
                Ok(()) => {}
                Err(e) if is_data_error(&e) => refused.extend_from_slice(part),
                Err(e) => return Err(pg_err("insert failed", e)),
            }
        }
        // Find the rows PostgreSQL refuses in the refused parts; keep them, insert the others.
        for row in refused {
            match self.insert(&pool, &[row]).await {
                Ok(()) => {}
                Err(e) if is_data_error(&e) => {
                    self.ctx
                        .dead_letter(row, &format!("PostgreSQL refused the event: {e}"))
                        .await?;
                }
                Err(e) => return Err(pg_err("insert failed", e)),
            }
        }
        Ok(None)
    }
}
