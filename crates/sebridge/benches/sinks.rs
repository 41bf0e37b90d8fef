//! `cargo bench -p sebridge --bench sinks`: 1,000,000 events (override with
//! SEBRIDGE_BENCH_EVENTS) from a SQLite journal into each sink on loopback — file, syslog
//! TCP to a real rsyslogd, Splunk HEC, Elasticsearch and Microsoft Sentinel to the simulator's
//! receivers (each in its own process), PostgreSQL — each beside a baseline measured in the
//! same run:
//!
//! - file: the same journal reads and the same lines through a plain `BufWriter`, one fsync
//!   at the end (no per-batch fsync, no position commits);
//! - syslog: the same frames written by a bare TCP writer to the same rsyslogd;
//! - HEC / Elasticsearch / Sentinel (`sinks/sentinel.rs`): the same request bodies (same
//!   rendering, gzip, client) POSTed in a plain loop, without the runner;
//! - PostgreSQL: `COPY … FROM STDIN` of the same rows into a table without keys or indexes
//!   (the floor cost of getting the bytes into PostgreSQL).
//!
//! Every case runs in a fresh child process, so its peak RSS (VmHWM) is its own. Prints a
//! Markdown table (events/s, peak RSS, ratio to the baseline).

mod common;
#[path = "sinks/sentinel.rs"]
mod sentinel;
use common::fixture_events;
use sebridge::config::{
    sink_defaults, ElasticAuth, ElasticsearchSinkConfig, HecSinkConfig, MessageFormat,
    PostgresSinkConfig, Secret, SinkCommon, SyslogFraming, SyslogProtocol, SyslogSinkConfig,
    SyslogTransport,
};
use sebridge::sinks::elasticsearch::ElasticsearchSink;
use sebridge::sinks::file::FileSink;
use sebridge::sinks::postgres::PostgresSink;
use sebridge::sinks::splunk_hec::HecSink;
use sebridge::sinks::syslog::{Formatter, SyslogSink};
use sebridge::sinks::{render_line, run_sink, Sink, SinkCtx, SinkOptions};
use sebridge::status::StatusBoard;
use sebridge::store::Store;
use secure_endpoint::Event;
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

const BATCH: usize = 1000;
/// The Elasticsearch sink's default batch (its baseline POSTs bodies of the same size).
const ES_BATCH: usize = sebridge::config::sink_defaults::ES_BATCHES.0;
const DS_SINK: &str = "logs-cisco_secure_endpoint.event-bench";
const DS_BASE: &str = "logs-cisco_secure_endpoint.event-baseline";
const DS_SINK_1000: &str = "logs-cisco_secure_endpoint.event-bench1000";
const ES_KEY: &str = "c2VicmlkZ2U6dGVzdA==";
const HEC_TOKEN: &str = "00000000-0000-4000-8000-000000000000";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--receiver") {
        return receiver(&args[i + 1]);
    }
    if let Some(i) = args.iter().position(|a| a == "--child") {
        return child(&args[i + 1..]);
    }
    orchestrate();
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

// ---- receivers (own process) --------------------------------------------------------------

fn receiver(kind: &str) {
    if kind == "sentinel" {
        return sentinel::receiver();
    }
    rt().block_on(async {
        use simulator::receivers::{elastic, hec};
        let (url, _hec, _es) = match kind {
            "hec" => {
                let r = hec::start(hec::HecConfig {
                    token: HEC_TOKEN.into(),
                    keep_events: false,
                    ..Default::default()
                })
                .await
                .expect("hec receiver");
                (r.url(), Some(r), None)
            }
            _ => {
                let r = elastic::start(elastic::ElasticConfig {
                    api_key: Some(ES_KEY.into()),
                    keep_docs: false,
                    ..Default::default()
                })
                .await
                .expect("es receiver");
                (r.url(), None, Some(r))
            }
        };
        println!("URL {url}");
        let _ = std::io::stdout().flush();
        // Runs until the orchestrator closes our stdin.
        let _ = tokio::task::spawn_blocking(|| {
            let mut s = String::new();
            while std::io::stdin()
                .read_line(&mut s)
                .map(|n| n > 0)
                .unwrap_or(false)
            {}
        })
        .await;
    });
}

// ---- one case (own process) ---------------------------------------------------------------

