//! Bad input everywhere (issue 13, item 4): a clear error, and nothing lost.
//!
//! - a store file that is not a sebridge store (random bytes, another application's SQLite
//!   database, a newer sebridge's store, a truncated one): every command that opens it exits
//!   1 with one paragraph naming the file and what to do, and the file is left byte for byte;
//! - a file sink whose path cannot be created: the pipeline runs, the sink says why and
//!   retries, its events wait in the journal, and once the path is fixed it catches up with
//!   every event exactly once;
//! - a 10 MB event, by poll and by Event Stream: journaled and forwarded byte for byte, and
//!   the events after it flow; a stream body that is not UTF-8 is dead-lettered losslessly
//!   and acked;
//! - an event type not in the catalogue: journaled and forwarded, matched by no rule,
//!   without a warning;
//! - fields of another type than the API documents: per event, a forgiving read or a dead
//!   letter with the field named, and the good events of the same page flow — even after a
//!   run of bad items longer than a page, which used to stall the tenant for good.

use crate::common::{assert_exactly_once, env, event_at, now, wrapped_lines};
use crate::stream_common as sc;
use base64::Engine as _;
use sebridge::topology::Topology;
use serde_json::Value;
use simulator::{AmqpConfig, SimConfig};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(60);

fn sebridge() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sebridge"));
    c.env_remove("SEBRIDGE_MASTER_KEY")
        .env("SEBRIDGE_LOG", "warn");
    c
}

/// Runs a command to its end, killed after `limit`.
fn output(mut cmd: Command, limit: Duration) -> Output {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sebridge");
    let pid = child.id();
    let (done, wait) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if wait.recv_timeout(limit).is_err() {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
    });
    let out = child.wait_with_output().expect("wait");
    let _ = done.send(());
    let _ = watchdog.join();
    out
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A minimal config (one tenant on a closed port, a poll source, a file sink) whose store
/// is `store`.
fn write_config(dir: &Path, store: &Path) -> PathBuf {
    let text = format!(
        "[store]\npath = {store:?}\n\n[secrets]\nkey_file = {:?}\n\n\
         [tenants.tenant-1]\nbase_url = \"http://127.0.0.1:9\"\nclient_id = \"c\"\napi_key = \"k\"\n\n\
         [sources.poll]\ntype = \"poll\"\n\n[sinks.file]\ntype = \"file\"\npath = {:?}\n",
        dir.join("sebridge.key"),
        dir.join("events.jsonl")
    );
    let path = dir.join("sebridge.toml");
    std::fs::write(&path, text).expect("config written");
    path
}

/// A real sebridge store with `n` events, closed (its WAL folded into the file).
async fn sebridge_store(path: &Path, n: usize) {
    let store = sebridge::store::Store::open_sqlite(path)
        .await
        .expect("store opens");
    let events = crate::support::events(n, 1);
    for chunk in events.chunks(200) {
        store
            .append("tenant-1", "poll", chunk, None)
            .await
            .expect("append");
    }
    store.close().await;
}

fn sqlite(path: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).expect("sqlite opens")
}

