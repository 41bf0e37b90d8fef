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

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The percentages of the progress lines that start with `prefix`.
fn percents(stderr: &str, prefix: &str) -> Vec<u64> {
    stderr
        .lines()
        .filter(|l| l.starts_with(prefix))
        .map(|l| {
            assert!(l.contains(" events, ") && l.contains("/s"), "{l}");
            assert!(l.contains("ETA "), "{l}");
            let p = l
                .split("% done")
                .next()
                .and_then(|h| h.rsplit(' ').next())
                .unwrap_or_else(|| panic!("no percent in {l}"));
            p.parse().unwrap_or_else(|_| panic!("percent {p:?} in {l}"))
        })
        .collect()
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

    let bf = sebridge(&["backfill", "--tenant", "tenant-1", "--since", "6h"], &cfg);
    let (out, err) = text(&bf);
    assert!(bf.status.success(), "{out}{err}");
    assert!(
        out.contains("backfill of tenant-1 done: 3000 new events"),
        "{out}"
    );
    let p = percents(&err, "backfill tenant-1: ");
    assert!(p.len() >= 2, "periodic lines: {err}");
    assert!(
        p.windows(2).all(|w| w[0] <= w[1]),
        "progress only grows: {p:?}"
    );

    // Everything once into the file, then replayed right away with progress.
    let run = sebridge(&["run", "--until-idle", "1"], &cfg);
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
    let p = percents(&err, "replay file: ");
    assert!(!p.is_empty(), "a progress line: {err}");
    let after = std::fs::read_to_string(&path).expect("sink file");
    let lines: Vec<&str> = after.lines().collect();
    assert_eq!(lines.len(), 6000, "every event once more");
    assert_eq!(lines[..3000], lines[3000..]);
}
