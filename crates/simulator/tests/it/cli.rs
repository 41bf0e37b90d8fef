//! The `sebridge-sim` binary: startup line, --write-config, signals, exit codes.

use crate::common;

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_sebridge-sim");

async fn first_line(child: &mut Child) -> String {
    let stdout = child.stdout.take().expect("stdout piped");
    let mut lines = BufReader::new(stdout).lines();
    tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .expect("startup line in time")
        .expect("stdout readable")
        .expect("a line")
}

fn signal(child: &Child, sig: &str) {
    let pid = child.id().expect("running").to_string();
    let st = std::process::Command::new("kill")
        .args([sig, &pid])
        .status()
        .expect("kill runs");
    assert!(st.success());
}

async fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("exits in time")
        .expect("wait works")
}

#[tokio::test]
async fn starts_writes_config_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let cfg_path = dir.path().join("conf/sebridge.toml");
    let mut child = Command::new(BIN)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--tenants",
            "2",
            "--history",
            "50",
            "--rate",
            "0",
        ])
        .arg("--write-config")
        .arg(&cfg_path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("binary starts");
    let line = first_line(&mut child).await;
    let base = line
        .strip_prefix("sebridge-sim listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    assert!(!base.ends_with(":0"));

    // The config exists before the line is printed and points at this simulator.
    let text = std::fs::read_to_string(&cfg_path).expect("config written");
    let doc: toml_edit::DocumentMut = text.parse().expect("valid TOML");
    let t1 = &doc["tenants"]["tenant-2"];
    assert_eq!(t1["base_url"].as_str(), Some(base.as_str()));
    let (id, key) = (
        t1["client_id"].as_str().unwrap().to_string(),
        t1["api_key"].as_str().unwrap().to_string(),
    );
    assert!(doc["sources"]["poll"]["since"].is_str());
    let r = common::http()
        .get(format!("{base}/v1/events?limit=1"))
        .basic_auth(id, Some(key))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["metadata"]["results"]["total"], 50);

    signal(&child, "-TERM");
    let st = wait_exit(&mut child).await;
    assert_eq!(st.code(), Some(0));
}

#[tokio::test]
async fn events_file_run_stops_on_sigint_and_bad_file_fails() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.jsonl");
    std::fs::write(
        &good,
        common::raw_event(5, 1_600_000_000, 0, 553648130) + "\n",
    )
    .unwrap();
    let mut child = Command::new(BIN)
        .arg("--events-file")
        .arg(&good)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let line = first_line(&mut child).await;
    let base = line.rsplit(' ').next().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(400)).await;
    // Live generation is off with --events-file (no --rate): exactly the file's event.
    let stats: simulator::SimStats = common::http()
        .get(format!("{base}/_sim/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(stats.tenants.iter().all(|t| t.events_stored == 1));
    assert_eq!(stats.tenants.len(), 3);
    signal(&child, "-INT");
    assert_eq!(wait_exit(&mut child).await.code(), Some(0));

    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"timestamp\":1}\n\n\"just a string\"\n").unwrap();
    let out = Command::new(BIN)
        .arg("--events-file")
        .arg(&bad)
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.jsonl:3:"), "{err}");
    assert!(out.stdout.is_empty());
}

#[tokio::test]
async fn the_sentinel_receiver_is_served_from_the_command_line() {
    let mut child = Command::new(BIN)
        .args(["--listen", "127.0.0.1:0", "--tenants", "1", "--rate", "0"])
        .args(["--sentinel-listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("binary starts");
    let stdout = child.stdout.take().expect("stdout piped");
    let mut lines = BufReader::new(stdout).lines();
    let mut receiver = None;
    loop {
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("lines in time")
            .expect("stdout readable")
            .expect("a line");
        if line.starts_with("sebridge-sim listening on ") {
            break;
        }
        if let Some(rest) = line.strip_prefix("sentinel receiver listening on ") {
            receiver = Some(rest.to_string());
        }
    }
    let line = receiver.expect("the receiver's line comes before the simulator's");
    let field = |name: &str| -> String {
        line.split(&format!("{name} "))
            .nth(1)
            .and_then(|r| r.split([',', ')']).next())
            .unwrap_or_else(|| panic!("{name} in {line:?}"))
            .to_string()
    };
    let url = line.split_whitespace().next().expect("url").to_string();
    let http = common::http();
    let token: serde_json::Value = http
        .post(field("token_url"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", field("client_id").as_str()),
            (
                "client_secret",
                "sim~Sentinel.ClientSecret-0123456789abcdef",
            ),
            ("scope", simulator::receivers::sentinel::SCOPE),
        ])
        .send()
        .await
        .expect("token endpoint")
        .json()
        .await
        .expect("token JSON");
    let access = token["access_token"].as_str().expect("a token");
    let r = http
        .post(format!(
            "{url}/dataCollectionRules/{}/streams/{}?api-version={}",
            field("dcr_immutable_id"),
            simulator::receivers::sentinel::CONNECTOR_STREAM,
            simulator::receivers::sentinel::API_VERSION
        ))
        .bearer_auth(access)
        .json(&serde_json::json!([{"id": 1, "event_type": "Threat Detected"}]))
        .send()
        .await
        .expect("ingestion");
    assert_eq!(r.status(), 204);
    signal(&child, "-TERM");
    assert_eq!(wait_exit(&mut child).await.code(), Some(0));
}
