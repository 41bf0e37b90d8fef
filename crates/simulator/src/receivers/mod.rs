//! SIEM-side receivers for sebridge's sinks, on loopback: a Splunk HTTP Event Collector
//! ([`hec`]) and an Elasticsearch `_bulk` endpoint ([`elastic`]).
//!
//! Written from the protocol facts (`shared/reference/siem-formats.md` §2.3 for HEC; the
//! Elasticsearch bulk API's request/response shapes), not from sebridge's clients: token
//! auth, gzip request bodies, per-event/per-item results, indexer acknowledgement, and
//! injectable faults (503/429 bursts, per-item failures, malformed events). Tests inspect
//! what arrived through the handles; other processes read `GET /_receiver/stats`.

pub mod elastic;
pub mod hec;

use std::io::Read as _;
use std::net::SocketAddr;

use axum::http::{header, HeaderMap};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::SimError;

/// The request body, gunzipped when `Content-Encoding: gzip`.
pub(crate) fn body_bytes(headers: &HeaderMap, body: &[u8]) -> Result<Vec<u8>, String> {
    let gz = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
    if !gz {
        return Ok(body.to_vec());
    }
    let mut out = Vec::with_capacity(body.len() * 4);
    flate2::read::GzDecoder::new(body)
        .read_to_end(&mut out)
        .map_err(|e| format!("cannot gunzip the body: {e}"))?;
    Ok(out)
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
