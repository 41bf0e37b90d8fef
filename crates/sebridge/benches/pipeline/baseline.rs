//! The "just download it" baseline: page through `/v1/events` with `limit=500&offset=N`
//! (following `metadata.links.next`) and append each event's JSON as a line to a file. No
//! journal, no dedup, no cursor, one fsync at the end: the ceiling for a single tenant.

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("building a tokio runtime")
}

/// A plain GET returning the body (for the simulator's admin routes).
pub fn get_text(url: &str) -> Result<String> {
    runtime()?.block_on(async {
        let resp = reqwest::get(url)
            .await
            .with_context(|| format!("GET {url}"))?;
        let status = resp.status();
        let body = resp
            .text()
            .await
            .with_context(|| format!("reading the body of GET {url}"))?;
        if !status.is_success() {
            bail!("GET {url}: {status}: {body}");
        }
        Ok(body)
    })
}

#[derive(Deserialize)]
struct Page<'a> {
    metadata: Metadata,
    #[serde(borrow)]
    data: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
struct Metadata {
    links: Links,
}

#[derive(Deserialize)]
struct Links {
    next: Option<String>,
}

pub struct Credentials {
    pub base_url: String,
    pub client_id: String,
    pub api_key: String,
}

#[derive(Debug)]
pub struct BaselineMeasure {
    /// First request until the file is written and synced.
    pub elapsed: Duration,
    pub requests: u64,
    pub events: u64,
}

/// Downloads every event of the tenant into `out` (created or truncated).
pub fn download(creds: &Credentials, out: &Path, page_size: u32) -> Result<BaselineMeasure> {
    let rt = runtime()?;
    let file = std::fs::File::create(out).with_context(|| format!("creating {}", out.display()))?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .context("building the HTTP client")?;
    let t0 = Instant::now();
    let (mut requests, mut events) = (0u64, 0u64);
    let mut url = format!(
        "{}/v1/events?limit={page_size}",
        creds.base_url.trim_end_matches('/')
    );
    loop {
        let body = rt.block_on(async {
            let resp = client
                .get(&url)
                .basic_auth(&creds.client_id, Some(&creds.api_key))
                .send()
                .await
                .with_context(|| format!("GET {url}"))?;
            let status = resp.status();
            let body = resp
                .bytes()
                .await
                .with_context(|| format!("reading the body of GET {url}"))?;
            if !status.is_success() {
                bail!("GET {url}: {status}: {}", String::from_utf8_lossy(&body));
            }
            Ok(body)
        })?;
        requests += 1;
        let page: Page<'_> =
            serde_json::from_slice(&body).with_context(|| format!("parsing GET {url}"))?;
        for event in &page.data {
            w.write_all(event.get().as_bytes())
                .and_then(|()| w.write_all(b"\n"))
                .with_context(|| format!("writing {}", out.display()))?;
        }
        events += page.data.len() as u64;
        match page.metadata.links.next {
            Some(next) if !page.data.is_empty() => url = next,
            _ => break,
        }
    }
    let file = w
        .into_inner()
        .map_err(|e| e.into_error())
        .with_context(|| format!("writing {}", out.display()))?;
    file.sync_all()
        .with_context(|| format!("syncing {}", out.display()))?;
    Ok(BaselineMeasure {
        elapsed: t0.elapsed(),
        requests,
        events,
    })
}
