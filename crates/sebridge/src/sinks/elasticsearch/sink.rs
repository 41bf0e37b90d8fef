//! Elasticsearch sink: `_bulk` `create` operations into a data stream, one ECS document per
//! event (see [`super::ecs`]), with a deterministic `_id` of `<tenant>:<event id>`.
//!
//! Exactly once in the data stream: a retried bulk meets the same `_id`, which Elasticsearch
//! answers per item with 409 (version conflict), counted as delivered. (A data stream
//! routes by `@timestamp` to its current backing index, so an item retried *across a
//! rollover* could land twice; retries are seconds apart, rollovers days.)
//!
//! A batch goes out as concurrent bulk requests, one part per core, each sent as soon as it
//! is mapped and compressed on its own blocking thread, so the cluster indexes several
//! requests at once.
//!
//! Only failed items are retried: items answered 429/5xx are resent (with backoff, honouring
//! a whole-request 429's `Retry-After`), items refused for good (mapping errors and other 4xx)
//! are dead-lettered with Elasticsearch's reason, and the batch is done when every item is
//! either in the index or in `dead_letters`. When a request fails as a whole, the sink
//! remembers which items of the batch got in, and the runner's retry sends only the rest.

use super::ecs::write_ecs;
use crate::config::{ElasticAuth, ElasticsearchSinkConfig};
use crate::sinks::util::batch::Progress;
use crate::sinks::util::http::{
    client, describe, excerpt, gzip, gzip_off_thread, retry_after, retryable,
};
use crate::sinks::util::retry::backoff;
use crate::sinks::util::{Sink, SinkCtx, SinkError};
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
    /// What got in of a batch whose `write` failed.
    progress: Option<Progress>,
    /// The part buffers of the last batch, for the next.
    spare: Vec<Vec<u8>>,
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
            progress: None,
            spare: Vec::new(),
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

    /// Sends the items at `idx` (retries: one request); returns the indexes to retry.
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
        let reply = self.post(bytes, sent.len()).await?;
        self.classify(batch, &sent, reply).await
    }

    /// POSTs a bulk body of `n` operations; the reply, checked to answer each of them.
    async fn post(&self, body: Vec<u8>, n: usize) -> Result<BulkReply, SinkError> {
        let resp = self
            .request(body)
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
        if reply.items.len() != n {
            return Err(SinkError::Other(format!(
                "bulk response has {} items for {n} operations",
                reply.items.len(),
            )));
        }
        Ok(reply)
    }

    /// Sorts the answers to the items at `sent`: delivered, to retry (returned), or refused
    /// for good (dead-lettered with Elasticsearch's reason).
    async fn classify(
        &self,
        batch: &[JournalEntry],
        sent: &[usize],
        reply: BulkReply,
    ) -> Result<Vec<usize>, SinkError> {
        let mut retry = Vec::new();
        if !reply.errors {
            return Ok(retry);
        }
        for (item, &i) in reply.items.iter().zip(sent) {
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

    /// The first attempt at a batch (its items not `done` yet): one part per core, each
    /// mapped and compressed on its own blocking thread and POSTed as soon as it is ready, so
    /// mapping, compression and the cluster's work on the requests all use every core. (More,
    /// smaller parts were slower: every request has its fixed costs on both sides.) Marks
    /// what got in (or was dead-lettered) in `done`; returns the mapped batch (for retries)
    /// and the items to retry. `spare` are buffers of earlier batches, reused.
    async fn first_attempt(
        &self,
        batch: &[JournalEntry],
        done: &mut [bool],
        spare: Vec<Vec<u8>>,
    ) -> Result<(Mapped, Vec<usize>), SinkError> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let size = batch
            .len()
            .div_ceil(cores.clamp(1, MAX_PARTS))
            .max(MIN_PART);
        let compress = self.config.gzip;
        let mut spare = spare.into_iter();
        let parts = batch.chunks(size).enumerate().map(|(k, part)| {
            let mut buf = spare.next().unwrap_or_default();
            let offset = k * size;
            let wanted: Vec<bool> = done[offset..offset + part.len()]
                .iter()
                .map(|d| !d)
                .collect();
            async move {
                let input: Vec<_> = part
                    .iter()
                    .map(|e| (e.tenant.clone(), e.event_id, e.raw.clone()))
                    .collect();
                let ds = self.config.data_stream.clone();
                let (buf, spans, sent, body) = tokio::task::spawn_blocking(move || {
                    buf.clear();
                    let spans = map_part(&input, &ds, &mut buf);
                    let sent: Vec<usize> = (0..spans.len())
                        .filter(|&j| spans[j].is_some() && wanted[j])
                        .collect();
                    let body = (!sent.is_empty()).then(|| {
                        // `buf` holds the mapped items only; only a retried batch leaves
                        // some of those out.
                        let selected: Vec<u8>;
                        let mapped = spans.iter().filter(|s| s.is_some()).count();
                        let plain: &[u8] = if sent.len() == mapped {
                            &buf
                        } else {
                            selected = sent
                                .iter()
                                .filter_map(|&j| spans[j].clone())
                                .flat_map(|r| buf[r].iter().copied())
                                .collect();
                            &selected
                        };
                        if compress {
                            gzip(plain)
                        } else {
                            Ok(plain.to_vec())
                        }
                    });
                    (buf, spans, sent, body)
                })
                .await
                .map_err(|e| SinkError::Other(format!("ECS mapping task failed: {e}")))?;
                let reply = match body {
                    Some(Ok(body)) => Some(self.post(body, sent.len()).await),
                    Some(Err(e)) => Some(Err(e)),
                    None => None,
                };
                let sent: Vec<usize> = sent.into_iter().map(|j| offset + j).collect();
                Ok::<_, SinkError>((buf, spans, sent, reply))
            }
        });
        let results = futures::future::join_all(parts).await;
        let mut mapped = Mapped {
            bufs: Vec::with_capacity(results.len()),
            spans: Vec::with_capacity(batch.len()),
        };
        let mut replies: Vec<(Vec<usize>, BulkReply)> = Vec::with_capacity(results.len());
        let mut failed = None;
        for (b, r) in results.into_iter().enumerate() {
            let (buf, spans, sent, reply) = r?;
            mapped.bufs.push(buf);
            mapped
                .spans
                .extend(spans.into_iter().map(|s| s.map(|r| (b, r))));
            match reply {
                Some(Ok(reply)) => replies.push((sent, reply)),
                Some(Err(e)) => {
                    failed.get_or_insert(e);
                }
                None => {}
            }
        }
        for (i, e) in batch.iter().enumerate() {
            if !mapped.is_mapped(i) && !done[i] {
                self.ctx
                    .dead_letter(e, "not a JSON object; cannot map it to ECS")
                    .await?;
                done[i] = true;
            }
        }
        let mut retry = Vec::new();
        for (sent, reply) in replies {
            let again = self.classify(batch, &sent, reply).await?;
            mark_done(done, &sent, &again);
            retry.extend(again);
        }
        // A part the cluster did not take (e.g. a 503) fails the batch: the runner tries it
        // again later, and then sends only what is not `done`.
        match failed {
            Some(e) => Err(e),
            None => Ok((mapped, retry)),
        }
    }

    /// Delivers the items of `batch` not yet `done`.
    async fn deliver(
        &mut self,
        batch: &[JournalEntry],
        done: &mut [bool],
    ) -> Result<(), SinkError> {
        // Megabyte buffers, reused: fresh ones cost page faults on every batch.
        let spare = std::mem::take(&mut self.spare);
        let (mut docs, mut todo) = self.first_attempt(batch, done, spare).await?;
        let result = self.retry_items(batch, done, &docs, &mut todo).await;
        self.spare = std::mem::take(&mut docs.bufs);
        result
    }

    /// Resends the items in `todo` (with backoff) until none fails or attempts run out.
    async fn retry_items(
        &mut self,
        batch: &[JournalEntry],
        done: &mut [bool],
        docs: &Mapped,
        todo: &mut Vec<usize>,
    ) -> Result<(), SinkError> {
        let mut attempt = 0u32;
        while !todo.is_empty() {
            attempt += 1;
            if attempt >= ITEM_ATTEMPTS {
                // Hand back to the runner: the same batch comes again later, and only its
                // items not yet in the index are sent then.
                return Err(SinkError::Other(format!(
                    "{} of {} bulk items still failing after {attempt} attempts",
                    todo.len(),
                    batch.len()
                )));
            }
            if attempt == 1 {
                warn!(sink = %self.ctx.name, items = todo.len(), of = batch.len(), "some bulk items failed; retrying only those");
            } else {
                debug!(sink = %self.ctx.name, items = todo.len(), attempt, "retrying failed bulk items");
            }
            tokio::time::sleep(backoff(
                Duration::from_millis(200),
                Duration::from_secs(10),
                attempt,
            ))
            .await;
            let again = self.send(batch, docs, todo).await?;
            mark_done(done, todo, &again);
            *todo = again;
        }
        Ok(())
    }
}

