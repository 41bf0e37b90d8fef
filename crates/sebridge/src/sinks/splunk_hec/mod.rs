//! Splunk HTTP Event Collector sink: `POST /services/collector/event`, a batch of
//! concatenated event objects per request, gzip, `Authorization: Splunk <token>`.
//!
//! Each event is sent as the Cisco add-ons expect it: sourcetype `cisco:amp:event` and
//! `"event": {"event": <vendor JSON>}` (the Events Input app wraps the vendor event under
//! `event`, and the CIM add-on's field aliases all start with `event.`), so existing searches
//! and dashboards keep working. `time` is the event time with milliseconds; `fields.tenant`
//! is an index-time field naming the tenant. With `format = "ocsf"` the HEC `event` is the OCSF
//! event itself, under sourcetype `cisco:amp:ocsf` unless one is configured.
//!
//! Delivery: at least once. Without indexer acknowledgement, HTTP 200 means Splunk accepted
//! the batch (it may still lose it if an indexer dies before writing). With `ack = true` the
//! sink sends a channel GUID, waits for `/services/collector/ack` to confirm the batch's
//! `ackId`, and resends a batch not confirmed within `ack_timeout` (so a slow indexer can
//! cause duplicates, never losses). An event Splunk refuses as malformed (code 6,
//! `invalid-event-number`) is dead-lettered and the rest resent.

pub mod config;
use crate::config::HecSinkConfig;
use crate::sinks::util::config::EventFormat;
use crate::sinks::util::http::{
    client, describe, excerpt, gzip_off_thread, retry_after, retryable,
};
use crate::sinks::util::ocsf::write_ocsf;
use crate::sinks::util::render::push_json_str;
use crate::sinks::util::view::{event_millis, EventView};
use crate::sinks::util::{Sink, SinkCtx, SinkError};
use crate::store::JournalEntry;
use serde::Deserialize;
use std::time::{Duration, Instant};
use tracing::warn;

pub struct HecSink {
    config: HecSinkConfig,
    ctx: SinkCtx,
    http: reqwest::Client,
    event_url: String,
    ack_url: String,
    channel: String,
    body: String,
}

#[derive(Deserialize, Debug, Default)]
struct Reply {
    #[serde(default)]
    text: String,
    #[serde(default)]
    code: Option<i64>,
    #[serde(default, rename = "ackId")]
    ack_id: Option<u64>,
    #[serde(default, rename = "invalid-event-number")]
    invalid_event_number: Option<usize>,
}

#[derive(Deserialize, Debug, Default)]
struct AckReply {
    #[serde(default)]
    acks: std::collections::HashMap<String, bool>,
}

impl HecSink {
    pub fn new(config: HecSinkConfig, ctx: SinkCtx) -> Result<HecSink, SinkError> {
        let http = client(config.request_timeout, config.ca_file.as_deref())?;
        let base = config.url.as_str().trim_end_matches('/').to_string();
        Ok(HecSink {
            event_url: format!("{base}/services/collector/event"),
            ack_url: format!("{base}/services/collector/ack"),
            channel: uuid::Uuid::new_v4().to_string(),
            config,
            ctx,
            http,
            body: String::new(),
        })
    }

    /// Appends one HEC event object.
    pub fn render(&self, entry: &JournalEntry, out: &mut String) {
        let view = EventView::parse(&entry.raw);
        let ms = event_millis(entry, &view);
        out.push_str("{\"time\":");
        out.push_str(&format!(
            "{}.{:03}",
            ms.div_euclid(1000),
            ms.rem_euclid(1000)
        ));
        if let Some(h) = &self.config.host {
            out.push_str(",\"host\":");
            push_json_str(out, h);
        }
        if let Some(s) = &self.config.source {
            out.push_str(",\"source\":");
            push_json_str(out, s);
        }
        out.push_str(",\"sourcetype\":");
        push_json_str(out, &self.config.sourcetype);
        if let Some(i) = &self.config.index {
            out.push_str(",\"index\":");
            push_json_str(out, i);
        }
        out.push_str(",\"fields\":{\"tenant\":");
        push_json_str(out, &entry.tenant);
        match self.config.format {
            EventFormat::Json => {
                out.push_str("},\"event\":{\"event\":");
                out.push_str(entry.raw.trim());
                out.push_str("}}\n");
            }
            // The OCSF event is the HEC event itself (its own sourcetype, see config).
            EventFormat::Ocsf => {
                out.push_str("},\"event\":");
                write_ocsf(entry, out);
                out.push_str("}\n");
            }
        }
    }

