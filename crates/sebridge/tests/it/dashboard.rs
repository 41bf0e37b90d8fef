//! The dashboard in a real browser (Debian's headless Chromium, installed by scripts/test):
//! against a running `sebridge demo`, the numbers it shows are those of `/status`, and a
//! screenshot is kept as a test artifact; with a thousand tenants it shows one page of 50
//! at a time, and a filter in the URL finds one tenant.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn chromium() -> PathBuf {
    for p in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!("Chromium is missing: scripts/test installs Debian's `chromium` package (apt-get install chromium)");
}

/// Runs headless Chromium on `url` with its own profile; `what` is `--dump-dom` or
/// `--screenshot=PATH`. Scripts run (and their timers fire) for a few seconds first.
fn browse(url: &str, what: &str) -> String {
    let profile = tempfile::tempdir().expect("profile dir");
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--window-size=1400,1600",
            "--virtual-time-budget=6000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(what)
        .arg(url)
        .output()
        .expect("chromium runs");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `<tr data-tenant="T" data-source="S">…<td … data-field="F">V</td>…` of a DOM dump.
fn cells(dom: &str, row_attr: &str) -> Vec<(String, Vec<(String, String)>)> {
    let mut rows = Vec::new();
    for chunk in dom.split("<tr ").skip(1) {
        let head = &chunk[..chunk.find('>').unwrap_or(0)];
        let Some(key) = attr(head, row_attr) else {
            continue;
        };
        let key = match attr(head, "data-source") {
            Some(src) => format!("{key}/{src}"),
            None => key,
        };
        let body = &chunk[..chunk.find("</tr>").unwrap_or(chunk.len())];
        let mut fields = Vec::new();
        for td in body.split("<td").skip(1) {
            let tag_end = td.find('>').unwrap_or(0);
            if let Some(f) = attr(&td[..tag_end], "data-field") {
                let text = &td[tag_end + 1..td.find("</td>").unwrap_or(td.len())];
                fields.push((f, unescape(text)));
            }
        }
        rows.push((key, fields));
    }
    rows
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
    let len = tag[start..].find('"')?;
    Some(unescape(&tag[start..start + len]))
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

async fn status(base: &str) -> Value {
    reqwest::get(format!("{base}/status"))
        .await
        .expect("GET /status")
        .json()
        .await
        .expect("status JSON")
}

/// The browser blocks: off the runtime's threads.
async fn browse_async(url: String, what: String) -> String {
    tokio::task::spawn_blocking(move || browse(&url, &what))
        .await
        .expect("browser thread")
}

fn tenant<'a>(s: &'a Value, key: &str) -> &'a Value {
    s["tenants"]
        .as_array()
        .expect("tenants")
        .iter()
        .find(|t| {
            format!(
                "{}/{}",
                t["tenant"].as_str().unwrap_or(""),
                t["source"].as_str().unwrap_or("")
            ) == key
        })
        .unwrap_or_else(|| panic!("/status has no tenant {key}"))
}

