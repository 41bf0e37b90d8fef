//! Per-credential fixed-window rate limiting, as described by the API docs: a budget of
//! requests per window (3000 per hour by default), the window starting at the tenant's
//! first request, and `x-ratelimit-*` headers on every response.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Outcome of one rate-limit check, with the values of the headers to send.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RateStatus {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Whole seconds until the window resets (rounded up).
    pub reset_secs: u64,
    /// Epoch seconds at which the window resets.
    pub reset_at: i64,
}

#[derive(Debug)]
pub(crate) struct RateLimiter {
    pub limit: u32,
    pub window: Duration,
    start: Option<Instant>,
    used: u32,
}

fn epoch_secs_after(d: Duration) -> i64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    (now + d).as_secs_f64().ceil() as i64
}

impl RateLimiter {
    pub fn new(limit: u32, window: Duration) -> Self {
        RateLimiter {
            limit,
            window,
            start: None,
            used: 0,
        }
    }

    /// Changes the budget and starts a fresh window at the next request.
    pub fn set(&mut self, limit: u32, window: Duration) {
        self.limit = limit;
        self.window = window;
        self.start = None;
        self.used = 0;
    }

    /// Counts one request (if within budget) and returns the header values.
    pub fn check(&mut self, now: Instant) -> RateStatus {
        let start = match self.start {
            Some(s) if now.duration_since(s) < self.window => s,
            _ => {
                self.start = Some(now);
                self.used = 0;
                now
            }
        };
        let left = self.window.saturating_sub(now.duration_since(start));
        let allowed = self.used < self.limit;
        if allowed {
            self.used += 1;
        }
        RateStatus {
            allowed,
            limit: self.limit,
            remaining: self.limit - self.used.min(self.limit),
            reset_secs: left.as_secs_f64().ceil() as u64,
            reset_at: epoch_secs_after(left),
        }
    }

    /// Header values for a request that is not counted (e.g. before authentication).
    pub fn untouched(limit: u32, window: Duration) -> RateStatus {
        RateStatus {
            allowed: true,
            limit,
            remaining: limit,
            reset_secs: window.as_secs_f64().ceil() as u64,
            reset_at: epoch_secs_after(window),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_window() {
        let mut rl = RateLimiter::new(2, Duration::from_secs(10));
        let t0 = Instant::now();
        let a = rl.check(t0);
        assert!(a.allowed && a.remaining == 1 && a.reset_secs == 10);
        assert!(rl.check(t0 + Duration::from_secs(1)).allowed);
        let c = rl.check(t0 + Duration::from_secs(2));
        assert!(!c.allowed && c.remaining == 0 && c.reset_secs == 8);
        let d = rl.check(t0 + Duration::from_secs(10));
        assert!(d.allowed && d.remaining == 1);
    }
}
