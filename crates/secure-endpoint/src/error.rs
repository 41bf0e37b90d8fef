//! Typed errors: the vendor's error envelope and transport failures.

use crate::RateLimit;
use std::time::Duration;

/// Everything that can go wrong talking to the Secure Endpoint API.
///
/// HTTP errors carry the `details` strings of the vendor's error envelope
/// (`{"errors":[{"error_code":401,"description":"Unauthorized","details":["Unknown API key or Client ID"]}]}`),
/// joined with "; ", or a short snippet of the body when it is not an envelope.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 401: unknown client id or API key.
    #[error("unauthorized (HTTP 401): {details}")]
    Unauthorized { details: String },
    /// 403: the credential lacks the scope (e.g. read-only key used for a write).
    #[error("forbidden (HTTP 403): {details}")]
    Forbidden { details: String },
    /// 400: unexpected parameter or invalid entity.
    #[error("bad request (HTTP 400): {details}")]
    BadRequest { details: String },
    /// 404, or the API's "not found" answered as a 400 (e.g. "Event stream not found").
    #[error("not found (HTTP {status}): {details}")]
    NotFound { status: u16, details: String },
    /// 409: e.g. isolating a host that is already isolated.
    #[error("conflict (HTTP 409): {details}")]
    Conflict { details: String },
    /// 429: the hourly request budget is spent.
    #[error("rate limited (HTTP 429): retry in {}s", retry_after.as_secs())]
    RateLimited {
        retry_after: Duration,
        rate_limit: Option<RateLimit>,
    },
    /// 5xx: the API failed; retry with backoff.
    #[error("server error (HTTP {status}): {details}")]
    Server { status: u16, details: String },
    /// Any other non-success status.
    #[error("unexpected HTTP {status}: {details}")]
    Status { status: u16, details: String },
    /// Connect failure, timeout, connection dropped while reading the body.
    #[error("request to {url} failed: {message}")]
    Transport {
        url: String,
        message: String,
        timeout: bool,
    },
    /// A 2xx answer whose body is not what the API sends (not JSON, wrong shape).
    #[error("malformed response from {url}: {reason}")]
    Malformed { url: String, reason: String },
    /// The caller asked for something the API cannot do (e.g. `limit` above 500).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
}

impl Error {
    /// Whether retrying the same request later can succeed (rate limit, 5xx, transport,
    /// malformed body). Authentication and request errors need a human.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Error::RateLimited { .. }
                | Error::Server { .. }
                | Error::Transport { .. }
                | Error::Malformed { .. }
        )
    }

    /// How long the API asked us to wait, for 429.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::RateLimited { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }

    /// The HTTP status, when the API answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Unauthorized { .. } => Some(401),
            Error::Forbidden { .. } => Some(403),
            Error::BadRequest { .. } => Some(400),
            Error::NotFound { status, .. } => Some(*status),
            Error::Conflict { .. } => Some(409),
            Error::RateLimited { .. } => Some(429),
            Error::Server { status, .. } | Error::Status { status, .. } => Some(*status),
            Error::Transport { .. } | Error::Malformed { .. } | Error::InvalidRequest(_) => None,
        }
    }

    /// A short machine-friendly class, for metrics labels and status pages.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Unauthorized { .. } => "unauthorized",
            Error::Forbidden { .. } => "forbidden",
            Error::BadRequest { .. } => "bad_request",
            Error::NotFound { .. } => "not_found",
            Error::Conflict { .. } => "conflict",
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
