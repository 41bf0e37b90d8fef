//! Microsoft Sentinel sink: the Azure Monitor Logs Ingestion API, `POST
//! {endpoint}/dataCollectionRules/{dcr}/streams/{stream}?api-version=2023-01-01` with a JSON
//! array of rows (see [`super::encoder`]), gzipped, `Authorization: Bearer` a Microsoft
//! Entra ID token from the client-credentials grant (scope `https://monitor.azure.com//.default`).
//!
//! - **Calls under the limit.** The API refuses a call over 1 MB with 413, counting the
//!   body compressed *and* uncompressed, so a batch is cut into calls whose JSON, before
//!   gzip (the larger of the two), is at most `max_request_bytes` (default 1,000,000). A
//!   row that alone exceeds it can never be accepted and is dead-lettered; a call the API
//!   still answers 413 is split in two and each half sent.
//! - **Only failed calls are retried.** The calls of a batch go out one after the other;
//!   each answered 204 is remembered, so a retry (here, or the runner's retry of the same
//!   batch after a `write` failed) sends only the rows not yet accepted. The runner commits
//!   the position once every row of the batch is accepted (or dead-lettered).
//! - **Throttling.** 429 and 503 carry `Retry-After`: no call at all goes out before it has
//!   passed (the sink holds every request until then, whoever retries), then the call is
//!   sent again. Other 5xx, 408 and transport failures are retried with backoff.
//! - **Token.** Cached and renewed before it expires (at 90% of its lifetime, at most five
//!   minutes early) and after a 401, one renewal at a time ([`http_core::TokenCache`]).
//! - **Errors that need a human** (Entra ID refusing the credentials, 400, 403, 404, a 401
//!   with a fresh token) fail the batch with what to fix; the runner retries it with its
//!   backoff (up to `retry_max`), so the sink resumes by itself once it is fixed (a role
//!   assignment, say, takes minutes to apply) and nothing is skipped.
//!
//! Delivery: at least once. Log Analytics has no idempotency key: a call accepted just
//! before a crash (before the position commit) is sent again at the next start.

use super::encoder::{connector_row, table_row};
use crate::config::{SentinelRows, SentinelSinkConfig};
use crate::sinks::util::batch::Progress;
use crate::sinks::util::http::{client, gzip_off_thread};
use crate::sinks::util::retry::backoff;
use crate::sinks::util::{Sink, SinkCtx, SinkError};
use crate::store::JournalEntry;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::collections::VecDeque;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

/// The API version of the Logs Ingestion REST reference.
pub const API_VERSION: &str = "2023-01-01";

/// Attempts at one call inside one `write` before handing back to the runner (whose retry
/// of the same batch keeps going, without limit, and sends only what is not in yet).
const CALL_ATTEMPTS: u32 = 6;
/// The longest `Retry-After` honoured as given (a larger one is capped, then the call is
/// tried again: a wrong header should not park the sink for hours).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);
/// Answers are small JSON errors (or empty); a bigger one is not read whole.
const MAX_ANSWER: usize = 256 * 1024;

pub struct SentinelSink {
    config: SentinelSinkConfig,
    ctx: SinkCtx,
    http: reqwest::Client,
    ingest_url: String,
    token_url: String,
    token: http_core::TokenCache,
    /// No call before this: the last `Retry-After`.
    hold_until: Option<Instant>,
    /// What got in of a batch whose `write` failed.
    progress: Option<Progress>,
    /// Cancelled when the pipeline stops: a `Retry-After` (up to minutes) is not waited out.
    stop: CancellationToken,
}

/// How one call went.
enum Sent {
    Accepted,
    /// 413: the API counts the call as over its limit.
    TooLarge(String),
    /// Worth trying again soon (throttled, 5xx, transport, an expired token).
    Retry(String),
    /// Needs a fix: the batch fails now, the runner retries it slowly.
    Fatal(String),
}

/// `{"error":{"code":..,"message":..}}`, the Logs Ingestion API's error body.
#[derive(Deserialize, Default)]
struct ApiError {
    #[serde(default)]
    error: ApiErrorBody,
}