    fn request(&self, url: &str, body: Vec<u8>, gzipped: bool) -> reqwest::RequestBuilder {
        let mut req = self
            .http
            .post(url)
            .header(
                reqwest::header::AUTHORIZATION,
                format!("Splunk {}", self.config.token.expose()),
            )
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        if gzipped {
            req = req.header(reqwest::header::CONTENT_ENCODING, "gzip");
        }
        if self.config.ack {
            req = req.header("X-Splunk-Request-Channel", &self.channel);
        }
        req.body(body)
    }

    /// Sends `batch` once. Ok(None): accepted (and acknowledged when enabled);
    /// Ok(Some(i)): event i was refused as malformed.
    async fn send(&mut self, batch: &[&JournalEntry]) -> Result<Option<usize>, SinkError> {
        let mut body = std::mem::take(&mut self.body);
        body.clear();
        for e in batch {
            self.render(e, &mut body);
        }
        let bytes = if self.config.gzip {
            let (b, z) = gzip_off_thread(body).await?;
            body = b;
            z
        } else {
            body.as_bytes().to_vec()
        };
        self.body = body;
        let resp = self
            .request(&self.event_url, bytes, self.config.gzip)
            .send()
            .await
            .map_err(|e| SinkError::Other(format!("HEC request failed: {}", describe(&e))))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp
            .bytes()
            .await
            .map_err(|e| SinkError::Other(format!("HEC response unreadable: {}", describe(&e))))?;
        let reply: Reply = serde_json::from_slice(&text).unwrap_or_default();
        if status.is_success() && reply.code.unwrap_or(0) == 0 {
            if self.config.ack {
                match reply.ack_id {
                    Some(id) => self.wait_ack(id).await?,
                    None => {
                        return Err(SinkError::Other(
                            "HEC accepted the batch without an ackId: is indexer acknowledgement enabled on the token? (set ack = false otherwise)".into(),
                        ))
                    }
                }
            }
            return Ok(None);
        }
        if status == 400 && reply.code == Some(6) {
            if let Some(n) = reply.invalid_event_number.filter(|n| *n < batch.len()) {
                return Ok(Some(n));
            }
        }
        let wait = retry_after(&headers);
        let kind = if retryable(status) {
            "will retry"
        } else {
            "needs a fix (retrying slowly)"
        };
        if let Some(w) = wait {
            tokio::time::sleep(w.min(Duration::from_secs(30))).await;
        }
        Err(SinkError::Other(format!(
            "HEC answered {status} (code {}: {}) — {kind}: {}",
            reply.code.map_or("-".to_string(), |c| c.to_string()),
            reply.text,
            excerpt(&text)
        )))
    }

    async fn wait_ack(&self, id: u64) -> Result<(), SinkError> {
        let started = Instant::now();
        let mut delay = Duration::from_millis(100);
        loop {
            let body = format!("{{\"acks\":[{id}]}}").into_bytes();
            let resp = self.request(&self.ack_url, body, false).send().await;
            if let Ok(resp) = resp {
                if resp.status().is_success() {
                    let r: AckReply = resp.json().await.unwrap_or_default();
                    if r.acks.get(&id.to_string()).copied().unwrap_or(false) {
                        return Ok(());
                    }
                }
            }
            if started.elapsed() >= self.config.ack_timeout {
                return Err(SinkError::Other(format!(
                    "HEC did not acknowledge ackId {id} within {:?}; resending the batch",
                    self.config.ack_timeout
                )));
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(2));
        }
    }
}

impl Sink for HecSink {
    fn kind(&self) -> &'static str {
        "splunk_hec"
    }

    async fn write(&mut self, batch: &[JournalEntry]) -> Result<Option<String>, SinkError> {
        let mut rest: Vec<&JournalEntry> = batch.iter().collect();
        while !rest.is_empty() {
            match self.send(&rest).await? {
                None => break,
                Some(bad) => {
                    warn!(sink = %self.ctx.name, "HEC refused one event as malformed; dead-lettering it and resending the rest");
                    let entry = rest.remove(bad);
                    self.ctx
                        .dead_letter(entry, "Splunk HEC: invalid data format (code 6)")
                        .await?;
                }
            }
        }
        Ok(None)
    }
}
