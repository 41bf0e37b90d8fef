//! Retries: the backoff between attempts at a batch, and the position commit's own short
//! retries.

use crate::store::{Position, Store, StoreError};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::warn;

/// The delay before retry number `failures` (1-based): exponential from `initial`, capped at
/// `max`, with "equal jitter" (half fixed, half random) so many failing sinks or replicas do
/// not retry in lockstep.
pub fn backoff(initial: Duration, max: Duration, failures: u32) -> Duration {
    let exp = initial.saturating_mul(1u32 << failures.saturating_sub(1).min(20));
    let d = exp.min(max);
    let half = d / 2;
    let jitter_ms = u64::try_from(half.as_millis()).unwrap_or(u64::MAX);
    half + Duration::from_millis(rand::random_range(0..=jitter_ms))
}

/// Longest pause between attempts to commit a position.
const COMMIT_MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Commits a position, retrying until it is stored or the sink stops. The store may be
/// busy, or unable to write at all (its disk full): the sink waits for it instead of
/// ending, so it resumes by itself once the store can write again. Only a stop ends the
/// wait with an error (the batch was delivered: it is sent again at the next start).
pub(super) async fn commit_with_retry(
    store: &Store,
    name: &str,
    p: &Position,
    shutdown: &CancellationToken,
) -> Result<(), StoreError> {
    let mut attempt: u32 = 0;
    loop {
        match store.commit_position(name, p).await {
            Ok(()) => {
                if attempt > 0 {
                    warn!(sink = %name, attempts = attempt + 1, "position committed again after failures");
                }
                return Ok(());
            }
            Err(e) if !shutdown.is_cancelled() => {
                attempt += 1;
                // The first failures, then at powers of two: a long outage is not a flood.
                if attempt <= 3 || attempt.is_power_of_two() {
                    warn!(sink = %name, error = %e, attempt, "cannot commit position; retrying (the sink waits)");
                }
                let d = Duration::from_millis(200)
                    .saturating_mul(1 << attempt.min(16))
                    .min(COMMIT_MAX_BACKOFF);
                if wait(shutdown, d).await {
                    return Err(e);
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// Sleeps; true if shutdown came first.
pub(super) async fn wait(shutdown: &CancellationToken, d: Duration) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => false,
        _ = shutdown.cancelled() => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_caps_and_jitters() {
        let i = Duration::from_millis(100);
        let m = Duration::from_secs(10);
        for failures in 1..40 {
            let d = backoff(i, m, failures);
            let exp = i.saturating_mul(1 << (failures - 1).min(20)).min(m);
            assert!(d >= exp / 2 && d <= exp, "{failures}: {d:?} vs {exp:?}");
        }
        let samples: std::collections::HashSet<_> =
            (0..50).map(|_| backoff(i, m, 10).as_millis()).collect();
        assert!(samples.len() > 1, "jitter varies the delay");
    }
}
