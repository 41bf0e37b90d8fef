//! Fault injection: 5xx answers, added latency, dropped connections, malformed bodies.
//!
//! One uniform draw per request decides the outcome, so the rates are exclusive and add up:
//! `[0, error_rate)` → 5xx, then `drop_rate`, then `malformed_rate`, else a normal answer.
//! Draws come from a per-tenant RNG seeded from the simulator seed, so a given sequence of
//! requests sees the same faults on every run.
//!
//! Faults apply to authenticated `/v1` requests that are within the rate limit. A 5xx is
//! answered without running the handler (no side effect: an isolation PUT does not happen);
//! drops and malformed answers run the handler first (the side effect happens, the client
//! just cannot read the answer).

use std::time::Duration;

use axum::http::StatusCode;
use rand::rngs::SmallRng;
use rand::RngExt;

/// Fault-injection settings, globally or for one tenant.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Faults {
    /// Fraction (0..=1) of requests answered 500, 502 or 503 with the error envelope.
    pub error_rate: f64,
    /// Delay added before every request is answered.
    pub latency: Duration,
    /// Fraction of requests whose connection is dropped mid-response: the status line,
    /// headers and part of the body are sent, then the connection is closed.
    pub drop_rate: f64,
    /// Fraction of requests answered `200` with a body that is not valid JSON
    /// (a truncated JSON document or an HTML error page, alternately at random).
    pub malformed_rate: f64,
    /// Fraction of requests answered `429` although the budget is not spent (a burst limit
    /// of the real service), with the rate-limit headers saying nothing is left for a
    /// second or two.
    pub rate_limited_rate: f64,
}

impl Faults {
    /// No faults at all.
    pub const NONE: Faults = Faults {
        error_rate: 0.0,
        latency: Duration::ZERO,
        drop_rate: 0.0,
        malformed_rate: 0.0,
        rate_limited_rate: 0.0,
    };

    /// Checks that every rate is a finite number in `0..=1`.
    pub fn validate(&self) -> Result<(), String> {
        for (name, v) in [
            ("error_rate", self.error_rate),
            ("drop_rate", self.drop_rate),
            ("malformed_rate", self.malformed_rate),
            ("rate_limited_rate", self.rate_limited_rate),
        ] {
            if !(v.is_finite() && (0.0..=1.0).contains(&v)) {
                return Err(format!("{name} must be between 0 and 1, got {v}"));
            }
        }
        Ok(())
    }

    fn any_rate(&self) -> bool {
        self.error_rate > 0.0
            || self.drop_rate > 0.0
            || self.malformed_rate > 0.0
            || self.rate_limited_rate > 0.0
    }
}

/// What to do with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FaultAction {
    None,
    ServerError(StatusCode),
    Drop,
    MalformedTruncated,
    MalformedHtml,
    RateLimited,
}

pub(crate) fn roll(f: &Faults, rng: &mut SmallRng) -> FaultAction {
    if !f.any_rate() {
        return FaultAction::None;
    }
    let r: f64 = rng.random();
    if r < f.error_rate {
        let code = [
            StatusCode::INTERNAL_SERVER_ERROR,
            StatusCode::BAD_GATEWAY,
            StatusCode::SERVICE_UNAVAILABLE,
        ][rng.random_range(0..3usize)];
        return FaultAction::ServerError(code);
    }
    if r < f.error_rate + f.drop_rate {
        return FaultAction::Drop;
    }
    if r < f.error_rate + f.drop_rate + f.malformed_rate {
        return if rng.random_bool(0.5) {
            FaultAction::MalformedTruncated
        } else {
            FaultAction::MalformedHtml
        };
    }
    if r < f.error_rate + f.drop_rate + f.malformed_rate + f.rate_limited_rate {
        return FaultAction::RateLimited;
    }
    FaultAction::None
}

/// The HTML page served by the `MalformedHtml` fault (what a failing proxy returns).
pub(crate) const HTML_ERROR_PAGE: &str = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";
