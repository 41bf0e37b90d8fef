//! `cargo bench -p sebridge --bench journal`: 1,000,000 events (SEBRIDGE_BENCH_EVENTS) appended
//! to the journal in pages of 500 (what a backfill's poll commits), on the same machine in one
//! run:
//!
//! - SQLite (the default store);
//! - PostgreSQL (`Store::append`: dedup keys, day partitions, the cross-replica append lock);
//! - the ceiling: `COPY journal FROM STDIN` of the same rows into the same partitioned table
//!   of a fresh schema, with no dedup and no lock (the cheapest way to get the rows in).
//!
//! Only the store calls are timed (building each page's events is not). PostgreSQL is the
//! machine's (`SEBRIDGE_TEST_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/test`);
//! each case gets a schema of its own, dropped afterwards. Prints a Markdown table.

mod common;

use sebridge::store::Store;
use secure_endpoint::Event;
use serde_json::Value;
use std::time::{Duration, Instant};

const PAGE: usize = 500;
const TENANTS: [&str; 4] = ["acme", "globex", "initech", "umbrella"];

fn pg_url() -> String {
    std::env::var("SEBRIDGE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

/// Page `p` of the run: events with ids unique per run, shapes cycling over the fixtures.
fn page(base: &[Value], n: usize, p: usize) -> (&'static str, Vec<Event>) {
    let from = p * PAGE;
    let events = (from..(from + PAGE).min(n))
        .map(|i| {
            let mut v = base[i % base.len()].clone();
            v["id"] = Value::from(1_000_000_000u64 + i as u64);
            Event::from_json(&v.to_string()).expect("event")
        })
        .collect();
    (TENANTS[p % TENANTS.len()], events)
}

async fn append_all(store: &Store, base: &[Value], n: usize) -> Duration {
    let mut spent = Duration::ZERO;
    for p in 0..n.div_ceil(PAGE) {
        let (tenant, events) = page(base, n, p);
        let t = Instant::now();
        store
            .append(tenant, "poll", &events, None)
            .await
            .expect("append");
        spent += t.elapsed();
    }
    assert_eq!(
        store.count().await.expect("count"),
        n as i64,
        "every event journaled"
    );
    spent
}

/// The same rows, one COPY into the partitioned journal of a fresh, migrated schema. The rows
/// are rendered (exactly as an append renders them) before the clock starts: rendering them
/// page by page while the COPY runs would let the server work on one page while the untimed
/// next one is built, and flatter the ceiling.
async fn copy_all(schema: &str, base: &[Value], n: usize) -> Duration {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&pg_url()).await.expect("pg");
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SET search_path = \"{schema}\""
    )))
    .execute(&mut conn)
    .await
    .expect("search path");
    let received = sebridge::store::now_millis();
    let mut seq = 0i64;
    let pages: Vec<String> = (0..n.div_ceil(PAGE))
        .map(|p| {
            let (tenant, events) = page(base, n, p);
            let mut buf = String::with_capacity(events.len() * 2048);
            for e in &events {
                seq += 1;
                common::copy_row(&mut buf, seq, tenant, e, received, "poll");
            }
            buf
        })
        .collect();
    let t = Instant::now();
    let mut copy = conn
        .copy_in_raw(
            "COPY journal (seq, tenant, event_id, event_type_id, event_time, received_at, \
             source, raw, severity, connector_guid) FROM STDIN",
        )
        .await
        .expect("copy");
    for buf in &pages {
        copy.send(buf.as_bytes()).await.expect("copy data");
    }
    let rows = copy.finish().await.expect("copy finish");
    let spent = t.elapsed();
    assert_eq!(rows, n as u64, "every row copied");
    spent
}

async fn drop_schema(schema: &str) {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&pg_url()).await.expect("pg");
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"
    )))
    .execute(&mut conn)
    .await
    .expect("drop schema");
}

fn main() {
    let n: usize = std::env::var("SEBRIDGE_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let runs: usize = std::env::var("SEBRIDGE_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let base = common::fixture_events();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut results: Vec<(&str, Vec<f64>)> = vec![
        ("SQLite journal (`Store::append`)", Vec::new()),
        ("PostgreSQL journal (`Store::append`)", Vec::new()),
        ("PostgreSQL `COPY` of the same rows (ceiling)", Vec::new()),
    ];
    rt.block_on(async {
        for run in 1..=runs {
            eprintln!("run {run}/{runs}: {n} events, pages of {PAGE}");
            let dir = tempfile::tempdir().expect("dir");
            let sqlite = Store::open_sqlite(&dir.path().join("j.db"))
                .await
                .expect("sqlite");
            let t = append_all(&sqlite, &base, n).await;
            sqlite.close().await;
            eprintln!("  sqlite   {:.2} s", t.as_secs_f64());
            results[0].1.push(t.as_secs_f64());

            let schema = format!("bench_journal_{}_{run}", std::process::id());
            let pg = Store::open_postgres(&pg_url(), Some(&schema))
                .await
                .expect("pg");
            let t = append_all(&pg, &base, n).await;
            pg.close().await;
            drop_schema(&schema).await;
            eprintln!("  postgres {:.2} s", t.as_secs_f64());
            results[1].1.push(t.as_secs_f64());

            let schema = format!("bench_copy_{}_{run}", std::process::id());
            let pg = Store::open_postgres(&pg_url(), Some(&schema))
                .await
                .expect("pg");
            pg.close().await;
            let t = copy_all(&schema, &base, n).await;
            drop_schema(&schema).await;
            eprintln!("  copy     {:.2} s", t.as_secs_f64());
            results[2].1.push(t.as_secs_f64());
        }
    });
    let median = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let rate = |secs: f64| n as f64 / secs;
    let copy = rate(median(&results[2].1));
    let sqlite = rate(median(&results[0].1));
    println!("| journal ({n} events, pages of {PAGE}, median of {runs}) | seconds | events/s | ÷ COPY | ÷ SQLite |");
    println!("|---|---:|---:|---:|---:|");
    for (name, secs) in &results {
        let s = median(secs);
        println!(
            "| {name} | {s:.2} | {:.0} | {:.2}× | {:.2}× |",
            rate(s),
            rate(s) / copy,
            rate(s) / sqlite
        );
    }
}