#[derive(Deserialize, Default)]
struct ApiErrorBody {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// Entra ID's token answer and its error shape.
#[derive(Deserialize)]
struct TokenReply {
    access_token: String,
    /// Seconds; the v1 endpoint sends it as a string.
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
}

#[derive(Deserialize, Default)]
struct TokenError {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
}

impl SentinelSink {
    pub fn new(config: SentinelSinkConfig, ctx: SinkCtx) -> Result<SentinelSink, SinkError> {
        let http = client(config.request_timeout, config.ca_file.as_deref())?;
        let base = config.endpoint.as_str().trim_end_matches('/');
        // The DCR id and stream were checked to be URL-safe (letters, digits, `-`, `_`).
        let ingest_url = format!(
            "{base}/dataCollectionRules/{}/streams/{}?api-version={API_VERSION}",
            config.dcr_immutable_id, config.stream
        );
        Ok(SentinelSink {
            token_url: config.token_endpoint(),
            ingest_url,
            // The margin is in each token's lifetime instead (see `fetch_token`): a fixed
            // one would renew short-lived tokens on every call.
            token: http_core::TokenCache::new(Duration::ZERO),
            config,
            ctx,
            http,
            hold_until: None,
            progress: None,
            stop: CancellationToken::new(),
        })
    }

    /// Ends waits for `Retry-After` and backoff when `stop` is cancelled (the batch in hand
    /// then stays uncommitted and is delivered at the next start).
    pub fn stop_on(mut self, stop: CancellationToken) -> SentinelSink {
        self.stop = stop;
        self
    }

    /// Sleeps until `until`; false when the pipeline stops first.
    async fn pause(&self, until: Instant) -> bool {
        tokio::select! {
            _ = tokio::time::sleep_until(until.into()) => true,
            _ = self.stop.cancelled() => false,
        }
    }

    /// Encodes the entries not yet `done` (on a blocking thread: a batch is megabytes of
    /// JSON); `None` for an entry that is not a JSON object.
    async fn encode(
        &self,
        batch: &[JournalEntry],
        done: &[bool],
    ) -> Result<Vec<Option<Vec<u8>>>, SinkError> {
        let input: Vec<_> = batch
            .iter()
            .zip(done)
            .map(|(e, d)| (!d).then(|| (e.raw.clone(), e.event_time)))
            .collect();
        let format = self.config.row_format;
        tokio::task::spawn_blocking(move || {
            input
                .into_iter()
                .map(|item| {
                    let (raw, event_time) = item?;
                    let mut row = Vec::with_capacity(raw.len() + 64);
                    let ok = match format {
                        SentinelRows::Connector => connector_row(&raw, &mut row),
                        SentinelRows::Table => table_row(&raw, event_time, &mut row),
                    };
                    ok.then_some(row)
                })
                .collect()
        })
        .await
        .map_err(|e| SinkError::Other(format!("Sentinel row encoding task failed: {e}")))
    }

