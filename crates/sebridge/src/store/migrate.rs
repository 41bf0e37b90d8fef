//! `sebridge store migrate`: a single-node SQLite store copied into PostgreSQL, so that a
//! deployment can grow to several replicas without losing history or sending anything again.
//!
//! Journal rows keep their sequence numbers and `received_at` (so every consumer position
//! stays valid, and each row lands in its day's partition); incidents, outbox operations and
//! audit lines keep their ids. Every insert skips what is there already, so a copy that was
//! interrupted is completed by running it again.

use super::postgres::partitions;
use super::{Db, Store, StoreError};
use sqlx::postgres::PgArguments;
use sqlx::sqlite::SqliteRow;
use sqlx::{Arguments, Column, PgPool, Row, SqlitePool, TypeInfo, ValueRef};
use std::collections::HashMap;

/// Tables copied as they are, in this order (each with its primary key, so a second run
/// skips what the first copied).
const TABLES: &[&str] = &[
    "tenant_registry",
    "event_streams",
    "cursors",
    "backfills",
    "dead_letters",
    "incidents",
    "incident_events",
    "incident_outbox",
    "audit_log",
    "positions",
];

/// Tables whose `id` is an identity column: its sequence continues after the copied ids.
const IDENTITIES: &[&str] = &["dead_letters", "incidents", "incident_outbox", "audit_log"];

/// Journal rows per transaction.
const BATCH: i64 = 5000;

/// What a migration copied, per table (journal first).
#[derive(Debug, Default)]
pub struct MigrationReport {
    pub tables: Vec<(String, u64, u64)>,
}

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("the source must be a SQLite store and the target a PostgreSQL one")]
    Backends,
    #[error(
        "replica {0} is running on the target store; stop every replica before migrating into it"
    )]
    TargetInUse(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("store query failed: {0}")]
    Query(#[from] sqlx::Error),
}

/// Copies everything of `from` (SQLite) into `to` (PostgreSQL, migrated, not in use).
pub async fn migrate(from: &Store, to: &Store) -> Result<MigrationReport, MigrateError> {
    let (Db::Sqlite { reader, .. }, Db::Postgres(pg)) = (from.db(), to.db()) else {
        return Err(MigrateError::Backends);
    };
    let live: Option<String> = sqlx::query_scalar(
        "SELECT owner FROM leases WHERE owner IS NOT NULL
         AND expires_at > (extract(epoch FROM clock_timestamp()) * 1000)::bigint LIMIT 1",
    )
    .fetch_optional(pg)
    .await?;
    if let Some(r) = live {
        return Err(MigrateError::TargetInUse(r));
    }
    let mut report = MigrationReport::default();
    let (read, copied) = journal(reader, pg).await?;
    report.tables.push(("journal".into(), read, copied));
    for table in TABLES {
        let (read, copied) = table_rows(reader, pg, table).await?;
        report.tables.push((table.to_string(), read, copied));
    }
    for table in IDENTITIES {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT setval(pg_get_serial_sequence('{table}', 'id'),
                           GREATEST((SELECT MAX(id) FROM {table}), 1))"
        )))
        .execute(pg)
        .await?;
    }
    Ok(report)
}

