//! Typed errors: ServiceNow's error envelope and transport failures.

use std::time::Duration;

/// Everything that can go wrong talking to the Table API.
///
/// HTTP errors carry ServiceNow's error envelope text
/// (`{"error":{"message":"…","detail":"…"},"status":"failure"}`) as `message: detail`, or a
/// short snippet of the body when it is not an envelope.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 401: wrong user/password or an expired/invalid OAuth token.
    #[error("unauthorized (HTTP 401): {details}")]
    Unauthorized { details: String },
    /// 403: ACL, business rule or data policy refused the operation.
    #[error("forbidden (HTTP 403): {details}")]
    Forbidden { details: String },
    /// 404: no such record (or the ACL hides it).
    #[error("not found (HTTP 404): {details}")]
    NotFound { details: String },
    /// 400: invalid table, malformed body or query.
    #[error("bad request (HTTP 400): {details}")]
    BadRequest { details: String },
    /// 429: an inbound REST rate-limit rule is exhausted; wait `retry_after`.
    #[error("rate limited (HTTP 429): retry in {}s", retry_after.as_secs())]
    RateLimited { retry_after: Duration },
    /// 5xx (503 is what a busy or hibernating instance answers).
    #[error("server error (HTTP {status}): {details}")]
    Server {
        status: u16,
        details: String,
        retry_after: Option<Duration>,
    },
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
    /// A 2xx answer whose body is not what the Table API sends.
    #[error("malformed response from {url}: {reason}")]
    Malformed { url: String, reason: String },
    /// The OAuth token endpoint refused the credentials or answered nonsense.
    #[error("OAuth token request failed: {0}")]
    Token(String),
    /// The caller asked for something the client will not send (bad sys_id, bad URL).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
}

impl Error {
    /// Whether the same request can succeed later (429, 5xx, transport, malformed body).
    /// Note that a timed-out *create* may have created the record: look it up before
    /// creating again.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Error::RateLimited { .. }
                | Error::Server { .. }
                | Error::Transport { .. }
                | Error::Malformed { .. }
        )
    }

    /// How long the instance asked us to wait (429, or 503 with `Retry-After`).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::RateLimited { retry_after } => Some(*retry_after),
            Error::Server { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The HTTP status, when the instance answered.
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

    /// A short class for metrics labels and status pages.
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
            Error::Token(_) => "token",
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

/// Human text of an error body: the envelope's `message: detail`, or a bounded snippet.
pub(crate) fn error_details(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Envelope {
        error: Option<Inner>,
    }
    #[derive(serde::Deserialize)]
    struct Inner {
        #[serde(default)]
        message: Option<String>,
        #[serde(default)]
        detail: Option<serde_json::Value>,
    }
    if let Ok(Envelope { error: Some(e) }) = serde_json::from_slice::<Envelope>(body) {
        let mut s = e.message.unwrap_or_default();
        let detail = match e.detail {
            Some(serde_json::Value::String(d)) => d,
            Some(serde_json::Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        };
        if !detail.is_empty() {
            if !s.is_empty() {
                s.push_str(": ");
            }
            s.push_str(&detail);
        }
        if !s.is_empty() {
            return s;
        }
    }
    snippet(body)
}

pub(crate) use http_core::snippet;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_envelope() {
        let body =
            br#"{"error":{"message":"Invalid table incidnt","detail":null},"status":"failure"}"#;
        assert_eq!(error_details(body), "Invalid table incidnt");
        let body = br#"{"error":{"message":"Operation Failed","detail":"ACL Exception Update Failed due to security constraints"},"status":"failure"}"#;
        assert_eq!(
            error_details(body),
            "Operation Failed: ACL Exception Update Failed due to security constraints"
        );
        assert_eq!(error_details(b"<html>oops</html>"), "<html>oops</html>");
    }
}
