//! The binaries as users and scripts run them: exit codes, signals, SIGKILL and restart,
//! the `sebridge-sim --write-config` form, and the tenants commands.

use crate::common::*;
use simulator::SimConfig;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn sebridge() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sebridge"));
    c.env_remove("SEBRIDGE_MASTER_KEY")
        .env("SEBRIDGE_LOG", "warn");
    c
}

/// `sebridge-sim` sits next to `sebridge` once the simulator package is built; build it if not.
fn sim_binary() -> PathBuf {
    let path = Path::new(env!("CARGO_BIN_EXE_sebridge")).with_file_name("sebridge-sim");
    if !path.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", "simulator", "--bin", "sebridge-sim"])
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building sebridge-sim failed");
    }
    path
}

fn run_with_timeout(mut cmd: Command, limit: Duration) -> Output {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let pid = child.id();
    let watchdog = std::thread::spawn(move || {
        std::thread::sleep(limit);
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
    });
    let out = child.wait_with_output().expect("wait");
    drop(watchdog);
    out
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig}");
}

fn line_count(path: &Path) -> usize {
    std::fs::read(path)
        .map(|b| b.iter().filter(|&&c| c == b'\n').count())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_run_then_restart_delivers_every_event_exactly_once() {
    let e = env(
        SimConfig {
            tenants: 3,
            rate: 0.0,
            history: 10_000,
            seed: 11,
            ..SimConfig::default()
        },
        100,
    )
    .await;
    let cfg = e.dir.path().join("sebridge.toml");
    // Small pages and sink batches: many commits, so the kills land mid-flow.
    let body = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("type = \"poll\"", "type = \"poll\"\npage_size = 100")
        .replace(
            "type = \"file\"",
            "type = \"file\"\nwrap = true\nbatch_size = 50",
        );
    std::fs::write(&cfg, body).unwrap();
    let out = sink_path(&e.config);
    let total = 30_000;
    // Kill once early, and once shortly after the restarted process made progress.
    for round in 0..2 {
        let kill_at = if round == 0 {
            1_500
        } else {
            line_count(&out) + 300
        };
        let child = sebridge()
            .args(["run", "-c"])
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let start = Instant::now();
        while line_count(&out) < kill_at {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "no progress to {kill_at} lines"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        signal(&child, "-KILL");
        let mut child = child;
        child.wait().unwrap();
        assert!(
            line_count(&out) < total,
            "killed after everything was done; the test proves nothing"
        );
    }
    let out_run = run_with_timeout(
        {
            let mut c = sebridge();
            c.args(["run", "-c"]).arg(&cfg).args(["--until-idle", "1s"]);
            c
        },
        Duration::from_secs(120),
    );
    assert!(out_run.status.success(), "{}", text(&out_run));
    assert_exactly_once(&e.sim, &out, &["tenant-1", "tenant-2", "tenant-3"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_the_batch_commits_and_exits_zero() {
    let e = env(
        SimConfig {
            tenants: 2,
            rate: 50.0,
            history: 2000,
            seed: 12,
            ..SimConfig::default()
        },
        100,
    )
    .await;
    let cfg = e.dir.path().join("sebridge.toml");
    let mut child = sebridge()
        .args(["run", "-c"])
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = sink_path(&e.config);
    let start = Instant::now();
    while line_count(&out) < 500 {
        assert!(start.elapsed() < Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(10));
    }
    signal(&child, "-TERM");
    let status = child.wait().unwrap();
    assert!(status.success(), "exit status {status:?}");
    // After a clean stop the committed position covers exactly what the file holds.
    let store = sebridge::store::Store::open_sqlite(&e.dir.path().join("sebridge.db"))
        .await
        .unwrap();
    let pos = store
        .position("file")
        .await
        .unwrap()
        .expect("position committed");
    let committed = store
        .read_after(0, 1_000_000)
        .await
        .unwrap()
        .iter()
        .filter(|r| r.seq <= pos.seq)
        .count();
    assert_eq!(committed, line_count(&out));
    store.close().await;
}

#[test]
fn invalid_configs_exit_2_with_file_line_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&str, &str, &str)] = &[
        ("syntax.toml", "[store\npath = 1\n", "syntax.toml:1"),
        (
            "region.toml",
            "[tenants.acme]\nregion = \"mars\"\nclient_id = \"x\"\napi_key = \"y\"\n[sources.poll]\ntype = \"poll\"\n[sinks.f]\ntype = \"file\"\npath = \"o.jsonl\"\n",
            "region.toml:2",
        ),
        (
            "typo.toml",
            "[tenants.acme]\nregion = \"us\"\nclient_id = \"x\"\napi_key = \"y\"\n[sources.poll]\ntype = \"poll\"\nintervall = \"5s\"\n[sinks.f]\ntype = \"file\"\npath = \"o.jsonl\"\n",
            "typo.toml:7",
        ),
        (
            "env.toml",
            "[tenants.acme]\nregion = \"us\"\nclient_id = \"x\"\napi_key = \"${SEBRIDGE_TEST_SURELY_UNSET}\"\n[sources.poll]\ntype = \"poll\"\n[sinks.f]\ntype = \"file\"\npath = \"o.jsonl\"\n",
            "SEBRIDGE_TEST_SURELY_UNSET",
        ),
    ];
    for (name, body, expect) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, body).unwrap();
        for sub in ["validate", "run"] {
            let out = run_with_timeout(
                {
                    let mut c = sebridge();
                    c.args([sub, "-c"]).arg(&path);
                    c
                },
                Duration::from_secs(30),
            );
            assert_eq!(out.status.code(), Some(2), "{sub} {name}: {}", text(&out));
            assert!(
                text(&out).contains(expect),
                "{sub} {name}: expected {expect:?} in {}",
                text(&out)
            );
        }
    }
    let missing = run_with_timeout(
        {
            let mut c = sebridge();
            c.args(["validate", "-c", "/nonexistent/sebridge.toml"]);
            c
        },
        Duration::from_secs(30),
    );
    assert_eq!(missing.status.code(), Some(2));
    assert!(text(&missing).contains("/nonexistent/sebridge.toml"));
}