fn num(v: &Value) -> i64 {
    v.as_i64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// A shown counter is between what /status said just before and just after the page.
fn between(shown: &str, before: &Value, after: &Value, what: &str) {
    let shown: i64 = shown
        .parse()
        .unwrap_or_else(|_| panic!("{what}: {shown:?}"));
    let (a, b) = (num(before), num(after));
    let (lo, hi) = (a.min(b), a.max(b));
    assert!(
        lo <= shown && shown <= hi,
        "{what}: page shows {shown}, /status {a}..{b}"
    );
}

struct Demo(Child);

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

fn start_demo(dir: &Path) -> (Demo, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sebridge"))
        .env_remove("SEBRIDGE_MASTER_KEY")
        .env("SEBRIDGE_LOG", "warn")
        .args([
            "demo",
            "--duration",
            "300s",
            "--listen",
            "127.0.0.1:0",
            "--history",
            "300",
        ])
        .arg("--dir")
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("demo starts");
    let stdout = child.stdout.take().expect("stdout");
    let demo = Demo(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("dashboard: ").nth(1) {
                let url = rest
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .trim_end_matches('/');
                let _ = tx.send(url.to_string());
            }
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(120))
        .expect("the demo prints its dashboard address");
    (demo, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_of_a_running_demo_shows_what_status_says() {
    let dir = tempfile::tempdir().expect("dir");
    let (_demo, base) = start_demo(dir.path());
    // Caught up: every tenant polled once and each sink delivered something.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let s = status(&base).await;
        let polled = s["tenants"].as_array().is_some_and(|t| {
            !t.is_empty()
                && t.iter()
                    .all(|t| num(&t["events_ingested"]) > 0 || t["source"] != "poll")
        });
        let delivered = s["sinks"]
            .as_array()
            .is_some_and(|k| !k.is_empty() && k.iter().all(|k| num(&k["events_written"]) > 0));
        if polled && delivered {
            break;
        }
        assert!(Instant::now() < deadline, "demo not caught up: {s}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    let before = status(&base).await;
    let dom = browse_async(format!("{base}/"), "--dump-dom".into()).await;
    let after = status(&base).await;
    assert!(
        dom.contains("data-loaded=\"1\""),
        "the page loaded its data: {dom}"
    );
    let head: i64 = attr(
        &dom[dom.find("<body").expect("body")..],
        "data-journal-head",
    )
    .expect("journal head on the page")
    .parse()
    .expect("number");
    between(
        &head.to_string(),
        &before["journal_head"],
        &after["journal_head"],
        "journal head",
    );
    let tenants = cells(&dom, "data-tenant");
    let poll_rows = tenants.iter().filter(|(k, _)| k.contains('/')).count();
    assert_eq!(
        poll_rows,
        after["tenants"].as_array().expect("tenants").len(),
        "a row per tenant and source"
    );
    for (key, fields) in tenants.iter().filter(|(k, _)| k.contains('/')) {
        let (b, a) = (tenant(&before, key), tenant(&after, key));
        for (f, v) in fields {
            match f.as_str() {
                "events_ingested" | "requests" => between(v, &b[f], &a[f], &format!("{key} {f}")),
                "rate_limit_remaining" if !a[f].is_null() => {
                    between(v, &b[f], &a[f], &format!("{key} {f}"))
                }
                "state" => assert_eq!(
                    v.replace(' ', "_"),
                    a["state"].as_str().unwrap_or(""),
                    "{key}"
                ),
                _ => {}
            }
        }
    }
    let sinks = cells(&dom, "data-sink");
    assert_eq!(sinks.len(), after["sinks"].as_array().expect("sinks").len());
    for (name, fields) in &sinks {
        let find = |s: &Value| {
            s["sinks"]
                .as_array()
                .and_then(|k| k.iter().find(|k| k["sink"] == name.as_str()).cloned())
                .unwrap_or_else(|| panic!("/status has no sink {name}"))
        };
        let (b, a) = (find(&before), find(&after));
        for (f, v) in fields {
            match f.as_str() {
                "events_written" | "retries" | "events_dead_lettered" => {
                    between(v, &b[f], &a[f], &format!("{name} {f}"))
                }
                "healthy" => assert_eq!(v == "ok", a["healthy"] == true, "{name}"),
                _ => {}
            }
        }
    }
    // The demo opens incidents: the table and its summary are on the page, and an
    // incident's audit trail opens from the URL (as from a click on its row).
    assert!(dom.contains("data-incident=\""), "incidents listed");
    assert!(dom.contains("ServiceNow"), "incident summary");
    let detail = browse_async(format!("{base}/#incident=1"), "--dump-dom".into()).await;
    let shown_title = detail
        .split("id=\"incident-title\">")
        .nth(1)
        .and_then(|t| t.split('<').next())
        .unwrap_or("");
    assert!(shown_title.starts_with("#1 "), "{shown_title:?}");
    for action in ["opened", "snow_created"] {
        assert!(
            detail.contains(&format!("data-audit=\"{action}\"")),
            "audit trail lacks {action}"
        );
    }

    // The screenshot, kept as an artifact of the test run.
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard");
    std::fs::create_dir_all(&shots).expect("artifact dir");
    let png = shots.join("demo.png");
    let _ = std::fs::remove_file(&png);
    browse_async(
        format!("{base}/"),
        format!("--screenshot={}", png.display()),
    )
    .await;
    let bytes = std::fs::read(&png).expect("screenshot written");
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
    assert!(
        bytes.len() > 20_000,
        "a real page, not a blank one: {} bytes",
        bytes.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_tenants_are_paged_and_filtered() {
    let sim = simulator::start(simulator::SimConfig {
        tenants: 1000,
        rate: 0.0,
        history: 2,
        ..simulator::SimConfig::default()
    })
    .await
    .expect("simulator");
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("sebridge.toml");
    sim.write_config(&path).expect("config");
    let mut config = sebridge::config::Config::load(&path).expect("config valid");
    for s in config.sources.values_mut() {
        if let sebridge::config::SourceConfig::Poll(p) = s {
            p.interval = Duration::from_secs(3600);
        }
    }
    let topology = sebridge::topology::Topology::start(
        &config,
        Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0))),
    )
    .await
    .expect("topology");
    let base = format!("http://{}", topology.http_addr.expect("listening"));
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let s = status(&base).await;
        let tenants = s["tenants"].as_array().map_or(0, Vec::len);
        let polled = s["tenants"]
            .as_array()
            .is_some_and(|t| t.iter().all(|t| num(&t["requests"]) > 0));
        if tenants == 1000 && polled {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "1000 tenants not polled: {tenants}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let first = browse_async(format!("{base}/"), "--dump-dom".into()).await;
    let last = browse_async(format!("{base}/#page=20"), "--dump-dom".into()).await;
    let filtered = browse_async(format!("{base}/#filter=tenant-999"), "--dump-dom".into()).await;
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard");
    std::fs::create_dir_all(&shots).expect("artifact dir");
    let png = shots.join("1000-tenants.png");
    browse_async(
        format!("{base}/"),
        format!("--screenshot={}", png.display()),
    )
    .await;
    assert!(
        std::fs::read(&png).is_ok_and(|b| b.starts_with(b"\x89PNG")),
        "screenshot"
    );
    let rows = |dom: &str| cells(dom, "data-tenant").len();
    assert_eq!(rows(&first), 50, "one page of 50");
    assert!(first.contains("1–50 of 1000"), "pager");
    let names: Vec<String> = cells(&first, "data-tenant")
        .into_iter()
        .map(|(k, _)| k.split('/').next().unwrap_or("").to_string())
        .collect();
    assert_eq!(
        names[..3],
        ["tenant-1", "tenant-2", "tenant-3"],
        "numeric order"
    );
    assert_eq!(rows(&last), 50);
    assert!(last.contains("951–1000 of 1000"), "last page");
    assert_eq!(rows(&filtered), 1, "the filter finds one tenant");
    assert!(filtered.contains("data-tenant=\"tenant-999\""));
    assert!(filtered.contains("1–1 of 1"));
    topology.stop().await;
    sim.shutdown().await;
}
