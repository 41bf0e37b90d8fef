//! Request pacing for the poll source: requests spaced by the API's own rate-limit headers,
//! a 429 waited out until the announced reset, quick retries of transient errors, and the
//! jittered backoff between failed polls.

use super::{PollError, TenantPoller};
use secure_endpoint::{Error as ApiError, RateLimit};
use std::time::Duration;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

/// Quick retries of one request for transient errors before the poll gives up.
const REQUEST_RETRIES: u32 = 3;
/// Longest pause between polls after repeated failures.
pub(super) const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// Spaces requests by the API's own rate-limit headers, so steady state never sees a 429.
#[derive(Default)]
pub(super) struct Pacer {
    last: Option<RateLimit>,
}

impl Pacer {
    pub(super) fn observe(&mut self, rl: Option<RateLimit>) {
        if rl.is_some() {
            self.last = rl;
        }
    }

    /// How long to wait before the next request.
    pub(super) fn delay(&self, now: OffsetDateTime) -> Duration {
        let Some(rl) = &self.last else {
            return Duration::ZERO;
        };
        let (Some(remaining), reset) = (rl.remaining, rl.reset_in(now)) else {
            return Duration::ZERO;
        };
        if reset.is_zero() {
            return Duration::ZERO;
        }
        if remaining == 0 {
            return reset + Duration::from_millis(250);
        }
        // Below 10% of the budget, spread what is left evenly over the rest of the window
        // instead of spending it in a burst and then hitting 429.
        let limit = rl.limit.unwrap_or(3000).max(1);
        if remaining * 10 < limit {
            return reset / u32::try_from(remaining + 1).unwrap_or(u32::MAX);
        }
        Duration::ZERO
    }
}

pub(super) fn jitter(d: Duration) -> Duration {
    // Up to +25%, so a thousand tenants failing together do not retry together.
    let max = (d.as_millis() / 4).min(60_000) as u64;
    if max == 0 {
        return d;
    }
    d + Duration::from_millis(rand::random_range(0..=max))
}

pub(super) async fn sleep_or_cancel(
    d: Duration,
    shutdown: &CancellationToken,
) -> Result<(), PollError> {
    tokio::select! {
        _ = tokio::time::sleep(d) => Ok(()),
        _ = shutdown.cancelled() => Err(PollError::Shutdown),
    }
}

impl TenantPoller {
    /// One request with pacing and a few quick retries of transient failures.
    pub(super) async fn with_retries<T, F, Fut>(
        &mut self,
        shutdown: &CancellationToken,
        mut call: F,
    ) -> Result<secure_endpoint::ApiResponse<T>, PollError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<secure_endpoint::ApiResponse<T>, ApiError>>,
    {
        let mut attempt = 0;
        loop {
            let wait = self.pacer.delay(OffsetDateTime::now_utc());
            if !wait.is_zero() {
                debug!(tenant = %self.tenant.name, ?wait, "pacing by the API rate limit");
                sleep_or_cancel(wait, shutdown).await?;
            }
            let result = tokio::select! {
                r = call() => r,
                _ = shutdown.cancelled() => return Err(PollError::Shutdown),
            };
            self.status
                .update_tenant(&self.tenant.name, &self.source, |s| s.requests += 1);
            let outcome = match &result {
                Ok(_) => "ok",
                Err(e) => e.kind(),
            };
            metrics::counter!("sebridge_api_requests_total", "tenant" => self.tenant.name.clone(), "outcome" => outcome).increment(1);
            match result {
                Ok(resp) => {
                    self.pacer.observe(resp.rate_limit.clone());
                    let remaining = resp.rate_limit.as_ref().and_then(|r| r.remaining);
                    self.status
                        .update_tenant(&self.tenant.name, &self.source, |s| {
                            s.rate_limit_remaining = remaining
                        });
                    return Ok(resp);
                }
                Err(ApiError::RateLimited {
                    retry_after,
                    rate_limit,
                }) => {
                    // The budget is spent: wait for the reset the API announced, not a guess.
                    self.pacer.observe(rate_limit.clone());
                    warn!(tenant = %self.tenant.name, retry_in = ?retry_after, "rate limited by the API (429); waiting for the reset");
                    attempt += 1;
                    if attempt > REQUEST_RETRIES {
                        return Err(ApiError::RateLimited {
                            retry_after,
                            rate_limit,
                        }
                        .into());
                    }
                    sleep_or_cancel(retry_after, shutdown).await?;
                }
                Err(e) if e.is_retryable() && attempt < REQUEST_RETRIES => {
                    attempt += 1;
                    let message = e.to_string();
                    self.status
                        .update_tenant(&self.tenant.name, &self.source, |s| {
                            s.errors += 1;
                            s.last_error = Some(message);
                        });
                    let wait = jitter(Duration::from_millis(250) * (1 << attempt));
                    debug!(tenant = %self.tenant.name, error = %e, ?wait, "transient API error; retrying");
                    sleep_or_cancel(wait, shutdown).await?;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn pacer_waits_for_reset_when_budget_is_spent() {
        let now = datetime!(2024-01-01 00:00:00 UTC);
        let mut p = Pacer::default();
        assert_eq!(p.delay(now), Duration::ZERO);
        p.observe(Some(RateLimit {
            limit: Some(3000),
            remaining: Some(2000),
            reset_at: Some(now + Duration::from_secs(100)),
        }));
        assert_eq!(p.delay(now), Duration::ZERO);
        p.observe(Some(RateLimit {
            limit: Some(3000),
            remaining: Some(99),
            reset_at: Some(now + Duration::from_secs(100)),
        }));
        assert_eq!(p.delay(now), Duration::from_secs(1));
        p.observe(Some(RateLimit {
            limit: Some(3000),
            remaining: Some(0),
            reset_at: Some(now + Duration::from_secs(100)),
        }));
        assert!(p.delay(now) >= Duration::from_secs(100));
    }
}