fn child(args: &[String]) {
    let case = args[0].clone();
    let db = PathBuf::from(&args[1]);
    let target = args.get(2).cloned().unwrap_or_default();
    let out_dir = PathBuf::from(args.get(3).cloned().unwrap_or_default());
    let result = rt().block_on(async move {
        let store = Store::open_sqlite(&db).await.expect("journal");
        let n = store.count().await.expect("count") as u64;
        let start = Instant::now();
        let extra = match case.as_str() {
            "file" | "file-5000" => {
                let batch = if case == "file" { BATCH } else { 5000 };
                let sink = FileSink::new(out_dir.join(format!("{case}.jsonl")), false);
                run(&case, sink, batch, &store).await;
                String::new()
            }
            "file-baseline" => {
                let f = std::fs::File::create(out_dir.join("baseline.jsonl")).expect("file");
                let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
                let mut line = String::new();
                each_batch(&store, |batch| {
                    line.clear();
                    for e in batch {
                        render_line(e, false, &mut line);
                    }
                    w.write_all(line.as_bytes()).expect("write");
                })
                .await;
                let f = w.into_inner().expect("flush");
                f.sync_all().expect("fsync");
                String::new()
            }
            "syslog" => {
                let sink = SyslogSink::new(syslog_config(&target), ctx(&case, &store)).expect("sink");
                run(&case, sink, BATCH, &store).await;
                String::new()
            }
            "syslog-baseline" => {
                let fmt = Formatter::from_config(&syslog_config(&target));
                let tcp = tokio::net::TcpStream::connect(&target).await.expect("connect");
                let mut w = tokio::io::BufWriter::with_capacity(256 * 1024, tcp);
                let mut frames = Vec::new();
                let mut msg = String::new();
                let mut pos = 0;
                while let Some(batch) = next_batch(&store, &mut pos).await {
                    frames.clear();
                    for e in &batch {
                        msg.clear();
                        fmt.message(e, &mut msg);
                        frames.extend_from_slice(msg.len().to_string().as_bytes());
                        frames.push(b' ');
                        frames.extend_from_slice(msg.as_bytes());
                    }
                    w.write_all(&frames).await.expect("write");
                }
                w.flush().await.expect("flush");
                String::new()
            }
            "hec" => {
                let sink = HecSink::new(hec_config(&target), ctx(&case, &store)).expect("sink");
                run(&case, sink, BATCH, &store).await;
                String::new()
            }
            "hec-baseline" => {
                let sink = HecSink::new(hec_config(&target), ctx(&case, &store)).expect("sink");
                let http = reqwest::Client::new();
                let url = format!("{target}/services/collector/event");
                let mut pos = 0;
                while let Some(batch) = next_batch(&store, &mut pos).await {
                    let mut body = String::new();
                    for e in &batch {
                        sink.render(e, &mut body);
                    }
                    let (_, z) = sebridge::sinks::util::http::gzip_off_thread(body).await.expect("gzip");
                    let r = http
                        .post(&url)
                        .header("Authorization", format!("Splunk {HEC_TOKEN}"))
                        .header("Content-Encoding", "gzip")
                        .body(z)
                        .send()
                        .await
                        .expect("post");
                    assert!(r.status().is_success());
                }
                String::new()
            }
            "sentinel" | "sentinel-baseline" => sentinel::case(&case, &target, &store).await,
            "es" | "es-1000" => {
                let (batch, ds) = if case == "es" {
                    (ES_BATCH, DS_SINK)
                } else {
                    (BATCH, DS_SINK_1000)
                };
                let mut cfg = es_config(&target, ds);
                cfg.common.batch_size = batch;
                let sink = ElasticsearchSink::new(cfg, ctx(&case, &store)).expect("sink");
                run(&case, sink, batch, &store).await;
                String::new()
            }
            "es-baseline" => {
                let http = reqwest::Client::new();
                let url = format!("{target}/{DS_BASE}/_bulk?pipeline=_none");
                let mut pos = 0;
                while let Some(batch) = next_batch_of(&store, &mut pos, ES_BATCH).await {
                    let mut body = Vec::new();
                    for e in &batch {
                        bulk_lines(e, DS_BASE, &mut body);
                    }
                    let (_, z) = sebridge::sinks::util::http::gzip_off_thread(body).await.expect("gzip");
                    let r = http
                        .post(&url)
                        .header("Authorization", format!("ApiKey {ES_KEY}"))
                        .header("Content-Type", "application/x-ndjson")
                        .header("Content-Encoding", "gzip")
                        .body(z)
                        .send()
                        .await
                        .expect("post");
                    assert!(r.status().is_success());
                }
                String::new()
            }
            "postgres" => {
                let cfg = PostgresSinkConfig {
                    common: common(BATCH),
                    url: Secret(pg_url().into()),
                    table: format!("{target}.events"),
                    create_table: true,
                };
                run(&case, PostgresSink::new(cfg, ctx(&case, &store)), BATCH, &store).await;
                String::new()
            }
            "postgres-baseline" => {
                let pool = sqlx::PgPool::connect(&pg_url()).await.expect("pg");
                let mut conn = pool.acquire().await.expect("conn");
                let mut copy = conn
                    .copy_in_raw(&format!(
                        "COPY {target}.baseline (tenant, event_id, event_type_id, event_time, journal_seq, received_at, raw) FROM STDIN"
                    ))
                    .await
                    .expect("copy");
                let mut buf = String::new();
                let mut pos = 0;
                while let Some(batch) = next_batch(&store, &mut pos).await {
                    buf.clear();
                    for e in &batch {
                        buf.push_str(&format!(
                            "{}\t{}\t{}\t{}\t{}\t{}\t",
                            e.tenant,
                            e.event_id,
                            e.event_type_id,
                            e.event_time,
                            e.seq,
                            e.received_at
                        ));
                        common::push_copy_text(&mut buf, &e.raw);
                        buf.push('\n');
                    }
                    copy.send(buf.as_bytes()).await.expect("copy data");
                }
                copy.finish().await.expect("copy finish");
                String::new()
            }
            // Cost breakdowns (SEBRIDGE_BENCH_ONLY=parts): each stage alone, in one process.
            "parts" => {
                let mut t = Instant::now();
                let mut out = Vec::new();
                let mut n_read = 0usize;
                each_batch(&store, |b| n_read += b.len()).await;
                out.push(format!("journal read {:.0}/s", n_read as f64 / t.elapsed().as_secs_f64()));
                let mut all = Vec::new();
                each_batch(&store, |b| all.extend_from_slice(b)).await;
                let all = &all[..all.len().min(200_000)];
                let m = all.len() as f64;
                let fmt = Formatter::from_config(&syslog_config("x:1"));
                let mut sbuf = String::new();
                t = Instant::now();
                for e in all {
                    sbuf.clear();
                    fmt.message(e, &mut sbuf);
                }
                out.push(format!("syslog+CEF render {:.0}/s", m / t.elapsed().as_secs_f64()));
                t = Instant::now();
                for e in all {
                    let v: Value = serde_json::from_str(&e.raw).expect("json");
                    std::hint::black_box(v);
                }
                out.push(format!("JSON parse to Value {:.0}/s", m / t.elapsed().as_secs_f64()));
                // Each mapping stage drops its output per event: collecting 200,000 trees
                // would measure memory growth, not mapping.
                t = Instant::now();
                for e in all {
                    std::hint::black_box(sebridge::sinks::elasticsearch::ecs::to_ecs(&e.raw, &e.tenant, DS_SINK).expect("ecs"));
                }
                out.push(format!("ECS map to a Value (incl. parse) {:.0}/s", m / t.elapsed().as_secs_f64()));
                t = Instant::now();
                for e in all {
                    std::hint::black_box(sebridge::sinks::elasticsearch::ecs::to_ecs(&e.raw, &e.tenant, DS_SINK).expect("ecs").to_string());
                }
                out.push(format!("ECS map to a Value + to_string {:.0}/s", m / t.elapsed().as_secs_f64()));
                let mut line = Vec::new();
                t = Instant::now();
                for e in all {
                    line.clear();
                    assert!(sebridge::sinks::elasticsearch::ecs::write_ecs(&e.raw, &e.tenant, DS_SINK, &mut line));
                    std::hint::black_box(&line);
                }
                out.push(format!("ECS write_ecs into a buffer (the sink's path) {:.0}/s", m / t.elapsed().as_secs_f64()));
                // gzip per request body of BATCH events, as the sinks do.
                let (mut secs, mut raw_len, mut z_len) = (0.0, 0usize, 0usize);
                let mut body = Vec::new();
                for chunk in all.chunks(BATCH) {
                    body.clear();
                    for e in chunk {
                        bulk_lines(e, DS_SINK, &mut body);
                    }
                    t = Instant::now();
                    z_len += gzip(&body).len();
                    secs += t.elapsed().as_secs_f64();
                    raw_len += body.len();
                }
                out.push(format!("gzip of ES bulk bodies {:.0}/s ({:.1}x smaller)", m / secs, raw_len as f64 / z_len as f64));
                let hec = HecSink::new(hec_config("http://x:1"), ctx("parts", &store)).expect("sink");
                t = Instant::now();
                for e in all {
                    sbuf.clear();
                    hec.render(e, &mut sbuf);
                }
                out.push(format!("HEC render {:.0}/s", m / t.elapsed().as_secs_f64()));
                let (mut secs, mut raw_len, mut z_len) = (0.0, 0usize, 0usize);
                for chunk in all.chunks(BATCH) {
                    sbuf.clear();
                    for e in chunk {
                        hec.render(e, &mut sbuf);
                    }
                    t = Instant::now();
                    z_len += gzip(sbuf.as_bytes()).len();
                    secs += t.elapsed().as_secs_f64();
                    raw_len += sbuf.len();
                }
                out.push(format!("gzip of HEC bodies {:.0}/s ({:.1}x smaller)", m / secs, raw_len as f64 / z_len as f64));
                out.join("; ")
            }
            other => panic!("unknown case {other}"),
        };
        let secs = start.elapsed().as_secs_f64();
        serde_json::json!({"case": case, "events": n, "secs": secs, "rss_kb": peak_rss_kb(), "extra": extra})
    });
    println!("RESULT {result}");
}

