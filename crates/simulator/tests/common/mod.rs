//! Helpers shared by the integration tests: start a simulator, talk to it over real HTTP.
#![allow(dead_code)]

use std::path::PathBuf;

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use simulator::{SimConfig, SimHandle, TenantInfo};

/// A quiet simulator: no live generation, no history.
pub fn quiet(tenants: usize) -> SimConfig {
    SimConfig {
        tenants,
        rate: 0.0,
        ..SimConfig::default()
    }
}

pub async fn start(cfg: SimConfig) -> SimHandle {
    simulator::start(cfg).await.expect("simulator starts")
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client builds")
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
}

/// A request as `tenant` (None = no credentials). `url` may be a path or an absolute URL.
pub async fn call(
    sim: &SimHandle,
    tenant: Option<&TenantInfo>,
    method: Method,
    url: &str,
    body: Option<&str>,
) -> Resp {
    let full = if url.starts_with("http") {
        url.to_string()
    } else {
        format!("{}{}", sim.base_url(), url)
    };
    let mut req = http().request(method, &full);
    if let Some(t) = tenant {
        req = req.basic_auth(&t.client_id, Some(&t.api_key));
    }
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    let resp = req.send().await.expect("request sent");
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.expect("body read");
    Resp {
        status,
        headers,
        text,
    }
}

pub async fn get(sim: &SimHandle, tenant: &TenantInfo, url: &str) -> Resp {
    call(sim, Some(tenant), Method::GET, url, None).await
}

/// Asserts the real error envelope and returns its details.
pub fn assert_error_envelope(r: &Resp, status: u16, description: &str) -> Vec<String> {
    assert_eq!(r.status.as_u16(), status, "body: {}", r.text);
    let v = r.json();
    assert_eq!(v["version"], "v1.2.0");
    assert!(v["metadata"]["links"]["self"].is_string(), "{v}");
    assert_eq!(v["data"], serde_json::json!({}));
    let errs = v["errors"].as_array().expect("errors array");
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0]["error_code"], status);
    assert_eq!(errs[0]["description"], description);
    errs[0]["details"]
        .as_array()
        .expect("details")
        .iter()
        .map(|d| d.as_str().unwrap_or_default().to_string())
        .collect()
}

/// A minimal event with the given fields, as a JSON text.
pub fn raw_event(id: u64, ts: i64, ns: u32, type_id: u32) -> String {
    format!(
        r#"{{"id":{id},"timestamp":{ts},"timestamp_nanoseconds":{ns},"date":"x","event_type":"T","event_type_id":{type_id}}}"#
    )
}

pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/secure-endpoint")
}

/// The raw text of the `"data"` value of a fixture file (byte for byte).
pub fn fixture_data_text(name: &str) -> String {
    #[derive(serde::Deserialize)]
    struct Wrapper<'a> {
        #[serde(borrow)]
        data: &'a serde_json::value::RawValue,
    }
    let path = fixtures_dir().join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let w: Wrapper<'_> = serde_json::from_str(&text).expect("fixture parses");
    w.data.get().to_string()
}

/// The raw texts of the items of `data` in an events page (byte for byte).
pub fn page_item_texts(body: &str) -> Vec<String> {
    #[derive(serde::Deserialize)]
    struct Page<'a> {
        #[serde(borrow)]
        data: Vec<&'a serde_json::value::RawValue>,
    }
    let p: Page<'_> = serde_json::from_str(body).expect("page parses");
    p.data.iter().map(|r| r.get().to_string()).collect()
}

/// `(timestamp, timestamp_nanoseconds)` of every event in a page.
pub fn page_keys(v: &Value) -> Vec<(i64, u64)> {
    v["data"]
        .as_array()
        .expect("data array")
        .iter()
        .map(|e| {
            (
                e["timestamp"].as_i64().expect("timestamp"),
                e["timestamp_nanoseconds"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

pub fn page_ids(v: &Value) -> Vec<Option<u64>> {
    v["data"]
        .as_array()
        .expect("data array")
        .iter()
        .map(|e| e["id"].as_u64())
        .collect()
}
