//! SIEM-side receivers for sebridge's sinks, on loopback: a Splunk HTTP Event Collector
//! ([`hec`]), an Elasticsearch `_bulk` endpoint ([`elastic`]) and Microsoft Sentinel's
//! ingestion path, Entra ID token endpoint and Azure Monitor Logs Ingestion API
//! ([`sentinel`]).
//!
//! Written from the protocol facts (`shared/reference/siem-formats.md` §2.3 for HEC; the
//! Elasticsearch bulk API's request/response shapes; Microsoft's Logs Ingestion API and
//! identity platform documentation for Sentinel), not from sebridge's clients: token
//! auth, gzip request bodies, per-event/per-item results, indexer acknowledgement, and
//! injectable faults (503/429 bursts, per-item failures, malformed events). Tests inspect
//! what arrived through the handles; other processes read `GET /_receiver/stats`.

pub mod elastic;
pub mod hec;
pub mod sentinel;

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;
use std::io::Read as _;
use std::net::SocketAddr;

use axum::http::{header, HeaderMap};
use serde::de::{self, Deserialize, Deserializer, Visitor};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::SimError;

/// A gunzipped body larger than this does not keep its buffer for the next request.
const KEEP_BUFFER: usize = 64 << 20;

thread_local! {
    /// The buffer of the last gunzipped body on this thread, reused: bulk bodies are megabytes
    /// and growing a fresh vector for each was a measurable part of a request.
    static GUNZIPPED: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` on the request body, gunzipped first when `Content-Encoding: gzip`.
pub(crate) fn with_body<R>(
    headers: &HeaderMap,
    body: &[u8],
    f: impl FnOnce(&[u8]) -> R,
) -> Result<R, String> {
    let gz = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
    if !gz {
        return Ok(f(body));
    }
    // Taken out of the cell, so `f` could even gunzip another body.
    let mut buf = GUNZIPPED.with(RefCell::take);
    buf.clear();
    // The gzip trailer's ISIZE (the length mod 2^32) sizes the buffer in one go; it is only
    // a hint, capped, since the client sends it.
    let isize_hint = body
        .len()
        .checked_sub(4)
        .and_then(|i| body.get(i..))
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map_or(0, |b| u32::from_le_bytes(b) as usize);
    buf.reserve(isize_hint.min(KEEP_BUFFER));
    let out = flate2::read::GzDecoder::new(body)
        .read_to_end(&mut buf)
        .map(|_| f(&buf))
        .map_err(|e| format!("cannot gunzip the body: {e}"));
    if buf.capacity() <= KEEP_BUFFER {
        GUNZIPPED.with(|c| c.replace(buf));
    }
    out
}

/// A string borrowed from the body when it has no escapes.
pub(crate) struct Text<'a>(pub Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Text<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_str(V(std::marker::PhantomData))
    }
}

/// A running HTTP server with a stop switch.
pub(crate) struct Server {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Server {
    pub async fn start(listen: SocketAddr, router: axum::Router) -> Result<Server, SimError> {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|source| SimError::Bind {
                addr: listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| SimError::Bind {
            addr: listen,
            source,
        })?;
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(Server {
            addr,
            stop: Some(tx),
            task: Some(task),
        })
    }

    pub async fn stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(mut t) = self.task.take() {
            if tokio::time::timeout(std::time::Duration::from_secs(5), &mut t)
                .await
                .is_err()
            {
                t.abort();
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}
