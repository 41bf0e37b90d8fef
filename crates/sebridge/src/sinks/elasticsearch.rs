//! Elasticsearch sink: `_bulk` `create` operations into a data stream, one ECS document per
//! event (see [`super::ecs`]), with a deterministic `_id` of `<tenant>:<event id>`.
//!
//! Exactly once in the data stream: a retried bulk meets the same `_id`, which Elasticsearch
//! answers per item with 409 (version conflict), counted as delivered. (A data stream
//! routes by `@timestamp` to its current backing index, so an item retried *across a
//! rollover* could land twice; retries are seconds apart, rollovers days.)
//!
//! Only failed items are retried: items answered 429/5xx are resent (with backoff, honouring
//! a whole-request 429's `Retry-After`), items refused for good (mapping errors and other 4xx)
//! are dead-lettered with Elasticsearch's reason, and the batch is done when every item is
//! either in the index or in `dead_letters`.

use super::ecs::write_ecs;
use super::http::{client, describe, excerpt, gzip_off_thread, retry_after, retryable};
use super::{backoff, Sink, SinkCtx, SinkError};
use crate::config::{ElasticAuth, ElasticsearchSinkConfig};
use crate::store::JournalEntry;
use serde::Deserialize;
use std::ops::Range;
use std::time::Duration;
use tracing::{debug, warn};

/// Attempts at the failed items of one batch inside one `write` before handing back to the
/// runner (whose retry keeps going, without limit).
const ITEM_ATTEMPTS: u32 = 6;

pub struct ElasticsearchSink {
    config: ElasticsearchSinkConfig,
    ctx: SinkCtx,
    http: reqwest::Client,
    bulk_url: String,
    body: Vec<u8>,
}

#[derive(Deserialize)]
struct BulkReply {
    #[serde(default)]
    errors: bool,
    #[serde(default)]
    items: Vec<std::collections::HashMap<String, ItemResult>>,
}

#[derive(Deserialize)]
struct ItemResult {
    status: u16,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

impl ElasticsearchSink {
    pub fn new(config: ElasticsearchSinkConfig, ctx: SinkCtx) -> Result<Self, SinkError> {
        let http = client(config.request_timeout, config.ca_file.as_deref())?;
        let base = config.url.as_str().trim_end_matches('/');
        let mut bulk_url = format!("{base}/{}/_bulk", config.data_stream);
        if let Some(p) = &config.pipeline {
            bulk_url.push_str("?pipeline=");
            bulk_url
                .push_str(&url::form_urlencoded::byte_serialize(p.as_bytes()).collect::<String>());
        }
        Ok(ElasticsearchSink {
            config,
            ctx,
            http,
            bulk_url,
            body: Vec::new(),
        })
    }

    /// The document `_id` of an event.
    pub fn doc_id(entry: &JournalEntry) -> String {
        doc_id(&entry.tenant, entry.event_id)
    }

    fn request(&self, body: Vec<u8>) -> reqwest::RequestBuilder {
        let mut req = self
            .http
            .post(&self.bulk_url)
            .header(reqwest::header::CONTENT_TYPE, "application/x-ndjson");
        if self.config.gzip {
            req = req.header(reqwest::header::CONTENT_ENCODING, "gzip");
        }
        match &self.config.auth {
            ElasticAuth::None => req,
            ElasticAuth::ApiKey(k) => req.header(
                reqwest::header::AUTHORIZATION,
                format!("ApiKey {}", k.expose()),
            ),
            ElasticAuth::Basic { username, password } => {
                req.basic_auth(username, Some(password.expose()))
            }
        }
        .body(body)
    }

