//! Event Streams benchmarks, all in one run so the figures are comparable (BENCHMARKS.md):
//!
//! 1. Drain N pre-published ~1.5 KB events (default 200,000) from one durable queue:
//!    `sebridge run` (stream source -> journal -> file sink, each committed and fsynced) vs
//!    the minimal lapin consumer (`../shared/bench/rawconsumer`, the practical ceiling) vs the
//!    tutorial pika consumer (`../shared/bench/pika_consumer.py`). Median of RUNS runs each;
//!    every run checks the output file has exactly the published bytes.
//! 2. Latency at a steady 1,000 events/s: publish -> line in sebridge's file sink, p50/p99,
//!    and sebridge's peak RSS.
//!
//! `cargo bench -p sebridge --bench streams` (needs RabbitMQ on 127.0.0.1:5672, `pip install
//! pika`; builds rawconsumer into its own target directory outside the repository).
//! Environment: SEBRIDGE_BENCH_N (200000), SEBRIDGE_BENCH_RUNS (3), SEBRIDGE_BENCH_LATENCY_SECS
//! (30), SEBRIDGE_BENCH_ONLY (drain|latency).

use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions, QueuePurgeOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use sebridge::config::Config;
use sebridge::sources::stream::credentials::StreamCredentials;
use sebridge::store::Store;
use secure_endpoint::SecretString;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
const QUEUE: &str = "bench_q";

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn shared_bench() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/bench")
}