/// Marks the items of `sent` that are not in `again` (sorted, a subsequence of `sent`).
fn mark_done(done: &mut [bool], sent: &[usize], again: &[usize]) {
    let mut again = again.iter().peekable();
    for &i in sent {
        if again.peek() == Some(&&i) {
            again.next();
        } else if let Some(d) = done.get_mut(i) {
            *d = true;
        }
    }
}

/// Parts (concurrent requests) per batch at most: one per core up to this.
const MAX_PARTS: usize = 4;
/// Smaller parts would cost more in requests than they gain in parallelism.
const MIN_PART: usize = 64;

/// A batch's bulk lines (`create` action and ECS document, each ending in `\n`), written
/// once and copied into the body of the first request and of any retry.
struct Mapped {
    /// One buffer per part.
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
    // Documents are about twice the event (they keep `event.original`); a little more, so
    // the buffer is not copied into a bigger one near its end.
    buf.reserve(part.iter().map(|(_, _, raw)| raw.len() * 5 / 2 + 128).sum());
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

impl Sink for ElasticsearchSink {
    fn kind(&self) -> &'static str {
        "elasticsearch"
    }

    async fn write(&mut self, batch: &[JournalEntry]) -> Result<Option<String>, SinkError> {
        let mut done = match self.progress.take() {
            Some(p) if p.is_for(batch) => p.done,
            _ => vec![false; batch.len()],
        };
        if let Err(e) = self.deliver(batch, &mut done).await {
            self.progress = Some(Progress::of(batch, done));
            return Err(e);
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mark_done_marks_what_is_not_retried() {
        let mut done = vec![false; 8];
        mark_done(&mut done, &[1, 2, 4, 6, 7], &[2, 7]);
        assert_eq!(done, [false, true, false, false, true, false, true, false]);
        // Nothing to retry: every sent item is done; an empty send changes nothing.
        mark_done(&mut done, &[2, 7], &[]);
        mark_done(&mut done, &[], &[]);
        assert_eq!(done, [false, true, true, false, true, false, true, true]);
    }
}