#[test]
fn simulator_cli_config_replays_an_events_file_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    // Real events, exactly as published, one per line (the Elastic captures wrap one in "data").
    let mut lines = Vec::new();
    for entry in std::fs::read_dir(fixtures().join("secure-endpoint")).unwrap() {
        let p = entry.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if !name.starts_with("elastic_integrations") {
            continue;
        }
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        if v["data"].is_object() {
            lines.push(serde_json::to_string(&v["data"]).unwrap());
        }
    }
    // Elastic's captures went through float64, so two distinct events there share the id
    // 6533241347137077000; the journal keys on (tenant, id) and would rightly keep one. Keep
    // only events whose id is unique in the set (the real API's ids are).
    let id_of = |l: &String| serde_json::from_str::<serde_json::Value>(l).unwrap()["id"].as_u64();
    let ids: Vec<Option<u64>> = lines.iter().map(id_of).collect();
    lines.retain(|l| {
        let id = id_of(l);
        id.is_none() || ids.iter().filter(|&&i| i == id).count() == 1
    });
    assert!(lines.len() >= 8);
    let events_file = dir.path().join("events.ndjson");
    std::fs::write(&events_file, lines.join("\n") + "\n").unwrap();
    let cfg = dir.path().join("sebridge.toml");
    let mut sim = Command::new(sim_binary())
        .args(["--listen", "127.0.0.1:0", "--tenants", "2", "--events-file"])
        .arg(&events_file)
        .arg("--write-config")
        .arg(&cfg)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(sim.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(
        first.starts_with("sebridge-sim listening on http://127.0.0.1:"),
        "{first}"
    );
    let out = run_with_timeout(
        {
            let mut c = sebridge();
            c.args(["run", "-c"]).arg(&cfg).args(["--until-idle", "1s"]);
            c
        },
        Duration::from_secs(60),
    );
    signal(&sim, "-TERM");
    assert!(sim.wait().unwrap().success());
    assert!(out.status.success(), "{}", text(&out));
    // Unwrapped file sink: each tenant's copy of every line, byte for byte.
    let written = std::fs::read_to_string(dir.path().join("events.jsonl")).unwrap();
    let mut got: Vec<&str> = written.lines().collect();
    let mut want: Vec<&str> = lines
        .iter()
        .chain(lines.iter())
        .map(String::as_str)
        .collect();
    got.sort_unstable();
    want.sort_unstable();
    let missing: Vec<&&str> = want.iter().filter(|w| !got.contains(w)).collect();
    let extra: Vec<&&str> = got.iter().filter(|g| !want.contains(g)).collect();
    assert!(
        got == want,
        "{} lines, {} expected; missing {missing:.300?}; unexpected {extra:.300?}",
        got.len(),
        want.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_exits_1_naming_the_tenant_with_bad_credentials() {
    let e = env(
        SimConfig {
            tenants: 2,
            rate: 0.0,
            history: 50,
            seed: 13,
            ..SimConfig::default()
        },
        100,
    )
    .await;
    let cfg = e.dir.path().join("sebridge.toml");
    let key = e.sim.tenant("tenant-2").unwrap().api_key;
    let text_cfg = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace(&key, "11111111-2222-3333-4444-555555555555");
    std::fs::write(&cfg, text_cfg).unwrap();
    let out = run_with_timeout(
        {
            let mut c = sebridge();
            c.args(["run", "-c"]).arg(&cfg).args(["--until-idle", "1s"]);
            c
        },
        Duration::from_secs(60),
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let all = text(&out);
    assert!(all.contains("tenant-2") && all.contains("401"), "{all}");
    assert!(
        !all.contains("11111111-2222-3333-4444-555555555555"),
        "the key leaked into the output"
    );
    assert_eq!(
        line_count(&sink_path(&e.config)),
        50,
        "tenant-1's events were delivered"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_add_list_test_remove_keep_the_key_secret() {
    let e = env(
        SimConfig {
            tenants: 2,
            rate: 0.0,
            history: 5,
            seed: 14,
            ..SimConfig::default()
        },
        100,
    )
    .await;
    let dir = e.dir.path();
    // A config with one tenant in the file; the second is added to the encrypted registry.
    let cfg = dir.join("sebridge.toml");
    let t2 = e.sim.tenant("tenant-2").unwrap();
    let text_cfg = std::fs::read_to_string(&cfg).unwrap();
    let start = text_cfg.find("[tenants.tenant-2]").unwrap();
    let end = start
        + text_cfg[start..]
            .find("\n\n")
            .unwrap_or(text_cfg.len() - start);
    std::fs::write(&cfg, format!("{}{}", &text_cfg[..start], &text_cfg[end..])).unwrap();

    let mut add = sebridge()
        .args(["tenants", "-c"])
        .arg(&cfg)
        .args([
            "add",
            "--name",
            "tenant-2",
            "--base-url",
            &e.sim.base_url(),
            "--client-id",
            &t2.client_id,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    add.stdin
        .take()
        .unwrap()
        .write_all(format!("{}\n", t2.api_key).as_bytes())
        .unwrap();
    let out = add.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    // The key is sealed at rest: not in the database file, and the key file is private.
    let db = std::fs::read(dir.join("sebridge.db")).unwrap();
    let wal = std::fs::read(dir.join("sebridge.db-wal")).unwrap_or_default();
    for bytes in [&db, &wal] {
        assert!(
            !bytes
                .windows(t2.api_key.len())
                .any(|w| w == t2.api_key.as_bytes()),
            "API key stored in clear"
        );
    }
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.join("sebridge.key"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);

    // `-c` works after the whole command (the README's form), before the subcommand, and
    // between the subcommand and its own subcommand.
    let list = run_with_timeout(
        {
            let mut c = sebridge();
            c.args(["tenants", "list", "-c"]).arg(&cfg);
            c
        },
        Duration::from_secs(30),
    );
    let listed = text(&list);
    assert!(
        listed.contains("tenant-1") && listed.contains("tenant-2") && listed.contains("registry"),
        "{listed}"
    );
    assert!(!listed.contains(&t2.api_key));

    let test = run_with_timeout(
        {
            let mut c = sebridge();
            c.arg("-c").arg(&cfg).args(["tenants", "test"]);
            c
        },
        Duration::from_secs(30),
    );
    assert!(test.status.success(), "{}", text(&test));
    assert_eq!(text(&test).matches(" ok (").count(), 2, "{}", text(&test));

    // Both tenants poll: the registry tenant's key is decrypted and used.
    let run = run_with_timeout(
        {
            let mut c = sebridge();
            c.args(["run", "-c"]).arg(&cfg).args(["--until-idle", "1s"]);
            c
        },
        Duration::from_secs(60),
    );
    assert!(run.status.success(), "{}", text(&run));
    assert_eq!(line_count(&sink_path(&e.config)), 10);

    // A wrong master key is refused clearly, not silently.
    let wrong = run_with_timeout(
        {
            let mut c = sebridge();
            c.env(
                "SEBRIDGE_MASTER_KEY",
                "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            )
            .args(["tenants", "-c"])
            .arg(&cfg)
            .arg("test");
            c
        },
        Duration::from_secs(30),
    );
    assert!(!wrong.status.success());
    assert!(text(&wrong).contains("cannot decrypt"), "{}", text(&wrong));

    let rm = run_with_timeout(
        {
            let mut c = sebridge();
            c.args(["tenants", "-c"])
                .arg(&cfg)
                .args(["remove", "tenant-2"]);
            c
        },
        Duration::from_secs(30),
    );
    assert!(rm.status.success(), "{}", text(&rm));
    let list = run_with_timeout(
        {
            let mut c = sebridge();
            c.args(["tenants", "-c"]).arg(&cfg).arg("list");
            c
        },
        Duration::from_secs(30),
    );
    assert!(!text(&list).contains("tenant-2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_types_and_events_queries() {
    let e = env(
        SimConfig {
            tenants: 1,
            rate: 0.0,
            history: 300,
            seed: 15,
            ..SimConfig::default()
        },
        100,
    )
    .await;
    let cfg = e.dir.path().join("sebridge.toml");
    let types = run_with_timeout(
        {
            let mut c = sebridge();
            c.args(["event-types", "-c"])
                .arg(&cfg)
                .args(["--tenant", "tenant-1", "--json"]);
            c
        },
        Duration::from_secs(30),
    );
    assert!(types.status.success(), "{}", text(&types));
    let list: serde_json::Value = serde_json::from_slice(&types.stdout).unwrap();
    assert!(list
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["id"] == 1090519054u64 && t["name"] == "Threat Detected"));

    let events = run_with_timeout(
        {
            let mut c = sebridge();
            c.args(["events", "-c"]).arg(&cfg).args([
                "--tenant",
                "tenant-1",
                "--type",
                "Threat Detected",
                "--since",
                "2h",
                "--limit",
                "600",
                "--json",
            ]);
            c
        },
        Duration::from_secs(30),
    );
    assert!(events.status.success(), "{}", text(&events));
    let got: Vec<serde_json::Value> = String::from_utf8_lossy(&events.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let expected = e
        .sim
        .all_event_texts("tenant-1")
        .unwrap()
        .iter()
        .filter(|t| t.contains("\"event_type_id\":1090519054"))
        .count();
    assert!(expected > 0);
    assert_eq!(got.len(), expected);
    assert!(got.iter().all(|v| v["event_type_id"] == 1090519054u64));

    let unknown = run_with_timeout(
        {
            let mut c = sebridge();
            c.args(["events", "-c"]).arg(&cfg).args([
                "--tenant",
                "tenant-1",
                "--type",
                "No Such Type",
            ]);
            c
        },
        Duration::from_secs(30),
    );
    assert!(!unknown.status.success());
    assert!(
        text(&unknown).contains("unknown event type \"No Such Type\""),
        "{}",
        text(&unknown)
    );
}

fn cmd(args: &[&str], cfg: &Path) -> Output {
    let mut c = sebridge();
    c.arg(args[0]).arg("-c").arg(cfg).args(&args[1..]);
    run_with_timeout(c, Duration::from_secs(120))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_fetches_history_the_lookback_missed_and_run_delivers_it_once() {
    let e = env(
        SimConfig {
            tenants: 2,
            rate: 0.0,
            history: 600,
            history_span: Duration::from_secs(4 * 3600),
            seed: 16,
            ..SimConfig::default()
        },
        100,
    )
    .await;
    let cfg = e.dir.path().join("sebridge.toml");
    // The live source only looks back 30 minutes.
    let body = std::fs::read_to_string(&cfg).unwrap();
    let body: String = body
        .lines()
        .filter(|l| !l.starts_with("since") && !l.starts_with("lookback"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(
        &cfg,
        body.replace("type = \"poll\"", "type = \"poll\"\nlookback = \"30m\"")
            .replace("type = \"file\"", "type = \"file\"\nwrap = true"),
    )
    .unwrap();
    let out = cmd(&["run", "--until-idle", "1s"], &cfg);
    assert!(out.status.success(), "{}", text(&out));
    let partial = line_count(&sink_path(&e.config));
    assert!(partial > 0 && partial < 1200, "{partial}");
    let bf = cmd(&["backfill", "--tenant", "tenant-1", "--since", "5h"], &cfg);
    assert!(bf.status.success(), "{}", text(&bf));
    assert!(
        text(&bf).contains("backfill of tenant-1 done"),
        "{}",
        text(&bf)
    );
    let out = cmd(&["run", "--until-idle", "1s"], &cfg);
    assert!(out.status.success(), "{}", text(&out));
    assert_exactly_once(&e.sim, &sink_path(&e.config), &["tenant-1"]);
    // tenant-2 was not backfilled: only its last 30 minutes.
    assert!(
        e.sim.event_count("tenant-2").unwrap()
            > wrapped_lines(&sink_path(&e.config))
                .iter()
                .filter(|(t, _)| t == "tenant-2")
                .count()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_delivers_again_and_is_refused_while_a_pipeline_runs() {
    let e = env(
        SimConfig {
            tenants: 1,
            rate: 0.0,
            history: 120,
            seed: 17,
            ..SimConfig::default()
        },
        100,
    )
    .await;
    let cfg = e.dir.path().join("sebridge.toml");
    let out = cmd(&["run", "--until-idle", "1s"], &cfg);
    assert!(out.status.success(), "{}", text(&out));
    let path = sink_path(&e.config);
    assert_eq!(line_count(&path), 120);

    let mut running = sebridge()
        .args(["run", "-c"])
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let refused = cmd(&["replay", "--consumer", "file", "--from-start"], &cfg);
    signal(&running, "-TERM");
    running.wait().unwrap();
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("another sebridge process"),
        "{}",
        text(&refused)
    );
    // A second `run` is refused the same way (it would deliver everything twice).

    let unknown = cmd(&["replay", "--consumer", "nope", "--from-start"], &cfg);
    assert!(
        unknown.status.code() == Some(2)
            && text(&unknown).contains("no sink named \"nope\" (sinks: file)"),
        "{}",
        text(&unknown)
    );

    let ok = cmd(&["replay", "--consumer", "file", "--from-start"], &cfg);
    assert!(ok.status.success(), "{}", text(&ok));
    let out = cmd(&["run", "--until-idle", "1s"], &cfg);
    assert!(out.status.success(), "{}", text(&out));
    // Every event again, appended after what was there.
    let body = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(lines.len(), 240);
    assert_eq!(lines[..120], lines[120..]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runs_on_one_store_are_refused() {
    let e = env(
        SimConfig {
            tenants: 1,
            rate: 0.0,
            history: 10,
            seed: 18,
            ..SimConfig::default()
        },
        100,
    )
    .await;
    let cfg = e.dir.path().join("sebridge.toml");
    let mut first = sebridge()
        .args(["run", "-c"])
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    let second = cmd(&["run", "--until-idle", "1s"], &cfg);
    signal(&first, "-TERM");
    assert!(first.wait().unwrap().success());
    assert_eq!(second.status.code(), Some(1));
    assert!(
        text(&second).contains("another sebridge process is using the store"),
        "{}",
        text(&second)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn items_that_are_not_events_are_dead_lettered_with_the_reason() {
    let e = env(
        SimConfig {
            tenants: 1,
            rate: 0.0,
            history: 20,
            seed: 19,
            ..SimConfig::default()
        },
        100,
    )
    .await;
    let cfg = e.dir.path().join("sebridge.toml");
    // An item without event_type_id among valid events.
    let ts = now() - 60;
    e.sim
        .insert_raw_events(
            "tenant-1",
            vec![format!(
                r#"{{"id":42,"timestamp":{ts},"date":"x","event_type":"Mystery"}}"#
            )],
        )
        .unwrap();
    let out = cmd(&["run", "--until-idle", "1s"], &cfg);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        line_count(&sink_path(&e.config)),
        20,
        "the valid events are delivered"
    );
    let dl = cmd(&["dead-letters", "--json"], &cfg);
    assert!(dl.status.success(), "{}", text(&dl));
    let rows: Vec<serde_json::Value> = String::from_utf8_lossy(&dl.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["reason"], "event has no event_type_id");
    assert!(rows[0]["raw"].as_str().unwrap().contains("Mystery"));
}