    /// Delivers the entries of `batch` not yet `done`; `resumed`: the runner is retrying a
    /// batch that failed before (its failure was logged then).
    async fn deliver(
        &mut self,
        batch: &[JournalEntry],
        done: &mut [bool],
        resumed: bool,
    ) -> Result<(), SinkError> {
        let rows = self.encode(batch, done).await?;
        let limit = self.config.max_request_bytes;
        for (i, entry) in batch.iter().enumerate() {
            if done[i] {
                continue;
            }
            let reason = match &rows[i] {
                None => "not a JSON object; the Logs Ingestion API takes rows as objects".into(),
                // `[` and `]` around it: the smallest call that carries it.
                Some(r) if r.len() + 2 > limit => format!(
                    "its row is {} bytes, more than a Logs Ingestion call may hold ({limit} bytes, max_request_bytes)",
                    r.len()
                ),
                Some(_) => continue,
            };
            self.ctx.dead_letter(entry, &reason).await?;
            done[i] = true;
        }
        let todo: Vec<usize> = (0..batch.len()).filter(|&i| !done[i]).collect();
        let mut calls: VecDeque<Vec<usize>> = pack(&todo, &rows, limit).into();
        let mut attempt = 0u32;
        while let Some(call) = calls.pop_front() {
            match self.send(&call, &rows).await {
                Sent::Accepted => {
                    for &i in &call {
                        done[i] = true;
                    }
                    attempt = 0;
                }
                Sent::TooLarge(msg) if call.len() > 1 => {
                    debug!(sink = %self.ctx.name, rows = call.len(), "{msg}; splitting the call");
                    let (a, b) = call.split_at(call.len() / 2);
                    calls.push_front(b.to_vec());
                    calls.push_front(a.to_vec());
                }
                Sent::TooLarge(msg) => {
                    let reason =
                        format!("the Logs Ingestion API refused its row as too large: {msg}");
                    self.ctx.dead_letter(&batch[call[0]], &reason).await?;
                    done[call[0]] = true;
                }
                Sent::Retry(msg) => {
                    attempt += 1;
                    if attempt >= CALL_ATTEMPTS {
                        // The runner tries the batch again later; only what is not in yet
                        // is sent then.
                        let left = done.iter().filter(|d| !**d).count();
                        return Err(SinkError::Other(format!(
                            "{msg} ({left} of {} rows not yet accepted after {attempt} attempts)",
                            batch.len()
                        )));
                    }
                    if attempt == 1 && !resumed {
                        warn!(sink = %self.ctx.name, rows = call.len(), error = %msg, "a Logs Ingestion call failed; retrying that call only");
                    } else {
                        debug!(sink = %self.ctx.name, attempt, error = %msg, "retrying a Logs Ingestion call");
                    }
                    // A Retry-After already holds the next call; otherwise back off.
                    if self.hold_until.is_none() {
                        let d =
                            backoff(Duration::from_millis(200), Duration::from_secs(10), attempt);
                        if !self.pause(Instant::now() + d).await {
                            return Err(SinkError::Other(format!("{msg}; stopping")));
                        }
                    }
                    calls.push_front(call);
                }
                Sent::Fatal(msg) => return Err(SinkError::Other(msg)),
            }
        }
        Ok(())
    }