    /// Sends the items at `idx`; returns the indexes that should be retried.
    async fn send(
        &mut self,
        batch: &[JournalEntry],
        docs: &Mapped,
        idx: &[usize],
    ) -> Result<Vec<usize>, SinkError> {
        let mut body = std::mem::take(&mut self.body);
        body.clear();
        let mut sent = Vec::with_capacity(idx.len());
        for &i in idx {
            let Some(lines) = docs.lines(i) else { continue };
            body.extend_from_slice(lines);
            sent.push(i);
        }
        if sent.is_empty() {
            self.body = body;
            return Ok(Vec::new());
        }
        let bytes = if self.config.gzip {
            let (b, z) = gzip_off_thread(body).await?;
            body = b;
            z
        } else {
            body.clone()
        };
        self.body = body;
        let resp = self
            .request(bytes)
            .send()
            .await
            .map_err(|e| SinkError::Other(format!("bulk request failed: {}", describe(&e))))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp
            .bytes()
            .await
            .map_err(|e| SinkError::Other(format!("bulk response unreadable: {}", describe(&e))))?;
        if !status.is_success() {
            if status == 429 {
                // Honour the cluster's back-pressure before the runner's own backoff.
                let wait = retry_after(&headers).unwrap_or(Duration::from_secs(1));
                tokio::time::sleep(wait).await;
            }
            let kind = if retryable(status) {
                "will retry"
            } else {
                "needs a fix (retrying slowly)"
            };
            return Err(SinkError::Other(format!(
                "bulk answered {status} — {kind}: {}",
                excerpt(&text)
            )));
        }
        let reply: BulkReply = serde_json::from_slice(&text).map_err(|e| {
            SinkError::Other(format!(
                "bulk response is not a bulk reply ({e}): {}",
                excerpt(&text)
            ))
        })?;
        if reply.items.len() != sent.len() {
            return Err(SinkError::Other(format!(
                "bulk response has {} items for {} operations",
                reply.items.len(),
                sent.len()
            )));
        }
        let mut retry = Vec::new();
        if !reply.errors {
            return Ok(retry);
        }
        for (item, &i) in reply.items.iter().zip(&sent) {
            let Some(r) = item.values().next() else {
                retry.push(i);
                continue;
            };
            match r.status {
                200..=299 | 409 => {} // 409: already there (an earlier try got through)
                429 | 500..=599 => retry.push(i),
                _ => {
                    let reason = r
                        .error
                        .as_ref()
                        .map(|e| e.to_string())
                        .unwrap_or_else(|| format!("status {}", r.status));
                    self.ctx
                        .dead_letter(
                            &batch[i],
                            &format!(
                                "Elasticsearch refused the document ({}): {reason}",
                                r.status
                            ),
                        )
                        .await?;
                }
            }
        }
        Ok(retry)
    }
}

/// A batch's bulk lines (`create` action and ECS document, each ending in `\n`), written
/// once and copied into the body of the first request and of any retry.
struct Mapped {
    /// One buffer per mapping thread.
    bufs: Vec<Vec<u8>>,
    /// Per batch entry: (buffer, range) of its lines; `None` when it could not be mapped.
    spans: Vec<Option<(usize, Range<usize>)>>,
}

impl Mapped {
    fn lines(&self, i: usize) -> Option<&[u8]> {
        let (b, r) = self.spans.get(i)?.as_ref()?;
        self.bufs.get(*b)?.get(r.clone())
    }

