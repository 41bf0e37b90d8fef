//! Typed errors of the XDR client.

use std::time::Duration;

/// Everything that can go wrong talking to Cisco XDR (IROH token endpoint, CTIA).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 401 even with a fresh token, or the token endpoint refused the client credentials.
    #[error("unauthorized (HTTP 401): {details}")]
    Unauthorized { details: String },
    /// 403: the API client lacks the scope (e.g. `private-intel`).
    #[error("forbidden (HTTP 403): {details}")]
    Forbidden { details: String },
    /// 404: no such incident.
    #[error("not found (HTTP 404): {details}")]
    NotFound { details: String },
    /// 400: schema error (missing required field, value too long, unknown enum value).
    #[error("bad request (HTTP 400): {details}")]
    BadRequest { details: String },
    /// 429: the organisation's hourly budget is spent; wait `retry_after`.
    #[error("rate limited (HTTP 429): retry in {}s", retry_after.as_secs())]
    RateLimited { retry_after: Duration },
    /// 5xx.
    #[error("server error (HTTP {status}): {details}")]
    Server { status: u16, details: String },
    /// Any other non-success status.
    #[error("unexpected HTTP {status}: {details}")]
    Status { status: u16, details: String },
    /// Connect failure, timeout, connection dropped.
    #[error("request to {url} failed: {message}")]
    Transport {
        url: String,
        message: String,
        timeout: bool,
    },
    /// A 2xx answer whose body is not what the API sends.
    #[error("malformed response from {url}: {reason}")]
    Malformed { url: String, reason: String },
    /// The caller asked for something the client will not send.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
}

impl Error {
    /// Whether the same request can succeed later.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Error::RateLimited { .. }
                | Error::Server { .. }
                | Error::Transport { .. }
                | Error::Malformed { .. }
        )
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::RateLimited { retry_after } => Some(*retry_after),
            _ => None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Unauthorized { .. } => Some(401),
            Error::Forbidden { .. } => Some(403),
            Error::NotFound { .. } => Some(404),
            Error::BadRequest { .. } => Some(400),
            Error::RateLimited { .. } => Some(429),
            Error::Server { status, .. } | Error::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Error::Unauthorized { .. } => "unauthorized",
            Error::Forbidden { .. } => "forbidden",
            Error::NotFound { .. } => "not_found",
            Error::BadRequest { .. } => "bad_request",
            Error::RateLimited { .. } => "rate_limited",
            Error::Server { .. } => "server_error",
            Error::Status { .. } => "http_status",
            Error::Transport { timeout: true, .. } => "timeout",
            Error::Transport { .. } => "transport",
            Error::Malformed { .. } => "malformed",
            Error::InvalidRequest(_) => "invalid_request",
        }
    }
}

/// A failed body read: a transport error, or a body over the size bound as a malformed answer.
impl From<http_core::ReadError> for Error {
    fn from(e: http_core::ReadError) -> Error {
        let reason = e.to_string();
        match e {
            http_core::ReadError::Transport {
                url,
                message,
                timeout,
            } => Error::Transport {
                url,
                message,
                timeout,
            },
            http_core::ReadError::TooLarge { url, .. } => Error::Malformed { url, reason },
        }
    }
}

/// Human text of an error body: CTIA/IROH answer JSON with `message`/`error`/`errors`
/// members depending on the layer; otherwise a bounded snippet.
pub(crate) fn error_details(body: &[u8]) -> String {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
        let mut parts = Vec::new();
        for key in ["error", "message", "error_description", "errors", "details"] {
            match v.get(key) {
                Some(serde_json::Value::String(s)) if !s.is_empty() => parts.push(s.clone()),
                Some(serde_json::Value::Null) | None => {}
                Some(other) => parts.push(other.to_string()),
            }
        }
        if !parts.is_empty() {
            return truncate(&parts.join(": "));
        }
    }
    snippet(body)
}

fn truncate(s: &str) -> String {
    s.chars().take(300).collect()
}

pub(crate) use http_core::snippet;