    /// One call with the rows at `call` (and, after a 401, once more with a new token).
    async fn send(&mut self, call: &[usize], rows: &[Option<Vec<u8>>]) -> Sent {
        if let Some(t) = self.hold_until {
            // Honour the last Retry-After: nothing goes out before it.
            if !self.pause(t).await {
                return Sent::Fatal(
                    "stopping while the Logs Ingestion API asked to wait (Retry-After)".into(),
                );
            }
            self.hold_until = None;
        }
        let mut body = Vec::with_capacity(
            call.iter()
                .filter_map(|&i| rows[i].as_ref())
                .map(|r| r.len() + 1)
                .sum::<usize>()
                + 2,
        );
        body.push(b'[');
        for (k, row) in call.iter().filter_map(|&i| rows[i].as_ref()).enumerate() {
            if k > 0 {
                body.push(b',');
            }
            body.extend_from_slice(row);
        }
        body.push(b']');
        let body = if self.config.gzip {
            match gzip_off_thread(body).await {
                Ok((_, z)) => z,
                Err(e) => return Sent::Retry(e.to_string()),
            }
        } else {
            body
        };
        let mut renewed = false;
        loop {
            let token = match self.token.get(|_| self.fetch_token()).await {
                Ok(t) => t,
                Err(sent) => return sent,
            };
            let request_id = uuid::Uuid::new_v4().to_string();
            let mut req = self
                .http
                .post(&self.ingest_url)
                .bearer_auth(token.expose_secret())
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                // Quoted in Azure's logs: support can find the call by it.
                .header("x-ms-client-request-id", &request_id);
            if self.config.gzip {
                req = req.header(reqwest::header::CONTENT_ENCODING, "gzip");
            }
            let answer =
                http_core::send(req.body(body.clone()), &self.ingest_url, MAX_ANSWER).await;
            let resp = match answer {
                Ok(r) => r,
                Err(e) => {
                    count(&self.ctx.name, "error");
                    return Sent::Retry(format!("Logs Ingestion call failed: {e}"));
                }
            };
            let status = resp.status;
            count(&self.ctx.name, status.as_str());
            if status.is_success() {
                return Sent::Accepted;
            }
            let err: ApiError = serde_json::from_slice(&resp.body).unwrap_or_default();
            let said = match (err.error.code.as_str(), err.error.message.as_str()) {
                ("", "") => http_core::snippet(&resp.body),
                (code, "") => code.to_string(),
                (code, message) => format!("{code}: {message}"),
            };
            let what = format!("Logs Ingestion answered {status}: {said} [request {request_id}]");
            let retry_after =
                http_core::retry_after(&resp.headers, time::OffsetDateTime::now_utc())
                    .map(|d| d.min(MAX_RETRY_AFTER));
            match status.as_u16() {
                401 if !renewed => {
                    // Expired or revoked before our clock said so: a new token, once.
                    renewed = true;
                    self.token.invalidate(&token).await;
                    debug!(sink = %self.ctx.name, "401 from Logs Ingestion; renewing the token");
                    continue;
                }
                413 => return Sent::TooLarge(what),
                408 | 429 | 500..=599 => {
                    if let Some(w) = retry_after {
                        // Every request waits for it, not only this call's retry.
                        self.hold_until = Some(Instant::now() + w);
                        let secs = w.as_secs();
                        return Sent::Retry(format!("{what}; waiting {secs}s (Retry-After)"));
                    }
                    return Sent::Retry(what);
                }
                code => {
                    let fix = self.advice(code);
                    return Sent::Fatal(format!("{what} — {fix}; retrying slowly"));
                }
            }
        }
    }

    /// What to fix after a refusal that retrying alone does not cure.
    fn advice(&self, status: u16) -> String {
        let c = &self.config;
        match status {
            401 => "refused even with a new token: check `scope` (the token's audience must be \
                    the Logs Ingestion API, \"https://monitor.azure.com//.default\" in the public \
                    cloud) and `tenant_id`"
                .to_string(),
            403 => format!(
                "give the app registration (client_id {}) the \"Monitoring Metrics Publisher\" \
                 role on the data collection rule; role assignments take a few minutes to apply",
                c.client_id
            ),
            404 => "check `endpoint` (the DCE's or DCR's logs ingestion endpoint) and \
                    `dcr_immutable_id` (the DCR's immutableId)"
                .to_string(),
            400 => format!(
                "the DCR refused the call: check that `stream` (\"{}\") is declared in the DCR \
                 and that `row_format` matches its columns",
                c.stream
            ),
            _ => "unexpected for the Logs Ingestion API".to_string(),
        }
    }