    fn is_mapped(&self, i: usize) -> bool {
        self.spans.get(i).is_some_and(Option::is_some)
    }
}

fn doc_id(tenant: &str, event_id: u64) -> String {
    format!("{tenant}:{event_id}")
}

/// Writes the bulk lines of `part` into `buf`; the range of each entry's lines.
fn map_part(
    part: &[(String, u64, std::sync::Arc<str>)],
    data_stream: &str,
    buf: &mut Vec<u8>,
) -> Vec<Option<Range<usize>>> {
    // Documents are about twice the event (they keep `event.original`).
    buf.reserve(part.iter().map(|(_, _, raw)| raw.len() * 2 + 64).sum());
    part.iter()
        .map(|(tenant, event_id, raw)| {
            let start = buf.len();
            buf.extend_from_slice(b"{\"create\":{\"_id\":");
            let id = doc_id(tenant, *event_id);
            // Writing a string into a Vec cannot fail.
            if serde_json::to_writer(&mut *buf, &id).is_err() {
                buf.truncate(start);
                return None;
            }
            buf.extend_from_slice(b"}}\n");
            if !write_ecs(raw, tenant, data_stream, buf) {
                buf.truncate(start);
                return None;
            }
            buf.push(b'\n');
            Some(start..buf.len())
        })
        .collect()
}

/// The bulk lines of a batch, mapped on blocking threads, split across the cores (mapping
/// is the CPU-heavy part of this sink; the async workers stay free).
async fn map_documents(batch: &[JournalEntry], data_stream: &str) -> Result<Mapped, SinkError> {
    let input: Vec<(String, u64, std::sync::Arc<str>)> = batch
        .iter()
        .map(|e| (e.tenant.clone(), e.event_id, e.raw.clone()))
        .collect();
    let ds = data_stream.to_string();
    let n = batch.len();
    tokio::task::spawn_blocking(move || {
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .clamp(1, 4);
        let chunk = input.len().div_ceil(threads).max(64);
        let map = |part: &[(String, u64, std::sync::Arc<str>)]| {
            let mut buf = Vec::new();
            let spans = map_part(part, &ds, &mut buf);
            (buf, spans)
        };
        let parts = if input.len() <= chunk {
            vec![map(&input)]
        } else {
            std::thread::scope(|scope| {
                let handles: Vec<_> = input
                    .chunks(chunk)
                    .skip(1)
                    .map(|part| scope.spawn(move || map(part)))
                    .collect();
                let mut out = vec![map(&input[..chunk])];
                for h in handles {
                    // A panic in mapping is a bug; surface it as a failed batch, not a crash.
                    out.extend(h.join().ok());
                }
                out
            })
        };
        let mut mapped = Mapped {
            bufs: Vec::with_capacity(parts.len()),
            spans: Vec::with_capacity(n),
        };
        for (b, (buf, spans)) in parts.into_iter().enumerate() {
            mapped.bufs.push(buf);
            mapped
                .spans
                .extend(spans.into_iter().map(|s| s.map(|r| (b, r))));
        }
        mapped
    })
    .await
    .map_err(|e| SinkError::Other(format!("ECS mapping task failed: {e}")))
    .and_then(|docs| {
        if docs.spans.len() == n {
            Ok(docs)
        } else {
            Err(SinkError::Other(
                "ECS mapping lost documents (a mapping thread panicked)".into(),
            ))
        }
    })
}

impl Sink for ElasticsearchSink {
    fn kind(&self) -> &'static str {
        "elasticsearch"
    }

    async fn open(&mut self, _state: Option<&str>) -> Result<(), SinkError> {
        Ok(())
    }

    async fn write(&mut self, batch: &[JournalEntry]) -> Result<Option<String>, SinkError> {
        let docs = map_documents(batch, &self.config.data_stream).await?;
        for (i, e) in batch.iter().enumerate() {
            if !docs.is_mapped(i) {
                self.ctx
                    .dead_letter(e, "not a JSON object; cannot map it to ECS")
                    .await?;
            }
        }
        let mut todo: Vec<usize> = (0..batch.len()).collect();
        let mut attempt = 0u32;
        while !todo.is_empty() {
            let retry = self.send(batch, &docs, &todo).await?;
            if retry.is_empty() {
                break;
            }
            attempt += 1;
            debug!(sink = %self.ctx.name, items = retry.len(), attempt, "retrying failed bulk items");
            if attempt >= ITEM_ATTEMPTS {
                // Hand back to the runner: the whole batch is tried again later; items
                // already in the index answer 409 then.
                return Err(SinkError::Other(format!(
                    "{} of {} bulk items still failing after {attempt} attempts",
                    retry.len(),
                    batch.len()
                )));
            }
            if attempt == 1 {
                warn!(sink = %self.ctx.name, items = retry.len(), of = batch.len(), "some bulk items failed; retrying only those");
            }
            tokio::time::sleep(backoff(
                Duration::from_millis(200),
                Duration::from_secs(10),
                attempt,
            ))
            .await;
            todo = retry;
        }
        Ok(None)
    }
}