/// Deterministic bytes that are not SQLite's.
fn noise(n: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusable_store_files_are_refused_clearly_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Each case: the file, and what the error must say about it.
    let mut cases: Vec<(&str, PathBuf, &str)> = Vec::new();

    let random = d.join("random.db");
    std::fs::write(&random, noise(64 * 1024)).unwrap();
    cases.push(("random bytes", random, "it is not a SQLite database"));

    let foreign = d.join("foreign.db");
    {
        let c = sqlite(&foreign);
        c.execute_batch(
            "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT);
             CREATE TABLE orders (id INTEGER PRIMARY KEY, customer INTEGER, total REAL);
             INSERT INTO customers VALUES (1, 'Ada'), (2, 'Grace');
             INSERT INTO orders VALUES (1, 1, 9.5);",
        )
        .unwrap();
    }
    cases.push((
        "another application's database",
        foreign,
        "it is a SQLite database of another application (its tables: customers, orders)",
    ));

    let newer = d.join("newer.db");
    sebridge_store(&newer, 50).await;
    sqlite(&newer)
        .execute(
            "INSERT INTO _sqlx_migrations (version, description, installed_on, success, checksum, execution_time)
             VALUES (99, 'from the future', '2030-01-01 00:00:00', 1, x'00', 1)",
            [],
        )
        .unwrap();
    cases.push((
        "a newer sebridge's store",
        newer,
        "it was written by a newer sebridge (schema version 99",
    ));

    let truncated = d.join("truncated.db");
    sebridge_store(&truncated, 2000).await;
    let len = std::fs::metadata(&truncated).unwrap().len();
    assert!(len > 1_000_000, "a journal of some size: {len}");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&truncated)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    cases.push(("a truncated store", truncated, "it is truncated"));

    let stub = d.join("stub.db");
    let mut head = b"SQLite format 3\0".to_vec();
    head.extend_from_slice(&[0u8; 30]);
    std::fs::write(&stub, head).unwrap();
    cases.push(("a store cut inside its header", stub, "it is truncated"));

    let commands: [&[&str]; 3] = [
        &["run", "--until-idle", "1s"],
        &["tail", "--tenant", "tenant-1"],
        &["tenants", "list"],
    ];
    for (what, file, expected) in &cases {
        let before = std::fs::read(file).unwrap();
        let cfg = write_config(d, file);
        for args in commands {
            let mut cmd = sebridge();
            cmd.args(args).arg("-c").arg(&cfg);
            let out = output(cmd, Duration::from_secs(30));
            let err = stderr(&out);
            let ctx = format!("{what}, `sebridge {}`: {err}", args.join(" "));
            assert_eq!(out.status.code(), Some(1), "{ctx}");
            assert!(!err.contains("panicked"), "{ctx}");
            let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
            assert_eq!(errors.len(), 1, "one paragraph: {ctx}");
            let line = errors[0];
            assert!(
                line.contains(&format!(
                    "{} cannot be used as the sebridge store",
                    file.display()
                )),
                "names the file: {ctx}"
            );
            assert!(line.contains(expected), "says what is wrong: {ctx}");
            assert!(line.contains("sebridge has not modified it"), "{ctx}");
            assert!(
                line.contains("move it away")
                    || line.contains("move this file away")
                    || line.contains("Run the sebridge release"),
                "says what to do: {ctx}"
            );
            assert!(
                std::fs::read(file).unwrap() == before,
                "{what}: the file was modified by `sebridge {}`",
                args.join(" ")
            );
        }
        for side in ["-wal", "-shm", "-journal"] {
            let mut p = file.as_os_str().to_os_string();
            p.push(side);
            assert!(!Path::new(&p).exists(), "{what}: {side} file left behind");
        }
    }

    // The advice works: with the file moved away, the same config gets a new store.
    let (_, random, _) = &cases[0];
    std::fs::rename(random, d.join("random.db.bad")).unwrap();
    let mut cmd = sebridge();
    cmd.args(["tenants", "list", "-c"])
        .arg(write_config(d, random));
    let out = output(cmd, Duration::from_secs(30));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("tenant-1"));
}

