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

/// Commits a position, retrying a few times (the store may be busy) unless stopping.
pub(super) async fn commit_with_retry(
    store: &Store,
    name: &str,
    p: &Position,
    shutdown: &CancellationToken,
) -> Result<(), StoreError> {
    let mut attempt = 0;
    loop {
        match store.commit_position(name, p).await {
            Ok(()) => return Ok(()),
            Err(e) if attempt < 5 && !shutdown.is_cancelled() => {
                attempt += 1;
                warn!(sink = %name, error = %e, "cannot commit position; retrying");
                tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
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
