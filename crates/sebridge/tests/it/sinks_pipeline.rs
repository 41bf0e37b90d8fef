//! The runner and the PostgreSQL sink against the real PostgreSQL: exactly once in the
//! table, a sink down for a while (nothing lost, nothing duplicated, the others kept
//! flowing), filters, batch timeout, journal retention and its alarm, and every sink type
//! wired from a TOML config end to end.

use crate::support;

use sebridge::config::{
    Config, JournalConfig, LaggingPolicy, PostgresSinkConfig, Secret, SinkCommon, SinkFilter,
};
use sebridge::sinks::file::FileSink;
use sebridge::sinks::postgres::PostgresSink;
use sebridge::sinks::retention::{Retention, State};
use sebridge::sinks::splunk_hec::HecSink;
use sebridge::sinks::{Sink, SinkCtx, SinkError, SinkOptions};
use sebridge::status::StatusBoard;
use sebridge::store::{JournalEntry, Position, Store};
use secure_endpoint::Severity;
use simulator::receivers::hec;
use sqlx::Row;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn common(batch: usize) -> SinkCommon {
    SinkCommon {
        batch_size: batch,
        batch_timeout: Duration::ZERO,
        retry_initial: Duration::from_millis(50),
        retry_max: Duration::from_millis(300),
        filter: SinkFilter::default(),
    }
}

fn pg_config(url: String, table: &str) -> PostgresSinkConfig {
    PostgresSinkConfig {
        common: common(200),
        url: Secret(url.into()),
        table: table.into(),
        create_table: true,
    }
}

async fn drop_schema(schema: &str) {
    let pool = support::pg().await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"
    )))
    .execute(&pool)
    .await
    .unwrap();
}

/// Runs a PostgreSQL sink named "pg" over the journal until it has everything.
async fn deliver_to_pg(cfg: &PostgresSinkConfig, store: &Store) {
    let ctx = SinkCtx {
        name: "pg".into(),
        store: store.clone(),
        status: StatusBoard::default(),
    };
    support::deliver_all(
        "pg",
        PostgresSink::new(cfg.clone(), ctx),
        SinkOptions::from(&cfg.common),
        store,
    )
    .await;
}

async fn table_ids(table: &str) -> Vec<(String, String)> {
    let pool = support::pg().await;
    let (schema, name) = table.split_once('.').unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT tenant, event_id::text FROM \"{schema}\".\"{name}\" ORDER BY tenant, event_id"
    )))
    .fetch_all(&pool)
    .await
    .unwrap()
    .into_iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_holds_every_event_exactly_once_even_when_redelivered() {
    let schema = support::unique("sebridge_pg");
    let table = format!("{schema}.events");
    let dir = tempfile::tempdir().unwrap();
    // The same ids under two tenants: the key is (tenant, event id). Ids above 2^63 too.
    let mut evs = support::events(300, 9_223_372_036_854_775_000);
    evs.extend(support::events(300, 9_223_372_036_854_775_000));
    let store = support::journal(dir.path(), &evs[..300], &["acme"]).await;
    store
        .append("globex", "poll", &evs[300..], None)
        .await
        .unwrap();
    let cfg = pg_config(support::pg_url(), &table);
    deliver_to_pg(&cfg, &store).await;
    let first = table_ids(&table).await;
    assert_eq!(first.len(), 600);
    // Rewind (as after a crash between insert and commit) and deliver again: nothing added.
    store
        .commit_position("pg", &Position::default())
        .await
        .unwrap();
    deliver_to_pg(&cfg, &store).await;
    assert_eq!(table_ids(&table).await, first);
    // Columns: exact u64 ids in numeric and in jsonb, sub-second time, severity.
    let pool = support::pg().await;
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT event_id::text, raw->>'id', extract(epoch from event_time)::text, raw->>'timestamp',
                raw->>'timestamp_nanoseconds', severity, raw->>'severity', event_type_id, journal_seq
         FROM \"{schema}\".events WHERE tenant = 'acme'"
    )))
    .fetch_all(&pool)
    .await
    .unwrap();
    let mut fractional = 0;
    for r in rows {
        let (id, raw_id): (String, String) = (r.get(0), r.get(1));
        assert_eq!(id, raw_id);
        let epoch: f64 = r.get::<String, _>(2).parse().unwrap();
        let ts: f64 = r.get::<String, _>(3).parse().unwrap();
        let ns: f64 = r
            .get::<Option<String>, _>(4)
            .map_or(0.0, |s| s.parse().unwrap());
        assert!(
            (epoch - (ts + ns / 1e9)).abs() < 1e-5,
            "{epoch} vs {ts}+{ns}"
        );
        if ns > 0.0 {
            fractional += 1;
        }
        let (sev, raw_sev): (Option<String>, Option<String>) = (r.get(5), r.get(6));
        assert_eq!(
            sev.map(|s| s.to_lowercase()),
            raw_sev.map(|s| s.to_lowercase())
        );
    }
    assert!(fractional > 0);
    // The local PostgreSQL (15, Debian) has lz4: `raw` is compressed with it ('l').
    let compression: String = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT attcompression::text FROM pg_attribute
         WHERE attrelid = '\"{schema}\".events'::regclass AND attname = 'raw'"
    )))
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(compression, "l");
    drop_schema(&schema).await;
}