/// Journal rows and a consumer's committed position, read beside a running process.
fn journal_rows_and_position(store: &Path, consumer: &str) -> (i64, Option<i64>) {
    // Not created yet while the process starts.
    let Ok(c) =
        rusqlite::Connection::open_with_flags(store, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return (0, None);
    };
    c.busy_timeout(Duration::from_secs(5)).unwrap();
    let rows = c
        .query_row("SELECT COUNT(*) FROM journal", [], |r| r.get(0))
        .unwrap_or(0);
    let pos = c
        .query_row(
            "SELECT seq FROM positions WHERE consumer = ?1",
            [consumer],
            |r| r.get(0),
        )
        .ok();
    (rows, pos)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_sink_that_cannot_open_its_path_retries_and_catches_up_losing_nothing() {
    let e = env(
        SimConfig {
            tenants: 1,
            rate: 0.0,
            history: 200,
            seed: 1304,
            ..SimConfig::default()
        },
        100,
    )
    .await;
    let d = e.dir.path();
    // A regular file where the sink's directory should be: fails for root too.
    let blocker = d.join("out");
    std::fs::write(&blocker, "not a directory").unwrap();
    let out = blocker.join("events.jsonl");
    let cfg = d.join("sebridge.toml");
    let original = crate::common::sink_path(&e.config);
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        &format!("path = {:?}", original.display().to_string()),
        &format!(
            "path = {:?}\nwrap = true\nretry_initial = \"200ms\"\nretry_max = \"1s\"",
            out.display().to_string()
        ),
    );
    assert!(text.contains("retry_max"), "{text}");
    std::fs::write(&cfg, text).unwrap();
    let log = d.join("sebridge.log");
    let mut child = sebridge()
        .args(["run", "-c"])
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let store = d.join("sebridge.db");
    let read_log = || std::fs::read_to_string(&log).unwrap_or_default();
    let start = Instant::now();
    // Ingestion carries on, and the sink keeps failing (and saying so) without moving.
    while !(journal_rows_and_position(&store, "file").0 == 200 && read_log().contains("failures=3"))
    {
        assert!(start.elapsed() < LIMIT, "log so far:\n{}", read_log());
        assert!(child.try_wait().unwrap().is_none(), "{}", read_log());
        std::thread::sleep(Duration::from_millis(100));
    }
    e.sim.generate_events("tenant-1", 50, None).unwrap();
    let start = Instant::now();
    while journal_rows_and_position(&store, "file").0 < 250 {
        assert!(start.elapsed() < LIMIT, "{}", read_log());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "the pipeline keeps running"
    );
    let (_, position) = journal_rows_and_position(&store, "file");
    assert!(
        position.unwrap_or(0) == 0,
        "the sink's position did not move: {position:?}"
    );
    let logged = read_log();
    let line = logged
        .lines()
        .find(|l| l.contains("sink cannot open its output"))
        .unwrap_or_else(|| panic!("no clear log line:\n{logged}"));
    assert!(line.contains("sink=file"), "names the sink: {line}");
    assert!(
        line.contains(&format!("{} is a file, not a directory", blocker.display()))
            && line.contains(&out.display().to_string()),
        "names the path and the problem: {line}"
    );
    assert!(
        line.contains("nothing is lost"),
        "says the events wait: {line}"
    );
    assert!(!out.exists());

    // Fixed: the sink opens at its next retry and delivers everything, once.
    std::fs::remove_file(&blocker).unwrap();
    std::fs::create_dir(&blocker).unwrap();
    let start = Instant::now();
    while wrapped_lines(&out).len() < 250 {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{} lines; log:\n{}",
            wrapped_lines(&out).len(),
            read_log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    assert!(child.wait().unwrap().success(), "{}", read_log());
    assert_exactly_once(&e.sim, &out, &["tenant-1"]);
    assert_eq!(journal_rows_and_position(&store, "file").1, Some(250));
}

/// A real event with a string field of `mb` megabytes.
fn huge_event(id: u64, ts: i64, mb: usize) -> String {
    let mut v = event_at(id, ts, 0);
    v["padding"] = Value::from("x".repeat(mb * 1024 * 1024));
    v.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_10_mb_event_is_polled_journaled_and_forwarded_and_the_next_ones_flow() {
    let e = env(
        SimConfig {
            tenants: 1,
            rate: 0.0,
            history: 20,
            seed: 1305,
            ..SimConfig::default()
        },
        100,
    )
    .await;
    let t = now();
    let mut raw = vec![huge_event(9_000_000_001, t - 30, 10)];
    for i in 0..5 {
        raw.push(event_at(9_000_000_100 + i, t - 20 + i as i64, 0).to_string());
    }
    e.sim.insert_raw_events("tenant-1", raw).unwrap();
    let topology = Topology::start(&e.config, None).await.unwrap();
    tokio::time::timeout(LIMIT, topology.wait_idle(Duration::from_secs(1)))
        .await
        .expect("idle");
    let letters = topology.store.dead_letters(10).await.unwrap();
    let snap = topology.status.snapshot(topology.store.head());
    topology.stop().await;
    assert!(letters.is_empty(), "{letters:?}");
    assert!(
        snap.tenants.iter().all(|t| t.errors == 0),
        "{:?}",
        snap.tenants
    );
    let path = crate::common::sink_path(&e.config);
    assert_exactly_once(&e.sim, &path, &["tenant-1"]);
    let lines = wrapped_lines(&path);
    assert_eq!(lines.len(), 26);
    assert!(lines.iter().any(|(_, raw)| raw.len() > 10 * 1024 * 1024));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_a_10_mb_event_flows_and_a_body_that_is_not_utf8_is_kept_losslessly() {
    let url = sc::amqp_url();
    let sim = sc::sim(1, AmqpConfig::local(url.clone())).await;
    let dir = tempfile::tempdir().unwrap();
    let config = sc::config(&sim, dir.path(), sc::STREAM_SOURCE);
    let stream = sc::create_stream(&config, "tenant-1", "siem").await;
    let queue = stream.credentials.queue_name.clone();
    sim.generate_events("tenant-1", 20, None).unwrap();
    assert!(sim.flush_streams(LIMIT).await);
    let bad: Vec<u8> = [
        &b"{\"id\":77,\"event_type_id\":1090519054,\"timestamp\":1,\"x\":\""[..],
        &[0xff, 0xfe, 0x00, 0xc3, 0x28],
        &b"\"}"[..],
    ]
    .concat();
    sc::publish_raw(&url, &queue, std::slice::from_ref(&bad)).await;
    sim.insert_raw_events("tenant-1", vec![huge_event(8_000_000_001, now(), 10)])
        .unwrap();
    sim.generate_events("tenant-1", 20, None).unwrap();
    assert!(sim.flush_streams(LIMIT).await);

    let mut cmd = sebridge();
    cmd.args(["run", "--until-idle", "2s", "-c"])
        .arg(dir.path().join("sebridge.toml"));
    let out = output(cmd, LIMIT);
    let log = stderr(&out);
    assert!(out.status.success(), "{log}");
    assert!(!log.contains("panicked"), "{log}");
    let sink = sc::sink_path(&config);
    sc::assert_exactly_once(&sim, &sink, &["tenant-1"]);
    assert_eq!(sc::line_count(&sink), 41);
    assert!(sc::lines(&sink)
        .iter()
        .any(|(_, raw)| raw.len() > 10 * 1024 * 1024));
    // Acked once stored: nothing waits in the queue.
    assert_eq!(sc::queue_depth(&url, &queue).await, 0);
    let line = log
        .lines()
        .find(|l| l.contains("a delivery is not an event"))
        .unwrap_or_else(|| panic!("no log line for the dead letter:\n{log}"));
    assert!(line.contains("not UTF-8"), "{line}");
    assert_eq!(
        log.matches("a delivery is not an event").count(),
        1,
        "{log}"
    );

    let store = sebridge::topology::open_store(&config).await.unwrap();
    let letters = store.dead_letters(10).await.unwrap();
    store.close().await;
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert!(
        letters[0].reason.contains("not UTF-8") && letters[0].reason.contains("base64"),
        "{}",
        letters[0].reason
    );
    let kept = base64::engine::general_purpose::STANDARD
        .decode(letters[0].raw.as_bytes())
        .expect("raw is base64");
    assert_eq!(kept, bad, "the body is kept byte for byte");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_event_type_is_journaled_and_forwarded_quietly_and_matches_no_rule() {
    let e = env(
        SimConfig {
            tenants: 1,
            rate: 0.0,
            history: 30,
            seed: 1306,
            ..SimConfig::default()
        },
        100,
    )
    .await;
    let t = now();
    let unknown: Vec<String> = (0..3)
        .map(|i| {
            let mut v = event_at(7_000_000_000 + i, t - 50 + i as i64, 0);
            v["event_type_id"] = Value::from(4_040_404_040u64);
            v["event_type"] = Value::from("Something Cisco Added Yesterday");
            v["severity"] = Value::from("Critical");
            v.to_string()
        })
        .collect();
    e.sim
        .insert_raw_events("tenant-1", unknown.clone())
        .unwrap();
    let cfg = e.dir.path().join("sebridge.toml");
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("type = \"file\"", "type = \"file\"\nwrap = true");
    std::fs::write(&cfg, text).unwrap();
    let mut cmd = sebridge();
    cmd.args(["run", "--until-idle", "1s", "-c"])
        .arg(e.dir.path().join("sebridge.toml"));
    let out = output(cmd, LIMIT);
    let log = stderr(&out);
    assert!(out.status.success(), "{log}");
    // No warning, no error: an unknown type is not a problem.
    assert!(
        !log.contains("WARN") && !log.contains("ERROR"),
        "log spam:\n{log}"
    );
    let path = crate::common::sink_path(&e.config);
    assert_exactly_once(&e.sim, &path, &["tenant-1"]);
    let lines = wrapped_lines(&path);
    assert_eq!(lines.len(), 33);
    for u in &unknown {
        assert!(lines.iter().any(|(_, raw)| raw == u), "forwarded as sent");
    }

    // The incident engine (default rules: the high-priority list) matches none of them, though
    // they are Critical; a known Threat Detected event of the same host does match.
    let dir = tempfile::tempdir().unwrap();
    let config = sebridge::config::Config::from_str_with_env(
        INCIDENTS_CONFIG,
        &dir.path().join("sebridge.toml"),
        &|_| None,
    )
    .expect("config");
    let store = sebridge::store::Store::open_sqlite(&dir.path().join("j.db"))
        .await
        .unwrap();
    let tenants = sebridge::tenants::resolve_all(&config, &store)
        .await
        .unwrap();
    let svc = sebridge::incidents::IncidentService::new(
        config.incidents.as_ref().unwrap(),
        &store,
        &tenants,
    )
    .unwrap();
    let events: Vec<secure_endpoint::Event> = unknown
        .iter()
        .map(|u| secure_endpoint::Event::from_json(u).unwrap())
        .collect();
    store.append("acme", "poll", &events, None).await.unwrap();
    let batch = store.read_after(0, 100).await.unwrap();
    assert_eq!(batch.len(), 3);
    assert_eq!(svc.process_batch(&batch).await.unwrap().matched, 0);
    let known =
        secure_endpoint::Event::from_json(&event_at(7_100_000_000, t, 0).to_string()).unwrap();
    store.append("acme", "poll", &[known], None).await.unwrap();
    let batch = store.read_after(batch[2].seq, 100).await.unwrap();
    assert_eq!(svc.process_batch(&batch).await.unwrap().matched, 1);
    store.close().await;
}

const INCIDENTS_CONFIG: &str = r#"
[tenants.acme]
base_url = "http://127.0.0.1:9"
client_id = "a"
api_key = "b"

[sources.poll]
type = "poll"

[sinks.out]
type = "stdout"

[incidents]

[incidents.servicenow]
instance_url = "http://127.0.0.1:9"
username = "u"
password = "p"

[incidents.xdr]
base_url = "http://127.0.0.1:9"
client_id = "x"
client_password = "y"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retyped_fields_are_read_or_dead_lettered_per_event_and_never_stall_the_tenant() {
    // Pages of 5, and among 40 good events (one per 5 s) a run of 7 items that are not events
    // — longer than a page — plus events whose routing fields changed type.
    let e = env(
        SimConfig {
            tenants: 1,
            rate: 0.0,
            history: 0,
            seed: 1307,
            ..SimConfig::default()
        },
        5,
    )
    .await;
    let t0 = now() - 600;
    let mut good: Vec<String> = Vec::new();
    let mut bad: Vec<(String, &str)> = Vec::new();
    for i in 0..40u64 {
        let ts = t0 + 5 * i as i64;
        let mut v = event_at(6_000_000_000 + i, ts, 0);
        match i {
            // Forgiving reads: the time as a string of digits, the computer as an array.
            3 => v["timestamp"] = Value::from(ts.to_string()),
            11 => {
                let c = v["computer"].take();
                v["computer"] = Value::Array(vec![c]);
            }
            17 => v["severity"] = Value::from(4),
            _ => {}
        }
        good.push(v.to_string());
        if i == 20 {
            for k in 0..7u64 {
                let mut b = event_at(6_100_000_000 + k, ts + 1 + k as i64 % 3, 0);
                let reason = if k % 2 == 0 {
                    b["event_type_id"] = Value::from("1090519054");
                    "event field `event_type_id` is a string (\"1090519054\"), not an unsigned integer"
                } else {
                    b["id"] = Value::from(6.1e9 + k as f64 + 0.5);
                    "is not an unsigned 64-bit integer"
                };
                bad.push((b.to_string(), reason));
            }
        }
    }
    let mut all = good.clone();
    all.extend(bad.iter().map(|(b, _)| b.clone()));
    e.sim.insert_raw_events("tenant-1", all).unwrap();

    let topology = Topology::start(&e.config, None).await.unwrap();
    let idle = tokio::time::timeout(
        Duration::from_secs(40),
        topology.wait_idle(Duration::from_secs(1)),
    )
    .await;
    let snap = topology.status.snapshot(topology.store.head());
    let letters = topology.store.dead_letters(100).await.unwrap();
    let journaled = topology.store.count().await.unwrap();
    topology.stop().await;
    assert!(
        idle.is_ok(),
        "the tenant never caught up: {:?}",
        snap.tenants
    );
    let tenant = &snap.tenants[0];
    assert_eq!(
        (tenant.errors, &tenant.last_error),
        (0, &None),
        "no poll failed: {tenant:?}"
    );
    assert_eq!(journaled, 40, "every good event journaled");

    // Every good event in the sink once, byte for byte, including the retyped ones.
    let path = crate::common::sink_path(&e.config);
    let mut got: BTreeMap<String, usize> = BTreeMap::new();
    for (_, raw) in wrapped_lines(&path) {
        *got.entry(raw).or_default() += 1;
    }
    for g in &good {
        assert_eq!(got.get(g), Some(&1), "missing or repeated: {g:.120}");
    }
    assert_eq!(got.len(), good.len(), "nothing else in the sink");

    // Each bad item kept once (though the overlap re-read it), with its reason.
    assert_eq!(letters.len(), bad.len(), "{letters:#?}");
    for (raw, reason) in &bad {
        let l = letters
            .iter()
            .find(|l| &*l.raw == raw.as_str())
            .unwrap_or_else(|| panic!("not dead-lettered: {raw:.120}"));
        assert!(l.reason.contains(reason), "{} vs {reason}", l.reason);
        assert_eq!(l.tenant, "tenant-1");
    }
}
