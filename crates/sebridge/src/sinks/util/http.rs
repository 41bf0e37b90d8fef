//! What the HTTP sinks share: a client (rustls; system roots plus an optional CA file),
//! gzip bodies, and how a response status is classified.

use super::SinkError;
use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

/// A reqwest client for a sink.
pub fn client(timeout: Duration, ca_file: Option<&Path>) -> Result<reqwest::Client, SinkError> {
    let mut b = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .pool_idle_timeout(Duration::from_secs(60))
        .user_agent(concat!("sebridge/", env!("CARGO_PKG_VERSION")));
    if let Some(path) = ca_file {
        let pem = std::fs::read(path).map_err(|e| {
            SinkError::Other(format!("cannot read CA file {}: {e}", path.display()))
        })?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| SinkError::Other(format!("bad certificate in {}: {e}", path.display())))?;
        for c in certs {
            b = b.add_root_certificate(c);
        }
    }
    b.build()
        .map_err(|e| SinkError::Other(format!("cannot build the HTTP client: {e}")))
}

/// Gzip at a fast level: bodies are large and repetitive, CPU matters more than the last %.
pub fn gzip(body: &[u8]) -> Result<Vec<u8>, SinkError> {
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4),
        flate2::Compression::fast(),
    );
    enc.write_all(body)
        .and_then(|_| enc.finish())
        .map_err(|e| SinkError::Other(format!("cannot compress the request body: {e}")))
}

/// [`gzip`] on a blocking thread (compressing a large batch would stall the async workers).
/// Hands the body back so its buffer is reused.
pub async fn gzip_off_thread<B>(body: B) -> Result<(B, Vec<u8>), SinkError>
where
    B: AsRef<[u8]> + Send + 'static,
{
    tokio::task::spawn_blocking(move || gzip(body.as_ref()).map(|z| (body, z)))
        .await
        .map_err(|e| SinkError::Other(format!("compression task failed: {e}")))?
}

/// Whether a status means "try again later" (as opposed to "this request is wrong").
pub fn retryable(status: reqwest::StatusCode) -> bool {
    status.is_server_error() || status == 429 || status == 408
}

/// `Retry-After` in seconds, when the server sent one (capped at 5 minutes).
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    let secs: u64 = v.trim().parse().ok()?;
    Some(Duration::from_secs(secs.min(300)))
}

/// A short, single-line excerpt of a response body for error messages.
pub fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(300)]);
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Describes a request error without the URL's query (no secrets there, but keep it short).
pub fn describe(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}