    /// The client-credentials grant at Microsoft Entra ID.
    async fn fetch_token(&self) -> Result<http_core::Token, Sent> {
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "client_credentials")
            .append_pair("client_id", &self.config.client_id)
            .append_pair("client_secret", self.config.client_secret.expose())
            .append_pair("scope", &self.config.scope)
            .finish();
        // The body holds the secret: it goes to the token endpoint only, never into a
        // message (reqwest's errors do not carry bodies).
        let req = self
            .http
            .post(&self.token_url)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(reqwest::header::ACCEPT, "application/json")
            .body(form);
        let resp = match http_core::send(req, &self.token_url, MAX_ANSWER).await {
            Ok(r) => r,
            Err(e) => {
                token_count(&self.ctx.name, "error");
                return Err(Sent::Retry(format!(
                    "Microsoft Entra ID token request failed: {e}"
                )));
            }
        };
        if resp.status.is_success() {
            let reply: TokenReply = match serde_json::from_slice(&resp.body) {
                Ok(r) => r,
                Err(e) => {
                    token_count(&self.ctx.name, "malformed");
                    return Err(Sent::Retry(format!(
                        "Microsoft Entra ID answered {} with something that is not a token ({e})",
                        resp.status
                    )));
                }
            };
            token_count(&self.ctx.name, "ok");
            let secs = match &reply.expires_in {
                Some(serde_json::Value::Number(n)) => n.as_u64(),
                Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
                _ => None,
            };
            // Entra issues tokens for 60-90 minutes; without an answer assume the shortest.
            let lifetime = Duration::from_secs(secs.unwrap_or(3600));
            debug!(sink = %self.ctx.name, lifetime = ?lifetime, "token renewed");
            return Ok(http_core::Token::new(
                SecretString::from(reply.access_token),
                None,
                renew_at(lifetime),
            ));
        }
        token_count(&self.ctx.name, "refused");
        let e: TokenError = serde_json::from_slice(&resp.body).unwrap_or_default();
        // The description ends with trace and correlation ids and a timestamp: the first
        // part says what is wrong.
        let description = e
            .error_description
            .split(" Trace ID:")
            .next()
            .unwrap_or_default()
            .trim()
            .to_string();
        let said = match (e.error.as_str(), description.as_str()) {
            ("", "") => http_core::snippet(&resp.body),
            (error, "") => error.to_string(),
            (error, d) => format!("{error}: {d}"),
        };
        let status = resp.status;
        if status.is_server_error() || status == 429 {
            return Err(Sent::Retry(format!(
                "Microsoft Entra ID answered {status} to the token request ({said})"
            )));
        }
        Err(Sent::Fatal(format!(
            "Microsoft Entra ID refused the token request ({status}, {said}) — check tenant_id, client_id and client_secret (the secret's value, not its id) of the app registration, and `token_url`/`scope` for a sovereign cloud; retrying slowly"
        )))
    }
}

/// The lifetime to cache a token for: 90% of what Entra said, renewing at most five
/// minutes before it expires.
pub(crate) fn renew_at(lifetime: Duration) -> Duration {
    lifetime - (lifetime / 10).min(Duration::from_secs(300))
}

fn count(sink: &str, status: &str) {
    metrics::counter!("sebridge_sentinel_requests_total", "sink" => sink.to_string(), "status" => status.to_string())
        .increment(1);
}

fn token_count(sink: &str, outcome: &'static str) {
    metrics::counter!("sebridge_sentinel_token_requests_total", "sink" => sink.to_string(), "outcome" => outcome)
        .increment(1);
}

/// Cuts `todo` (in order) into calls whose JSON array (`[`, rows, commas, `]`) is at most
/// `limit` bytes. Every row fits a call on its own (larger ones were dead-lettered).
pub(crate) fn pack(todo: &[usize], rows: &[Option<Vec<u8>>], limit: usize) -> Vec<Vec<usize>> {
    let mut calls = Vec::new();
    let mut call: Vec<usize> = Vec::new();
    let mut size = 2; // `[` and `]`
    for &i in todo {
        let Some(row) = rows.get(i).and_then(Option::as_ref) else {
            continue;
        };
        let add = row.len() + usize::from(!call.is_empty());
        if !call.is_empty() && size + add > limit {
            calls.push(std::mem::take(&mut call));
            size = 2;
        }
        size += row.len() + usize::from(!call.is_empty());
        call.push(i);
    }
    if !call.is_empty() {
        calls.push(call);
    }
    calls
}

impl Sink for SentinelSink {
    fn kind(&self) -> &'static str {
        "sentinel"
    }

    async fn write(&mut self, batch: &[JournalEntry]) -> Result<Option<String>, SinkError> {
        let (mut done, resumed) = match self.progress.take() {
            Some(p) if p.is_for(batch) => (p.done, true),
            _ => (vec![false; batch.len()], false),
        };
        if let Err(e) = self.deliver(batch, &mut done, resumed).await {
            self.progress = Some(Progress::of(batch, done));
            return Err(e);
        }
        Ok(None)
    }
}
