//! Progress of long work as a script or a log file sees it (no terminal): `backfill` and
//! `replay --deliver` print plain periodic lines with events, rate, percent and ETA, then
//! their summary.

use crate::common::*;
use simulator::{Faults, SimConfig};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn sebridge(args: &[&str], cfg: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sebridge"))
        .env_remove("SEBRIDGE_MASTER_KEY")
        .env("SEBRIDGE_LOG", "warn")
        .env("SEBRIDGE_PROGRESS_EVERY", "500ms")
        .arg(args[0])
        .arg("-c")
        .arg(cfg)
        .args(&args[1..])
        .stdin(Stdio::null())
        .output()
        .expect("runs")
}

/// Journal rows of the SQLite store at `path` (0 while it does not exist yet).
fn rusqlite_rows(path: &Path) -> i64 {
    let Ok(c) =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return 0;
    };
    c.query_row("SELECT COUNT(*) FROM journal", [], |r| r.get(0))
        .unwrap_or(0)
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The (events, percent, ETA) of the progress lines that start with `prefix`; lines from
/// before the total is known have no percent and must all come first.
fn progress(stderr: &str, prefix: &str) -> Vec<(u64, Option<u64>, String)> {
    let lines: Vec<(u64, Option<u64>, String)> = stderr
        .lines()
        .filter(|l| l.starts_with(prefix))
        .map(|l| {
            assert!(l.contains(" events, ") && l.contains("/s"), "{l}");
            let events: u64 = l[prefix.len()..]
                .split(' ')
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("no event count in {l}"));
            if l.ends_with("total not known yet") {
                return (events, None, String::new());
            }
            let p = l
                .split("% done")
                .next()
                .and_then(|h| h.rsplit(' ').next())
                .unwrap_or_else(|| panic!("no percent in {l}"));
            let eta = l
                .split("ETA ")
                .nth(1)
                .unwrap_or_else(|| panic!("no ETA in {l}"));
            let p = p.parse().unwrap_or_else(|_| panic!("percent {p:?} in {l}"));
            (events, Some(p), eta.to_string())
        })
        .collect();
    let first_known = lines
        .iter()
        .position(|l| l.1.is_some())
        .unwrap_or(lines.len());
    assert!(
        lines[first_known..].iter().all(|l| l.1.is_some()),
        "{lines:?}"
    );
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_and_replay_report_progress_in_plain_lines_without_a_terminal() {
    let e = env(
        SimConfig {
            tenants: 1,
            rate: 0.0,
            history: 3000,
            history_span: Duration::from_secs(5 * 3600),
            seed: 41,
            // Slow answers: the backfill takes seconds, long enough to report on.
            faults: Faults {
                latency: Duration::from_millis(120),
                ..Faults::NONE
            },
            ..SimConfig::default()
        },
        100,
    )
    .await;
    let cfg = e.dir.path().join("sebridge.toml");
    let body = std::fs::read_to_string(&cfg).expect("config");
    let body: String = body
        .lines()
        .filter(|l| !l.starts_with("since") && !l.starts_with("lookback"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(
        &cfg,
        body.replace(
            "type = \"poll\"",
            "type = \"poll\"\nlookback = \"1m\"\npage_size = 100",
        ),
    )
    .expect("config written");

    // Interrupted once it has read some history (exit 130), then resumed.
    let child = Command::new(env!("CARGO_BIN_EXE_sebridge"))
        .env_remove("SEBRIDGE_MASTER_KEY")
        .env("SEBRIDGE_LOG", "warn")
        .args(["backfill", "-c"])
        .arg(&cfg)
        .args(["--tenant", "tenant-1", "--since", "6h"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("backfill starts");
    let journal = e.dir.path().join("sebridge.db");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let rows = rusqlite_rows(&journal);
        if rows >= 500 || std::time::Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let pid = child.id().to_string();
    let _ = Command::new("kill").args(["-INT", &pid]).status();
    let first = child.wait_with_output().expect("backfill ends");
    let (out, err) = text(&first);
    assert_eq!(first.status.code(), Some(130), "{out}{err}");
    assert!(out.contains("backfill interrupted"), "{out}");

    let bf = sebridge(&["backfill", "--tenant", "tenant-1", "--since", "6h"], &cfg);
    let (out, err) = text(&bf);
    assert!(bf.status.success(), "{out}{err}");
    assert!(err.contains("resuming the interrupted backfill"), "{err}");
    assert!(out.contains("backfill of tenant-1 done: "), "{out}");
    let p = progress(&err, "backfill tenant-1: ");
    assert!(p.len() >= 2, "periodic lines: {err}");
    // In events, and of what is left: a resumed backfill is neither done at once nor at
    // "ETA 0s" while it still reads.
    assert!(
        p.windows(2).all(|w| w[0].0 <= w[1].0 && w[0].1 <= w[1].1),
        "progress only grows: {p:?}"
    );
    for (events, percent, eta) in &p {
        if let Some(pc) = percent {
            assert!(*pc < 100 || *events > 0, "{p:?}");
            // Rounded to seconds, the last second reads 0s; half-way it cannot.
            if *pc < 50 {
                assert_ne!(eta, "0s", "ETA 0s at {pc}%: {p:?}");
            }
        }
    }
    assert!(
        p.iter().any(|l| l.1.is_some_and(|pc| pc < 90)),
        "a line before the end: {p:?}"
    );

    // A wider range later: read, not skipped.
    let again = sebridge(&["backfill", "--tenant", "tenant-1", "--since", "1h"], &cfg);
    let (out, err) = text(&again);
    assert!(again.status.success(), "{out}{err}");
    assert!(
        err.contains("the history from"),
        "a narrower range resumes: {err}"
    );

    // Everything once into the file, then replayed right away with progress.
    let run = sebridge(&["run", "--until-idle", "1s"], &cfg);
    assert!(run.status.success(), "{:?}", text(&run));
    let path = sink_path(&e.config);
    let before = std::fs::read_to_string(&path).expect("sink file");
    assert_eq!(before.lines().count(), 3000);
    let rp = sebridge(
        &["replay", "--consumer", "file", "--from-start", "--deliver"],
        &cfg,
    );
    let (out, err) = text(&rp);
    assert!(rp.status.success(), "{out}{err}");
    assert!(out.contains("delivered again up to"), "{out}");
    let p = progress(&err, "replay file: ");
    assert!(!p.is_empty(), "a progress line: {err}");
    // Counted in events from the first line on, of a known total.
    assert!(p.iter().all(|l| l.1.is_some()), "{p:?}");
    assert!(
        p.iter().any(|l| l.0 > 0),
        "the replay counts what it delivers: {p:?}"
    );
    let after = std::fs::read_to_string(&path).expect("sink file");
    let lines: Vec<&str> = after.lines().collect();
    assert_eq!(lines.len(), 6000, "every event once more");
    assert_eq!(lines[..3000], lines[3000..]);
}