fn ctx(name: &str, store: &Store) -> SinkCtx {
    SinkCtx {
        name: name.into(),
        store: store.clone(),
        status: StatusBoard::default(),
    }
}

fn common(batch: usize) -> SinkCommon {
    SinkCommon {
        batch_size: batch,
        batch_timeout: Duration::ZERO,
        retry_initial: Duration::from_millis(100),
        retry_max: Duration::from_secs(2),
        filter: Default::default(),
    }
}

/// The `_bulk` lines of one event, as the sink writes them.
fn bulk_lines(e: &sebridge::store::JournalEntry, ds: &str, body: &mut Vec<u8>) {
    body.extend_from_slice(b"{\"create\":{\"_id\":");
    serde_json::to_writer(&mut *body, &ElasticsearchSink::doc_id(e)).expect("id");
    body.extend_from_slice(b"}}\n");
    assert!(
        sebridge::sinks::elasticsearch::ecs::write_ecs(&e.raw, &e.tenant, ds, body),
        "ecs"
    );
    body.push(b'\n');
}

fn gzip(b: &[u8]) -> Vec<u8> {
    sebridge::sinks::util::http::gzip(b).expect("gzip")
}

fn pg_url() -> String {
    std::env::var("SEBRIDGE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

fn syslog_config(addr: &str) -> SyslogSinkConfig {
    SyslogSinkConfig {
        common: common(BATCH),
        address: addr.into(),
        transport: SyslogTransport::Tcp,
        framing: SyslogFraming::OctetCounting,
        protocol: SyslogProtocol::Rfc5424,
        format: MessageFormat::Cef,
        facility: 16,
        app_name: "sebridge".into(),
        hostname: Some("bench".into()),
        ca_file: None,
        tls_server_name: None,
        leef_delimiter: '^',
        wrap: false,
        connect_timeout: sink_defaults::CONNECT_TIMEOUT,
    }
}

fn hec_config(url: &str) -> HecSinkConfig {
    HecSinkConfig {
        common: common(BATCH),
        url: url.parse().expect("url"),
        token: Secret(HEC_TOKEN.to_string().into()),
        index: None,
        source: None,
        sourcetype: "cisco:amp:event".into(),
        host: None,
        gzip: true,
        ack: false,
        ack_timeout: Duration::from_secs(30),
        request_timeout: Duration::from_secs(30),
        ca_file: None,
        format: Default::default(),
    }
}

fn es_config(url: &str, ds: &str) -> ElasticsearchSinkConfig {
    ElasticsearchSinkConfig {
        common: common(BATCH),
        url: url.parse().expect("url"),
        auth: ElasticAuth::ApiKey(Secret(ES_KEY.to_string().into())),
        data_stream: ds.into(),
        pipeline: Some("_none".into()),
        gzip: true,
        request_timeout: Duration::from_secs(30),
        ca_file: None,
    }
}

/// Runs a sink through the real runner until it has committed the whole journal.
async fn run<S: Sink>(name: &str, sink: S, batch: usize, store: &Store) {
    let head = store.head_from_db().await.expect("head");
    let status = StatusBoard::default();
    let token = CancellationToken::new();
    let opts = SinkOptions::with_batch_size(batch);
    let task = tokio::spawn(run_sink(
        name.to_string(),
        sink,
        opts,
        store.clone(),
        status.clone(),
        token.clone(),
    ));
    loop {
        let snap = status.snapshot(head);
        if let Some(s) = snap.sinks.first() {
            if s.position >= head {
                break;
            }
            if s.consecutive_failures > 5 {
                panic!("sink {name} failing: {:?}", s.last_error);
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    token.cancel();
    let _ = task.await;
}

/// The next batch of BATCH rows after `pos` (None at the end).
async fn next_batch(store: &Store, pos: &mut i64) -> Option<Vec<sebridge::store::JournalEntry>> {
    next_batch_of(store, pos, BATCH).await
}

/// The next batch of `n` rows after `pos` (None at the end).
async fn next_batch_of(
    store: &Store,
    pos: &mut i64,
    n: usize,
) -> Option<Vec<sebridge::store::JournalEntry>> {
    let b = store.read_after(*pos, n).await.expect("read");
    *pos = b.last()?.seq;
    Some(b)
}

/// Reads the journal in batches of BATCH, as the runner does.
async fn each_batch(store: &Store, mut f: impl FnMut(&[sebridge::store::JournalEntry])) {
    let mut pos = 0;
    loop {
        let b = store.read_after(pos, BATCH).await.expect("read");
        let Some(last) = b.last() else { break };
        pos = last.seq;
        f(&b);
    }
}

// ---- orchestration ------------------------------------------------------------------------

fn spawn_child(args: &[&str]) -> Value {
    let exe = std::env::current_exe().expect("exe");
    let out = Command::new(exe)
        .arg("--child")
        .args(args)
        .stderr(Stdio::inherit())
        .output()
        .expect("child runs");
    assert!(out.status.success(), "case {args:?} failed");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .unwrap_or_else(|| panic!("no result from {args:?}: {text}"));
    serde_json::from_str(line).expect("result JSON")
}

struct Receiver {
    child: std::process::Child,
    url: String,
}

impl Receiver {
    fn start(kind: &str) -> Receiver {
        let exe = std::env::current_exe().expect("exe");
        let mut child = Command::new(exe)
            .args(["--receiver", kind])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("receiver starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("receiver URL");
        let url = line
            .trim()
            .strip_prefix("URL ")
            .expect("URL line")
            .to_string();
        Receiver { child, url }
    }

    fn stats(&self) -> Value {
        let out = Command::new("curl")
            .args(["-s", &format!("{}/_receiver/stats", self.url)])
            .output();
        out.ok()
            .and_then(|o| serde_json::from_slice(&o.stdout).ok())
            .unwrap_or(Value::Null)
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

struct Rsyslog {
    child: std::process::Child,
    port: u16,
    log: PathBuf,
}

impl Rsyslog {
    fn start(dir: &Path) -> Rsyslog {
        let d = dir.display();
        let conf = format!(
            r#"global(maxMessageSize="64k" workDirectory="{d}")
module(load="imtcp")
input(type="imtcp" address="127.0.0.1" port="0" listenPortFileName="{d}/tcp.port" ruleset="capture")
template(name="raw" type="string" string="%rawmsg%\n")
ruleset(name="capture") {{ action(type="omfile" file="{d}/raw.log" template="raw") }}
"#
        );
        std::fs::write(dir.join("rsyslog.conf"), conf).expect("conf");
        let child = Command::new("/usr/sbin/rsyslogd")
            .args(["-n", "-C", "-f"])
            .arg(dir.join("rsyslog.conf"))
            .arg("-i")
            .arg(dir.join("rsyslog.pid"))
            .spawn()
            .expect("rsyslogd (apt-get install rsyslog) starts");
        let start = Instant::now();
        let port = loop {
            if let Some(p) = std::fs::read_to_string(dir.join("tcp.port"))
                .ok()
                .and_then(|s| s.trim().parse().ok())
            {
                break p;
            }
            assert!(
                start.elapsed() < Duration::from_secs(15),
                "rsyslogd did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        Rsyslog {
            child,
            port,
            log: dir.join("raw.log"),
        }
    }

    /// Waits until rsyslog has written `n` lines; returns the count.
    fn wait_lines(&self, n: u64) -> u64 {
        let start = Instant::now();
        loop {
            let lines = std::fs::File::open(&self.log)
                .map(|f| BufReader::new(f).lines().count() as u64)
                .unwrap_or(0);
            if lines >= n || start.elapsed() > Duration::from_secs(300) {
                return lines;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn orchestrate() {
    let n: usize = std::env::var("SEBRIDGE_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let only: Option<String> = std::env::var("SEBRIDGE_BENCH_ONLY").ok();
    let dir = tempfile::Builder::new()
        .prefix("sebridge-bench-")
        .tempdir()
        .expect("temp dir");
    let db = dir.path().join("journal.db");
    let base = fixture_events();
    eprintln!(
        "building a journal of {n} events ({} fixture shapes)...",
        base.len()
    );
    let t = Instant::now();
    rt().block_on(async {
        let store = Store::open_sqlite(&db).await.expect("store");
        let tenants = ["acme", "globex", "initech", "umbrella"];
        let mut chunk = Vec::with_capacity(1000);
        for i in 0..n {
            let mut v = base[i % base.len()].clone();
            v["id"] = Value::from(1_000_000_000u64 + i as u64);
            chunk.push(Event::from_json(&v.to_string()).expect("event"));
            if chunk.len() == 1000 || i + 1 == n {
                store
                    .append(tenants[(i / 1000) % 4], "poll", &chunk, None)
                    .await
                    .expect("append");
                chunk.clear();
            }
        }
        store.close().await;
    });
    eprintln!("journal built in {:.1}s", t.elapsed().as_secs_f64());
    let db_s = db.display().to_string();
    let out_s = dir.path().display().to_string();
    let mut rows: Vec<(String, Value, Value, String)> = Vec::new();
    let want = |name: &str| {
        only.as_deref()
            .is_none_or(|o| o.split(',').any(|x| x == name))
    };

    let mut parts = String::new();
    if want("parts") {
        let r = spawn_child(&["parts", &db_s, "", &out_s]);
        parts = r["extra"].as_str().unwrap_or_default().to_string();
        eprintln!("stages alone: {parts}");
    }
    if want("file") {
        let base = spawn_child(&["file-baseline", &db_s, "", &out_s]);
        let _ = std::fs::remove_file(dir.path().join("baseline.jsonl"));
        let sink = spawn_child(&["file", &db_s, "", &out_s]);
        let lines = count_lines(&dir.path().join("file.jsonl"));
        let _ = std::fs::remove_file(dir.path().join("file.jsonl"));
        rows.push((
            "file (batch 1000)".into(),
            sink,
            base.clone(),
            format!("{lines} lines"),
        ));
        let sink = spawn_child(&["file-5000", &db_s, "", &out_s]);
        let lines = count_lines(&dir.path().join("file-5000.jsonl"));
        let _ = std::fs::remove_file(dir.path().join("file-5000.jsonl"));
        rows.push((
            "file (batch 5000)".into(),
            sink,
            base,
            format!("{lines} lines"),
        ));
    }
    if want("syslog") {
        let rdir = dir.path().join("rsyslog-base");
        std::fs::create_dir_all(&rdir).expect("dir");
        let rs = Rsyslog::start(&rdir);
        let base = spawn_child(&[
            "syslog-baseline",
            &db_s,
            &format!("127.0.0.1:{}", rs.port),
            &out_s,
        ]);
        let got_base = rs.wait_lines(n as u64);
        drop(rs);
        let rdir = dir.path().join("rsyslog-sink");
        std::fs::create_dir_all(&rdir).expect("dir");
        let rs = Rsyslog::start(&rdir);
        let sink = spawn_child(&["syslog", &db_s, &format!("127.0.0.1:{}", rs.port), &out_s]);
        let got = rs.wait_lines(n as u64);
        drop(rs);
        rows.push((
            "syslog TCP, CEF, to rsyslogd".into(),
            sink,
            base,
            format!("rsyslog wrote {got} (baseline {got_base}) lines"),
        ));
    }
    if want("hec") {
        let r = Receiver::start("hec");
        let base = spawn_child(&["hec-baseline", &db_s, &r.url, &out_s]);
        let sink = spawn_child(&["hec", &db_s, &r.url, &out_s]);
        let stats = r.stats();
        rows.push((
            "Splunk HEC (gzip) to the receiver".into(),
            sink,
            base,
            format!("receiver got {} events", stats["events"]),
        ));
    }
    if want("sentinel") {
        rows.push(sentinel::row(&db_s, &out_s));
    }
    if want("es") {
        let r = Receiver::start("es");
        let base = spawn_child(&["es-baseline", &db_s, &r.url, &out_s]);
        let sink = spawn_child(&["es", &db_s, &r.url, &out_s]);
        let sink_1000 = spawn_child(&["es-1000", &db_s, &r.url, &out_s]);
        let stats = r.stats();
        let check = format!(
            "receiver created {} docs, {} conflicts",
            stats["created"], stats["conflicts"]
        );
        rows.push((
            format!(
                "Elasticsearch _bulk (ECS, gzip) to the receiver (batch {ES_BATCH}, the default)"
            ),
            sink,
            base.clone(),
            check.clone(),
        ));
        rows.push((
            format!("Elasticsearch _bulk (ECS, gzip) to the receiver (batch {BATCH})"),
            sink_1000,
            base,
            check,
        ));
    }
    if want("postgres") {
        let schema = format!("sebridge_bench_{}", std::process::id());
        let psql = |sql: &str| {
            let ok = Command::new("psql")
                .args([&pg_url(), "-q", "-c", sql])
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            assert!(ok, "psql {sql}");
        };
        psql(&format!("CREATE SCHEMA {schema}"));
        psql(&format!("CREATE TABLE {schema}.baseline (tenant text, event_id numeric(20), event_type_id bigint, event_time bigint, journal_seq bigint, received_at bigint, raw jsonb)"));
        let base = spawn_child(&["postgres-baseline", &db_s, &schema, &out_s]);
        let sink = spawn_child(&["postgres", &db_s, &schema, &out_s]);
        let count = Command::new("psql")
            .args([
                &pg_url(),
                "-tAc",
                &format!("SELECT count(*) FROM {schema}.events"),
            ])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        psql(&format!("DROP SCHEMA {schema} CASCADE"));
        rows.push((
            "PostgreSQL (upsert, PK + 5 indexes)".into(),
            sink,
            base,
            format!("{count} rows"),
        ));
    }

    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "\n{n} events, journal SQLite ({:.0} MiB), loopback, {} cores, load average at the end: {}\n",
        std::fs::metadata(&db).map(|m| m.len() as f64 / 1048576.0).unwrap_or(0.0),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    );
    if !parts.is_empty() {
        println!("Each stage alone, one thread (first 200,000 events): {parts}\n");
    }
    println!("| sink | events/s | peak RSS | baseline events/s | baseline peak RSS | ratio (sink / baseline) | check |");
    println!("|---|---:|---:|---:|---:|---:|---|");
    for (name, sink, base, check) in rows {
        let rate =
            |v: &Value| v["events"].as_f64().unwrap_or(0.0) / v["secs"].as_f64().unwrap_or(1.0);
        let rss = |v: &Value| format!("{:.0} MiB", v["rss_kb"].as_f64().unwrap_or(0.0) / 1024.0);
        println!(
            "| {name} | {:.0} | {} | {:.0} | {} | {:.2} | {check} |",
            rate(&sink),
            rss(&sink),
            rate(&base),
            rss(&base),
            rate(&sink) / rate(&base)
        );
    }
}

fn count_lines(p: &Path) -> u64 {
    std::fs::File::open(p)
        .map(|f| BufReader::new(f).lines().count() as u64)
        .unwrap_or(0)
}