fn run_ok(cmd: &mut Command, what: &str) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    if !out.status.success() {
        panic!(
            "{what} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Publishes N events into bench_q (purged first) with the shared publisher; returns the
/// expected output size (sum of body + newline).
fn publish(n: usize, dir: &Path) -> u64 {
    let bytes = dir.join("expected-bytes");
    run_ok(
        Command::new("python3")
            .arg(shared_bench().join("amqp_publish.py"))
            .arg(n.to_string())
            .arg("--purge")
            .arg("--bytes-file")
            .arg(&bytes),
        "publishing (pip install pika)",
    );
    std::fs::read_to_string(&bytes)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .expect("expected bytes")
}

/// "consumed N msgs in X s: R msgs/s" -> seconds.
fn parse_seconds(out: &str) -> f64 {
    out.split(" in ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("unexpected consumer output: {out}"))
}

fn rawconsumer() -> PathBuf {
    let target = std::env::temp_dir().join("sebridge-bench-rawconsumer");
    run_ok(
        Command::new(env!("CARGO"))
            .args(["build", "--release", "--quiet", "--manifest-path"])
            .arg(shared_bench().join("rawconsumer/Cargo.toml"))
            .arg("--target-dir")
            .arg(&target),
        "building rawconsumer",
    );
    target.join("release/rawconsumer")
}

/// A config: one tenant (never polled), the stream source on bench_q, a raw file sink.
async fn sebridge_config(dir: &Path) -> Config {
    let text = format!(
        "[store]\npath = {:?}\n[secrets]\nkey_file = {:?}\n\
         [tenants.bench]\nbase_url = \"http://127.0.0.1:9\"\nclient_id = \"bench\"\napi_key = \"bench\"\n\
         [sources.push]\ntype = \"stream\"\n{}\n\
         [sinks.archive]\ntype = \"file\"\npath = {:?}\nwrap = false\n{}\n",
        dir.join("sebridge.db"),
        dir.join("sebridge.key"),
        // SEBRIDGE_BENCH_SOURCE="prefetch = 4000" and the like: source settings to compare.
        std::env::var("SEBRIDGE_BENCH_SOURCE")
            .unwrap_or_default()
            .replace("\\n", "\n"),
        dir.join("events.jsonl"),
        // SEBRIDGE_BENCH_SINK="batch_timeout = \"20ms\"": file sink settings to compare.
        std::env::var("SEBRIDGE_BENCH_SINK")
            .unwrap_or_default()
            .replace("\\n", "\n"),
    );
    let path = dir.join("sebridge.toml");
    std::fs::write(&path, text).expect("config");
    let config = Config::load(&path).expect("valid config");
    let store = Store::open_sqlite(&dir.join("sebridge.db"))
        .await
        .expect("store");
    let creds = StreamCredentials {
        user_name: "guest".into(),
        password: SecretString::from("guest".to_string()),
        queue_name: QUEUE.into(),
        host: "127.0.0.1".into(),
        port: "5672".into(),
        proto: "amqp".into(),
    };
    sebridge::sources::stream::credentials::save(
        &config,
        &store,
        "bench",
        1,
        "bench",
        &creds,
        &[],
        &[],
    )
    .await
    .expect("stream stored");
    store.close().await;
    config
}

fn spawn_sebridge(config: &Config) -> Child {
    // SEBRIDGE_BENCH_WRAP="perf record -g -o /tmp/p.data" runs sebridge under a profiler.
    let wrap: Vec<String> = std::env::var("SEBRIDGE_BENCH_WRAP")
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let mut cmd = match wrap.split_first() {
        Some((prog, args)) => {
            let mut c = Command::new(prog);
            c.args(args).arg(env!("CARGO_BIN_EXE_sebridge"));
            c
        }
        None => Command::new(env!("CARGO_BIN_EXE_sebridge")),
    };
    cmd.arg("run");
    // SEBRIDGE_BENCH_LISTEN=127.0.0.1:PORT serves /status and /metrics while it runs.
    if let Ok(listen) = std::env::var("SEBRIDGE_BENCH_LISTEN") {
        cmd.args(["--listen", &listen]);
    }
    cmd.arg("-c")
        .arg(&config.path)
        // The stream source's info lines say when it is connected and consuming.
        .env("SEBRIDGE_LOG", "warn,sebridge::sources::stream=info")
        .env("SEBRIDGE_LOG_FORMAT", "text")
        .env_remove("SEBRIDGE_MASTER_KEY")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sebridge starts")
}

/// Echoes a child's stderr (but its info lines); the instant its first line containing
/// `marker` came.
fn watch_for(
    stderr: std::process::ChildStderr,
    marker: &'static str,
) -> std::sync::Arc<std::sync::OnceLock<Instant>> {
    let seen = std::sync::Arc::new(std::sync::OnceLock::new());
    let set = seen.clone();
    std::thread::spawn(move || {
        use std::io::BufRead as _;
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if line.contains(marker) {
                let _ = set.set(Instant::now());
            } else if !line.contains("INFO") {
                eprintln!("{line}");
            }
        }
    });
    seen
}

/// VmHWM (peak resident set) of a running process, in MiB.
fn peak_rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// CPU seconds (user + system) a running process has used, from /proc/<pid>/stat.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of stat, i.e. 11 and 12 after the ')'.
    (ticks(11) + ticks(12)) / 100.0
}

fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

fn file_len(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// One drain run of sebridge: seconds from the start of consuming (as the baselines time
/// themselves: connected, then consume) and from the process spawn until the sink holds every
/// published byte; peak RSS; CPU seconds.
async fn drain_sebridge(n: usize) -> (f64, f64, f64, f64) {
    let dir = tempfile::tempdir().unwrap();
    let expected = publish(n, dir.path());
    let config = sebridge_config(dir.path()).await;
    let out = dir.path().join("events.jsonl");
    let t0 = Instant::now();
    let mut child = spawn_sebridge(&config);
    let consuming = watch_for(child.stderr.take().expect("piped stderr"), "connected to");
    while file_len(&out) < expected {
        assert!(
            t0.elapsed() < Duration::from_secs(600),
            "sebridge did not drain"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let done = Instant::now();
    let secs = done.duration_since(t0).as_secs_f64();
    let from_consume = consuming
        .get()
        .map(|c| done.duration_since(*c).as_secs_f64())
        .expect("sebridge logged its connection");
    let rss = peak_rss_mib(child.id());
    let cpu = cpu_secs(child.id());
    stop(child);
    assert_eq!(
        file_len(&out),
        expected,
        "sebridge wrote exactly the published bytes"
    );
    (from_consume, secs, rss, cpu)
}

/// One baseline run (under /usr/bin/time for its CPU): (seconds it reports, CPU seconds).
fn drain_baseline(n: usize, program: &[&std::ffi::OsStr]) -> (f64, f64) {
    let dir = tempfile::tempdir().unwrap();
    let expected = publish(n, dir.path());
    let out = dir.path().join("out.jsonl");
    let times = dir.path().join("times");
    let printed = run_ok(
        Command::new("/usr/bin/time")
            .arg("-f")
            .arg("%U %S")
            .arg("-o")
            .arg(&times)
            .args(program)
            .arg(n.to_string())
            .arg(&out),
        "baseline consumer",
    );
    assert_eq!(
        file_len(&out),
        expected,
        "baseline wrote the published bytes"
    );
    let cpu: f64 = std::fs::read_to_string(&times)
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|v| v.parse::<f64>().ok())
        .sum();
    (parse_seconds(&printed), cpu)
}

async fn drain(n: usize, runs: usize) {
    let raw = rawconsumer();
    let pika = shared_bench().join("pika_consumer.py");
    let (mut s_t, mut r_t, mut p_t, mut rss) = (vec![], vec![], vec![], vec![]);
    let mut spawn_t = vec![];
    let (mut s_c, mut r_c, mut p_c) = (vec![], vec![], vec![]);
    let per = |cpu: f64| cpu / n as f64 * 1e6;
    for run in 1..=runs {
        let (p, pc) = drain_baseline(n, &["python3".as_ref(), pika.as_os_str()]);
        let (r, rc) = drain_baseline(n, &[raw.as_os_str()]);
        let (s, from_spawn, m, sc) = drain_sebridge(n).await;
        println!(
            "run {run}: pika {:.0} msg/s ({:.1} µs CPU/msg), rawconsumer {:.0} msg/s ({:.1} µs), \
             sebridge {:.0} msg/s ({:.0} from spawn; {:.1} µs; peak RSS {m:.0} MiB); sebridge/raw {:.2} \
             ({:.2} from spawn), load {}",
            n as f64 / p,
            per(pc),
            n as f64 / r,
            per(rc),
            n as f64 / s,
            n as f64 / from_spawn,
            per(sc),
            r / s,
            r / from_spawn,
            std::fs::read_to_string("/proc/loadavg")
                .unwrap_or_default()
                .trim()
        );
        p_t.push(p);
        r_t.push(r);
        s_t.push(s);
        spawn_t.push(from_spawn);
        rss.push(m);
        p_c.push(per(pc));
        r_c.push(per(rc));
        s_c.push(per(sc));
    }
    let (p, r, s, from_spawn) = (
        n as f64 / median(p_t),
        n as f64 / median(r_t),
        n as f64 / median(s_t),
        n as f64 / median(spawn_t),
    );
    println!("\n## Drain {n} events (median of {runs})\n");
    let (pc, rc, sc) = (median(p_c), median(r_c), median(s_c));
    println!("| consumer | msg/s | sebridge ÷ it | CPU µs/msg |");
    println!("|---|---:|---:|---:|");
    println!(
        "| tutorial pika consumer | {p:.0} | {:.2}× | {pc:.1} |",
        s / p
    );
    println!(
        "| raw lapin consumer (ceiling) | {r:.0} | {:.2}× | {rc:.1} |",
        s / r
    );
    println!(
        "| sebridge: stream source -> journal -> file sink | {s:.0} | 1.00× | {sc:.1} |\n\n\
         Timed from consuming to the last byte in the sink; from the process spawn instead \
         (start-up, store, connection included): {from_spawn:.0} msg/s, {:.2}× the raw consumer.\n\
         peak RSS of sebridge while draining: {:.0} MiB",
        from_spawn / r,
        rss.iter().cloned().fold(0.0, f64::max)
    );
}

/// A Secure Endpoint-shaped event (~1.5 KB) carrying its sequence number in `id`.
fn event(i: u64) -> Vec<u8> {
    let now = time::OffsetDateTime::now_utc();
    let ts = now.unix_timestamp();
    let pad = "x".repeat(900);
    format!(
        r#"{{"id":{},"timestamp":{ts},"timestamp_nanoseconds":{},"date":"{}","event_type":"Threat Detected","event_type_id":1090519054,"detection":"W32.Auto:314a112563.in05.Talos","detection_id":"{}","connector_guid":"0b4883d4-2a3a-4c1c-8f7e-5d2f0e6c9a11","group_guids":["b077d6bc-bbdf-42f7-8838-a06053fbd98a"],"severity":"Medium","computer":{{"connector_guid":"0b4883d4-2a3a-4c1c-8f7e-5d2f0e6c9a11","hostname":"WKS-FIN-0042.corp.example.com","external_ip":"198.51.100.7","active":true}},"file":{{"disposition":"Malicious","file_name":"invoice.exe","identity":{{"sha256":"{:064x}"}}}},"note":"{pad}"}}"#,
        7_000_000_000_000_000_000u64 + i,
        now.nanosecond(),
        secure_endpoint::format_api_date(now),
        6_455_442_249_407_791_105u64 + i,
        i
    )
    .into_bytes()
}

async fn latency(secs: u64) {
    let dir = tempfile::tempdir().unwrap();
    let conn = Connection::connect(URL, ConnectionProperties::default())
        .await
        .expect("RabbitMQ at 127.0.0.1:5672");
    let ch = conn.create_channel().await.unwrap();
    ch.queue_declare(
        QUEUE.into(),
        QueueDeclareOptions {
            durable: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .unwrap();
    ch.queue_purge(QUEUE.into(), QueuePurgeOptions::default())
        .await
        .unwrap();
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let config = sebridge_config(dir.path()).await;
    let out = dir.path().join("events.jsonl");
    let mut child = spawn_sebridge(&config);
    // Keeps the pipe drained (its lines are echoed).
    let _ = watch_for(child.stderr.take().expect("piped stderr"), "connected to");
    tokio::time::sleep(Duration::from_secs(2)).await;

    let total = secs * 1000;
    let start = Instant::now();
    let mut sent_at: Vec<Option<Instant>> = vec![None; total as usize];
    let mut seen_at: Vec<Option<Instant>> = vec![None; total as usize];
    let mut file = None::<std::fs::File>;
    let mut offset = 0u64;
    let mut partial = Vec::new();
    let mut next = 0u64;
    let id_of = |line: &[u8]| -> Option<u64> {
        let s = std::str::from_utf8(line).ok()?;
        let rest = s.strip_prefix("{\"id\":")?;
        let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        digits
            .parse::<u64>()
            .ok()?
            .checked_sub(7_000_000_000_000_000_000)
    };
    let mut read_new = |file: &mut Option<std::fs::File>, seen: &mut Vec<Option<Instant>>| {
        if file.is_none() {
            *file = std::fs::File::open(&out).ok();
        }
        let Some(f) = file.as_mut() else { return };
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        if len <= offset {
            return;
        }
        let now = Instant::now();
        let mut buf = vec![0; (len - offset) as usize];
        if f.seek(SeekFrom::Start(offset)).is_err() || f.read_exact(&mut buf).is_err() {
            return;
        }
        offset = len;
        partial.extend_from_slice(&buf);
        while let Some(pos) = partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = partial.drain(..=pos).collect();
            if let Some(i) = id_of(&line) {
                if let Some(slot) = seen.get_mut(i as usize) {
                    slot.get_or_insert(now);
                }
            }
        }
    };
    // Publish on schedule (one per ms), confirms awaited in the background; watch the file.
    let mut confirms = Vec::new();
    while next < total || seen_at.iter().any(Option::is_none) {
        let due = (start.elapsed().as_micros() / 1000) as u64;
        while next < total && next <= due {
            let c = ch
                .basic_publish(
                    "".into(),
                    QUEUE.into(),
                    BasicPublishOptions::default(),
                    &event(next),
                    BasicProperties::default()
                        .with_delivery_mode(2)
                        .with_content_type("application/octet-stream".into()),
                )
                .await
                .expect("publish");
            sent_at[next as usize] = Some(Instant::now());
            confirms.push(c);
            next += 1;
        }
        if confirms.len() > 500 {
            for c in confirms.drain(..) {
                c.await.expect("confirm");
            }
        }
        read_new(&mut file, &mut seen_at);
        assert!(
            start.elapsed() < Duration::from_secs(secs + 60),
            "events missing from the sink"
        );
        tokio::time::sleep(Duration::from_micros(500)).await;
    }
    let rss = peak_rss_mib(child.id());
    stop(child);
    let _ = conn.close(200, "bye".into()).await;
    let mut lat: Vec<f64> = sent_at
        .iter()
        .zip(&seen_at)
        .filter_map(|(s, r)| Some(r.as_ref()?.duration_since(*s.as_ref()?).as_secs_f64() * 1000.0))
        .collect();
    lat.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    println!(
        "\n## Latency at 1,000 events/s for {secs} s ({} events)\n",
        lat.len()
    );
    println!("| publish -> line in the file sink | ms |");
    println!("|---|---:|");
    println!("| p50 | {:.1} |", pct(0.50));
    println!("| p99 | {:.1} |", pct(0.99));
    println!("| max | {:.1} |", lat.last().copied().unwrap_or(f64::NAN));
    println!("\npeak RSS of sebridge: {rss:.0} MiB");
}

fn main() {
    // `cargo bench` passes --bench; anything else (e.g. a filter) is ignored.
    let n: usize = env_or("SEBRIDGE_BENCH_N", 200_000);
    let runs: usize = env_or("SEBRIDGE_BENCH_RUNS", 3);
    let secs: u64 = env_or("SEBRIDGE_BENCH_LATENCY_SECS", 30);
    let only = std::env::var("SEBRIDGE_BENCH_ONLY").unwrap_or_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        if only.is_empty() || only == "drain" {
            drain(n, runs.max(1)).await;
        }
        if only.is_empty() || only == "latency" {
            latency(secs.max(1)).await;
        }
    });
}