/// The journal in seq order, `BATCH` rows per transaction, with its dedup keys.
async fn journal(src: &SqlitePool, pg: &PgPool) -> Result<(u64, u64), MigrateError> {
    let range: (Option<i64>, Option<i64>) =
        sqlx::query_as("SELECT MIN(received_at), MAX(received_at) FROM journal")
            .fetch_one(src)
            .await?;
    if let (Some(a), Some(b)) = range {
        partitions::ensure_days(pg, a, b).await?;
    }
    let (mut after, mut read, mut copied) = (0i64, 0u64, 0u64);
    loop {
        type R = (
            i64,
            String,
            i64,
            i64,
            i64,
            i64,
            String,
            String,
            Option<i64>,
            Option<String>,
        );
        let rows: Vec<R> = sqlx::query_as(
            "SELECT seq, tenant, event_id, event_type_id, event_time, received_at, source, raw,
                    severity, connector_guid FROM journal WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after)
        .bind(BATCH)
        .fetch_all(src)
        .await?;
        let Some(last) = rows.last() else { break };
        after = last.0;
        read += rows.len() as u64;
        let col = |f: fn(&R) -> i64| rows.iter().map(f).collect::<Vec<i64>>();
        let seqs = col(|r| r.0);
        let ids = col(|r| r.2);
        let types = col(|r| r.3);
        let times = col(|r| r.4);
        let received = col(|r| r.5);
        let tenants: Vec<&str> = rows.iter().map(|r| r.1.as_str()).collect();
        let sources: Vec<&str> = rows.iter().map(|r| r.6.as_str()).collect();
        let raws: Vec<&str> = rows.iter().map(|r| r.7.as_str()).collect();
        let sevs: Vec<Option<i16>> = rows
            .iter()
            .map(|r| r.8.and_then(|s| i16::try_from(s).ok()))
            .collect();
        let guids: Vec<Option<&str>> = rows.iter().map(|r| r.9.as_deref()).collect();
        let mut tx = pg.begin().await?;
        let done = sqlx::query(
            "WITH input AS (
                 SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::bigint[],
                     $5::bigint[], $6::bigint[], $7::text[], $8::text[], $9::smallint[], $10::text[])
                 AS t(seq, tenant, event_id, event_type_id, event_time, received_at, source, raw,
                      severity, connector_guid)),
             keys AS (
                 INSERT INTO journal_keys (tenant, event_id)
                 SELECT tenant, event_id FROM input ON CONFLICT DO NOTHING
                 RETURNING tenant, event_id)
             INSERT INTO journal (seq, tenant, event_id, event_type_id, event_time, received_at,
                                  source, raw, severity, connector_guid)
             SELECT i.* FROM input i JOIN keys USING (tenant, event_id)",
        )
        .bind(&seqs)
        .bind(&tenants)
        .bind(&ids)
        .bind(&types)
        .bind(&times)
        .bind(&received)
        .bind(&sources)
        .bind(&raws)
        .bind(&sevs)
        .bind(&guids)
        .execute(&mut *tx)
        .await?;
        // New appends continue after the copied numbers.
        sqlx::query(
            "SELECT setval('journal_seq', GREATEST($1, (SELECT last_value FROM journal_seq)))",
        )
        .bind(after)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        copied += done.rows_affected();
    }
    Ok((read, copied))
}

/// One table, row by row with its own columns; a NULL is bound with the target column's type.
async fn table_rows(
    src: &SqlitePool,
    pg: &PgPool,
    table: &str,
) -> Result<(u64, u64), MigrateError> {
    let types: HashMap<String, String> = sqlx::query_as(
        "SELECT column_name::text, data_type::text FROM information_schema.columns
         WHERE table_schema = current_schema() AND table_name = $1",
    )
    .bind(table)
    .fetch_all(pg)
    .await?
    .into_iter()
    .collect();
    let rows: Vec<SqliteRow> = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT * FROM {table}")))
        .fetch_all(src)
        .await?;
    let (mut read, mut copied) = (0u64, 0u64);
    let mut tx = pg.begin().await?;
    for row in &rows {
        read += 1;
        // Only columns the target has (a SQLite store never has more, but be strict).
        let cols: Vec<&str> = row
            .columns()
            .iter()
            .map(|c| c.name())
            .filter(|c| types.contains_key(*c))
            .collect();
        let mut args = PgArguments::default();
        for c in &cols {
            bind(
                &mut args,
                row,
                c,
                types.get(*c).map_or("text", String::as_str),
            )?;
        }
        let marks: Vec<String> = (1..=cols.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "INSERT INTO {table} ({}) VALUES ({}) ON CONFLICT DO NOTHING",
            cols.join(", "),
            marks.join(", ")
        );
        let done = sqlx::query_with(sqlx::AssertSqlSafe(sql), args)
            .execute(&mut *tx)
            .await?;
        copied += done.rows_affected();
    }
    tx.commit().await?;
    Ok((read, copied))
}