/// An event PostgreSQL refuses for its data (jsonb holds no `\u0000`) is dead-lettered with
/// PostgreSQL's reason; the rest of its batch, split across connections, all arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_dead_letters_only_the_event_it_refuses() {
    let schema = support::unique("sebridge_pg_refuse");
    let table = format!("{schema}.events");
    let dir = tempfile::tempdir().unwrap();
    let mut evs = support::events(400, 1);
    let mut poison: serde_json::Value = serde_json::from_str(evs[250].raw()).unwrap();
    poison["detection"] = "NUL\u{0}inside".into();
    evs[250] = secure_endpoint::Event::from_json(&poison.to_string()).unwrap();
    assert!(evs[250].raw().contains("\\u0000"));
    let store = support::journal(dir.path(), &evs, &["acme"]).await;
    let mut cfg = pg_config(support::pg_url(), &table);
    cfg.common.batch_size = 400;
    deliver_to_pg(&cfg, &store).await;
    let ids = table_ids(&table).await;
    assert_eq!(ids.len(), 399);
    assert!(!ids.iter().any(|(_, id)| id == "251"));
    let dead = store.dead_letters(10).await.unwrap();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert!(dead[0].raw.contains("NUL"), "{:?}", dead[0]);
    assert!(
        dead[0].reason.contains("PostgreSQL refused"),
        "{}",
        dead[0].reason
    );
    drop_schema(&schema).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_down_for_a_while_loses_nothing_duplicates_nothing_and_blocks_nobody() {
    let schema = support::unique("sebridge_down");
    let table = format!("{schema}.events");
    let dir = tempfile::tempdir().unwrap();
    let store = support::journal(dir.path(), &support::events(300, 1), &["acme"]).await;
    // PostgreSQL reached through a proxy we can switch off: down from the start.
    let pg_addr: std::net::SocketAddr = "127.0.0.1:5432".parse().unwrap();
    let proxy = support::Proxy::start(pg_addr).await;
    proxy.set_up(false);
    let url = support::pg_url().replace("127.0.0.1:5432", &proxy.addr.to_string());
    assert!(
        url.contains(&proxy.addr.to_string()),
        "the test database URL must point at 127.0.0.1:5432"
    );
    let receiver = hec::start(hec::HecConfig::default()).await.unwrap();
    let status = StatusBoard::default();
    let pg_cfg = pg_config(url, &table);
    let pg = support::spawn(
        "pg",
        PostgresSink::new(
            pg_cfg.clone(),
            SinkCtx {
                name: "pg".into(),
                store: store.clone(),
                status: status.clone(),
            },
        ),
        SinkOptions::from(&pg_cfg.common),
        &store,
        &status,
    );
    let file_path = dir.path().join("out.jsonl");
    let file = support::spawn(
        "file",
        FileSink::new(file_path.clone(), false),
        SinkOptions::with_batch_size(100),
        &store,
        &status,
    );
    let hec_cfg = sebridge::config::HecSinkConfig {
        common: common(100),
        url: receiver.url().parse().unwrap(),
        token: Secret(receiver.token().to_string().into()),
        index: None,
        source: None,
        sourcetype: "cisco:amp:event".into(),
        host: None,
        gzip: true,
        ack: false,
        ack_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(5),
        ca_file: None,
        format: Default::default(),
    };
    let hec_sink = support::spawn(
        "hec",
        HecSink::new(
            hec_cfg.clone(),
            SinkCtx {
                name: "hec".into(),
                store: store.clone(),
                status: status.clone(),
            },
        )
        .unwrap(),
        SinkOptions::from(&hec_cfg.common),
        &store,
        &status,
    );
    // Ingestion goes on while PostgreSQL is down, and appends stay fast.
    for i in 0..5u64 {
        let t = Instant::now();
        store
            .append(
                "acme",
                "poll",
                &support::events(100, 10_000 + i * 1000),
                None,
            )
            .await
            .unwrap();
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "ingestion is not held back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let head = store.head();
    file.until(head, Duration::from_secs(30)).await;
    hec_sink.until(head, Duration::from_secs(30)).await;
    let st = pg.sink_status();
    assert!(
        !st.healthy && st.position == 0,
        "PostgreSQL is down: {st:?}"
    );
    assert!(
        st.last_error.as_deref().unwrap_or("").contains("postgres"),
        "{st:?}"
    );
    assert!(
        !st.last_error.unwrap().contains("postgres://"),
        "no URL (password) in errors"
    );
    // Back up: it catches up, once.
    proxy.set_up(true);
    pg.until(head, Duration::from_secs(60)).await;
    let st = pg.sink_status();
    assert!(st.healthy && st.backlog == 0, "{st:?}");
    // Down again mid-way through new events, then up: still exactly once.
    store
        .append("acme", "poll", &support::events(400, 90_000), None)
        .await
        .unwrap();
    proxy.set_up(false);
    tokio::time::sleep(Duration::from_millis(300)).await;
    proxy.set_up(true);
    let head = store.head();
    pg.until(head, Duration::from_secs(60)).await;
    for r in [pg, file, hec_sink] {
        r.stop().await;
    }
    let ids = table_ids(&table).await;
    assert_eq!(ids.len(), 1200);
    let distinct: std::collections::BTreeSet<_> = ids.iter().collect();
    assert_eq!(distinct.len(), 1200);
    assert_eq!(
        std::fs::read_to_string(&file_path).unwrap().lines().count(),
        1200
    );
    assert_eq!(receiver.stats().events, 1200);
    receiver.shutdown().await;
    drop_schema(&schema).await;
}

/// Records the batches it is given.
struct Recorder(Arc<Mutex<Vec<Vec<JournalEntry>>>>);

impl Sink for Recorder {
    fn kind(&self) -> &'static str {
        "recorder"
    }
    async fn open(&mut self, _state: Option<&str>) -> Result<(), SinkError> {
        Ok(())
    }
    async fn write(&mut self, batch: &[JournalEntry]) -> Result<Option<String>, SinkError> {
        self.0.lock().unwrap().push(batch.to_vec());
        Ok(None)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_pick_tenants_event_types_and_minimum_severity() {
    let dir = tempfile::tempdir().unwrap();
    let store = support::journal(
        dir.path(),
        &support::events(600, 1),
        &["acme", "globex", "initech"],
    )
    .await;
    let filter = SinkFilter {
        tenants: Some(vec!["acme".into(), "initech".into()]),
        event_types: vec![1090519054, 553648143, 2164260880],
        min_severity: Some(Severity::Medium),
    };
    let mut opts = SinkOptions::with_batch_size(50);
    opts.filter = filter.clone();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let status = support::deliver_all("filtered", Recorder(seen.clone()), opts, &store).await;
    let got: Vec<i64> = seen
        .lock()
        .unwrap()
        .iter()
        .flatten()
        .map(|e| e.seq)
        .collect();
    let all = store.read_after(0, 10_000).await.unwrap();
    let want: Vec<i64> = all
        .iter()
        .filter(|e| {
            (e.tenant == "acme" || e.tenant == "initech")
                && filter.event_types.contains(&e.event_type_id)
                && e.severity.is_some_and(|s| s >= Severity::Medium)
        })
        .map(|e| e.seq)
        .collect();
    assert!(!want.is_empty() && want.len() < all.len());
    assert_eq!(got, want);
    let st = &status.snapshot(0).sinks[0];
    assert_eq!(
        st.position,
        store.head(),
        "the position moves past filtered rows"
    );
    assert_eq!(st.events_filtered as usize, all.len() - want.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_timeout_lets_a_partial_batch_fill_then_flushes_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = support::journal(dir.path(), &[], &["acme"]).await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut opts = SinkOptions::with_batch_size(1000);
    opts.batch_timeout = Duration::from_millis(600);
    let status = StatusBoard::default();
    let r = support::spawn("timed", Recorder(seen.clone()), opts, &store, &status);
    tokio::time::sleep(Duration::from_millis(200)).await;
    store
        .append("acme", "poll", &support::events(10, 1), None)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    store
        .append("acme", "poll", &support::events(10, 100), None)
        .await
        .unwrap();
    r.until(store.head(), Duration::from_secs(10)).await;
    r.stop().await;
    let sizes: Vec<usize> = seen.lock().unwrap().iter().map(Vec::len).collect();
    assert_eq!(sizes, vec![20], "one batch of both appends, not two");

    // Without a timeout, each append goes out at once.
    let seen = Arc::new(Mutex::new(Vec::new()));
    let status = StatusBoard::default();
    let r = support::spawn(
        "eager",
        Recorder(seen.clone()),
        SinkOptions::with_batch_size(1000),
        &store,
        &status,
    );
    r.until(store.head(), Duration::from_secs(10)).await;
    store
        .append("acme", "poll", &support::events(5, 500), None)
        .await
        .unwrap();
    r.until(store.head(), Duration::from_secs(10)).await;
    r.stop().await;
    let sizes: Vec<usize> = seen.lock().unwrap().iter().map(Vec::len).collect();
    assert_eq!(sizes, vec![20, 5]);
}

fn journal_config(max_rows: u64, policy: LaggingPolicy) -> JournalConfig {
    JournalConfig {
        max_age: None,
        max_rows: Some(max_rows),
        on_lagging_consumer: policy,
        warn_at_percent: 80,
        check_interval: Duration::from_secs(60),
    }
}

async fn seqs(store: &Store) -> Vec<i64> {
    store
        .read_after(0, 100_000)
        .await
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect()
}

#[tokio::test]
async fn retention_keeps_what_a_lagging_consumer_needs_and_raises_the_alarm() {
    let dir = tempfile::tempdir().unwrap();
    let store = support::journal(dir.path(), &support::events(1000, 1), &["acme"]).await;
    let all = seqs(&store).await;
    let head = store.head();
    store
        .commit_position(
            "fast",
            &Position {
                seq: head,
                state: None,
            },
        )
        .await
        .unwrap();
    store
        .commit_position(
            "slow",
            &Position {
                seq: all[99],
                state: None,
            },
        )
        .await
        .unwrap();
    let status = StatusBoard::default();
    let mut ret = Retention::new(
        journal_config(300, LaggingPolicy::Keep),
        store.clone(),
        status,
        vec!["fast".into(), "slow".into()],
    );
    let r = ret.check().await.unwrap();
    // Only what both passed is gone; the rest stays although past the 300-row limit.
    assert_eq!(r.state, State::Blocked);
    assert_eq!(r.deleted, 100);
    assert_eq!(r.dropped_unconsumed, 0);
    assert_eq!(r.lagging_consumer.as_deref(), Some("slow"));
    let msg = r.message.unwrap();
    assert!(
        msg.contains("`slow`") && msg.contains("max_rows 300") && msg.contains("kept"),
        "{msg}"
    );
    assert_eq!(seqs(&store).await, all[100..]);

    // The slow consumer catches up to within the warning zone (past 80% of the limit).
    store
        .commit_position(
            "slow",
            &Position {
                seq: all[720],
                state: None,
            },
        )
        .await
        .unwrap();
    let r = ret.check().await.unwrap();
    assert_eq!(r.state, State::Warning, "{r:?}");
    assert_eq!(
        r.deleted, 600,
        "everything beyond the newest 300 that both passed"
    );
    assert_eq!(seqs(&store).await, all[700..]);

    // Fully caught up: ok.
    store
        .commit_position(
            "slow",
            &Position {
                seq: head,
                state: None,
            },
        )
        .await
        .unwrap();
    let r = ret.check().await.unwrap();
    assert_eq!(r.state, State::Ok);
    assert_eq!(store.count().await.unwrap(), 300);

    // A configured sink that never committed holds everything (it starts at the beginning).
    let mut ret = Retention::new(
        journal_config(100, LaggingPolicy::Keep),
        store.clone(),
        StatusBoard::default(),
        vec!["new-sink".into()],
    );
    let r = ret.check().await.unwrap();
    assert_eq!((r.state, r.deleted), (State::Blocked, 0));
    assert_eq!(r.lagging_consumer.as_deref(), Some("new-sink"));
}

#[tokio::test]
async fn retention_drops_only_when_the_operator_chose_so_and_counts_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = support::journal(dir.path(), &support::events(1000, 1), &["acme"]).await;
    let all = seqs(&store).await;
    store
        .commit_position(
            "slow",
            &Position {
                seq: all[99],
                state: None,
            },
        )
        .await
        .unwrap();
    let mut ret = Retention::new(
        journal_config(300, LaggingPolicy::Drop),
        store.clone(),
        StatusBoard::default(),
        vec!["slow".into()],
    );
    let r = ret.check().await.unwrap();
    assert_eq!(r.state, State::Dropping);
    assert_eq!(r.deleted, 700);
    assert_eq!(
        r.dropped_unconsumed, 600,
        "rows 101..700 were never read by `slow`"
    );
    assert_eq!(seqs(&store).await, all[700..]);

    // Age limit: rows older than max_age that every consumer passed go.
    store
        .commit_position(
            "slow",
            &Position {
                seq: store.head(),
                state: None,
            },
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let mut cfg = journal_config(1000, LaggingPolicy::Keep);
    cfg.max_rows = None;
    cfg.max_age = Some(Duration::from_millis(10));
    let mut ret = Retention::new(
        cfg,
        store.clone(),
        StatusBoard::default(),
        vec!["slow".into()],
    );
    let r = ret.check().await.unwrap();
    assert_eq!((r.state, r.deleted), (State::Ok, 300));
    assert_eq!(store.count().await.unwrap(), 0);
}

/// Every sink type configured in TOML, wired by the topology, fed by the poll source from the
/// simulated Secure Endpoint API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sink_type_from_a_toml_config_end_to_end() {
    let sim = simulator::start(simulator::SimConfig {
        tenants: 2,
        history: 150,
        rate: 0.0,
        ..Default::default()
    })
    .await
    .unwrap();
    let hec_r = hec::start(hec::HecConfig::default()).await.unwrap();
    let es_r = simulator::receivers::elastic::start(Default::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sebridge.toml");
    sim.write_config(&path).unwrap();
    let schema = support::unique("sebridge_e2e");
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let extra = format!(
        r#"
[sinks.splunk]
type = "splunk_hec"
url = "{hec_url}"
token = "${{E2E_HEC_TOKEN}}"
batch_size = 50

[sinks.elastic]
type = "elasticsearch"
url = "{es_url}"
api_key = "c2VicmlkZ2U6dGVzdA=="

[sinks.pg]
type = "postgres"
url = "{pg}"
table = "{schema}.events"
min_severity = "medium"

[sinks.udp]
type = "syslog"
address = "{udp}"
transport = "udp"
format = "cef"

[journal]
max_rows = 100000
"#,
        hec_url = hec_r.url(),
        es_url = es_r.url(),
        pg = support::pg_url(),
        udp = udp.local_addr().unwrap(),
    );
    let text = std::fs::read_to_string(&path).unwrap() + &extra;
    std::fs::write(&path, &text).unwrap();
    let token = hec_r.token().to_string();
    let mut config = Config::from_str_with_env(&text, &path, &|n| {
        (n == "E2E_HEC_TOKEN").then(|| token.clone())
    })
    .unwrap_or_else(|e| panic!("config: {e}"));
    for s in config.sources.values_mut() {
        let sebridge::config::SourceConfig::Poll(p) = s else {
            continue;
        };
        p.interval = Duration::from_millis(200);
    }
    for s in config.sinks.values_mut() {
        s.common_mut().batch_timeout = Duration::from_millis(50);
    }
    let topology = sebridge::topology::Topology::start(&config, None)
        .await
        .unwrap();
    tokio::time::timeout(
        Duration::from_secs(60),
        topology.wait_idle(Duration::from_millis(500)),
    )
    .await
    .expect("idle");
    let snap = topology.status.snapshot(topology.store.head());
    let report = topology.stop().await;
    let n = report.journal_events as usize;
    assert_eq!(n, 300);
    assert!(
        snap.sinks.iter().all(|s| s.healthy && s.backlog == 0),
        "{:?}",
        snap.sinks
    );
    assert_eq!(hec_r.stats().events as usize, n);
    assert_eq!(es_r.count("logs-cisco_secure_endpoint.event-default"), n);
    let pg_rows = table_ids(&format!("{schema}.events")).await.len();
    assert!(
        pg_rows > 0 && pg_rows < n,
        "min_severity filtered some: {pg_rows} of {n}"
    );
    hec_r.shutdown().await;
    es_r.shutdown().await;
    sim.shutdown().await;
    drop_schema(&schema).await;
}