fn bind(
    args: &mut PgArguments,
    row: &SqliteRow,
    col: &str,
    pg_type: &str,
) -> Result<(), MigrateError> {
    let raw = row.try_get_raw(col)?;
    let null = raw.is_null();
    let kind = raw.type_info().name().to_ascii_uppercase();
    let bad =
        |e: Box<dyn std::error::Error + Send + Sync>| MigrateError::Query(sqlx::Error::Encode(e));
    match pg_type {
        "bigint" | "smallint" | "integer" => {
            let v: Option<i64> = if null { None } else { Some(row.try_get(col)?) };
            match pg_type {
                "smallint" => args.add(v.and_then(|v| i16::try_from(v).ok())).map_err(bad),
                _ => args.add(v).map_err(bad),
            }
        }
        "bytea" => {
            let v: Option<Vec<u8>> = if null { None } else { Some(row.try_get(col)?) };
            args.add(v).map_err(bad)
        }
        _ => {
            // TEXT (an INTEGER in a text column is written as its digits).
            let v: Option<String> = if null {
                None
            } else if kind == "INTEGER" {
                Some(row.try_get::<i64, _>(col)?.to_string())
            } else {
                Some(row.try_get(col)?)
            };
            args.add(v).map_err(bad)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::postgres::testing;
    use super::super::sqlite::test_event as ev;
    use super::*;
    use crate::incidents::store::{IncidentStore, NewIncidentRow};
    use crate::store::{Cursor, Position, RegisteredTenant};

    fn incident(n: u64) -> NewIncidentRow {
        NewIncidentRow {
            tenant: "acme".into(),
            correlation_key: format!("acme|host{n}|sha"),
            correlation_id: format!("sebridge:acme:amp-event:{n}"),
            rule: "threats".into(),
            severity: "High".into(),
            title: format!("threat {n}"),
            connector_guid: Some(format!("guid-{n}")),
            hostname: Some(format!("host{n}")),
            sha256: None,
            detection: Some("W32.Test".into()),
            event_type: Some("Threat Detected".into()),
            first_event_id: n,
            first_seq: 1,
            first_event_time: 100,
            snow_short: "short".into(),
            snow_description: "description".into(),
            xdr_title: "title".into(),
            xdr_description: "xdr".into(),
            links: "{}".into(),
            isolate: true,
            triage_group: None,
        }
    }

    /// Everything a single-node store holds, copied: reads on PostgreSQL answer as on the
    /// SQLite store, new appends continue after the copied numbers and dedup against them, and
    /// a second run copies nothing.
    #[tokio::test]
    async fn a_sqlite_store_moves_to_postgres_whole() {
        let dir = tempfile::tempdir().unwrap();
        let sqlite = Store::open_sqlite(&dir.path().join("s.db")).await.unwrap();
        let big = u64::MAX - 3;
        for i in 0..7u64 {
            let c = Cursor {
                time: i as i64,
                seen_ids: vec![i],
            };
            sqlite
                .append(
                    "acme",
                    "poll",
                    &[ev(i * 2, i as i64), ev(big - i, 5)],
                    Some(&c),
                )
                .await
                .unwrap();
            sqlite
                .append("globex", "stream", &[ev(i, 1)], None)
                .await
                .unwrap();
        }
        let p = Position {
            seq: 9,
            state: Some("{\"len\":3}".into()),
        };
        sqlite.commit_position("file", &p).await.unwrap();
        sqlite
            .register_tenant(&RegisteredTenant {
                name: "acme".into(),
                region: Some("eu".into()),
                base_url: None,
                client_id: "cid".into(),
                sealed_api_key: vec![9, 0, 255],
                created_at: 1,
            })
            .await
            .unwrap();
        sqlite
            .dead_letter("acme", "poll", "not JSON", "{x")
            .await
            .unwrap();
        let inc = sqlite.incidents();
        let mut tx = inc.begin().await.unwrap();
        for n in 1..=3 {
            let id = IncidentStore::tx_insert(&mut tx, &incident(n))
                .await
                .unwrap()
                .unwrap();
            IncidentStore::tx_add_event(&mut tx, id, 4, n, 100, Some("High"), "line", false)
                .await
                .unwrap();
            IncidentStore::tx_enqueue(&mut tx, id, "servicenow", "snow_create", 0)
                .await
                .unwrap();
            IncidentStore::tx_audit(&mut tx, Some(id), Some("acme"), "engine", "opened", "d")
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();

        let schema = testing::schema();
        let pg = Store::open_postgres(&testing::url(), Some(&schema))
            .await
            .unwrap();
        let report = migrate(&sqlite, &pg).await.unwrap();
        let journal = &report.tables[0];
        assert_eq!((journal.1, journal.2), (21, 21), "{report:?}");

        let key = |rows: Vec<crate::store::JournalEntry>| {
            rows.into_iter()
                .map(|r| {
                    (
                        r.seq,
                        r.tenant,
                        r.event_id,
                        r.received_at,
                        r.source,
                        r.raw.to_string(),
                        r.event_time,
                    )
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(
            key(pg.read_after(0, 100).await.unwrap()),
            key(sqlite.read_after(0, 100).await.unwrap())
        );
        assert_eq!(
            pg.positions().await.unwrap(),
            sqlite.positions().await.unwrap()
        );
        assert_eq!(
            pg.cursor("acme", "poll").await.unwrap(),
            sqlite.cursor("acme", "poll").await.unwrap()
        );
        assert_eq!(
            pg.registered_tenants().await.unwrap()[0].sealed_api_key,
            [9, 0, 255]
        );
        assert_eq!(pg.dead_letters(10).await.unwrap().len(), 1);
        let json = |v: Vec<crate::incidents::store::IncidentRow>| serde_json::to_value(v).unwrap();
        assert_eq!(
            json(pg.incidents().list(None, None, 10).await.unwrap()),
            json(inc.list(None, None, 10).await.unwrap())
        );
        let ops = |o: Vec<crate::incidents::store::OutboxOp>| serde_json::to_value(o).unwrap();
        assert_eq!(
            ops(pg.incidents().ops(2).await.unwrap()),
            ops(inc.ops(2).await.unwrap())
        );
        assert_eq!(
            serde_json::to_value(pg.incidents().audit(None, 10).await.unwrap()).unwrap(),
            serde_json::to_value(inc.audit(None, 10).await.unwrap()).unwrap()
        );

        // Appends go on after the copied numbers; a copied event is a duplicate.
        let head = sqlite.head();
        let out = pg
            .append("acme", "poll", &[ev(0, 0), ev(1000, 9)], None)
            .await
            .unwrap();
        assert_eq!((out.inserted, out.duplicates), (1, 1));
        assert!(out.head > head);
        // New incidents get new ids.
        let mut tx = pg.incidents().begin().await.unwrap();
        let id = IncidentStore::tx_insert(&mut tx, &incident(9))
            .await
            .unwrap()
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(id, 4);

        // Again: nothing new to copy, nothing doubled.
        let again = migrate(&sqlite, &pg).await.unwrap();
        assert!(
            again.tables.iter().all(|(_, _, copied)| *copied == 0),
            "{again:?}"
        );
        assert_eq!(pg.count().await.unwrap(), 22);
        sqlite.close().await;
        pg.close().await;
        testing::drop_schema(&schema).await;
    }
}
