//! A bearer token cache: the token is fetched once, shared by every task of a client, renewed
//! a margin before it expires and after the API refused it (401), one renewal at a time.
//!
//! The cache does not know how a token is obtained: the caller passes the renewal (an OAuth
//! client-credentials, password or refresh grant) to [`TokenCache::get`].

use secrecy::{ExposeSecret, SecretString};
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// An access token, with the refresh token that came with it.
pub struct Token {
    access: SecretString,
    refresh: Option<SecretString>,
    expires_at: Instant,
}

impl Token {
    /// A token that lives `lifetime` from now (the grant's `expires_in`).
    pub fn new(access: SecretString, refresh: Option<SecretString>, lifetime: Duration) -> Token {
        Token {
            access,
            refresh,
            expires_at: Instant::now() + lifetime,
        }
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("access", &"[REDACTED]")
            .field("refresh", &self.refresh.as_ref().map(|_| "[REDACTED]"))
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// The cached token of one client (share it behind the client's `Arc`).
pub struct TokenCache {
    margin: Duration,
    // A tokio mutex, held across the renewal: concurrent callers wait for the one renewal
    // instead of each asking for a token.
    slot: tokio::sync::Mutex<Option<Token>>,
    renewals: AtomicU64,
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCache")
            .field("margin", &self.margin)
            .field("renewals", &self.renewals())
            .finish_non_exhaustive()
    }
}

impl TokenCache {
    /// An empty cache that renews a token `margin` before it expires.
    pub fn new(margin: Duration) -> TokenCache {
        TokenCache {
            margin,
            slot: tokio::sync::Mutex::new(None),
            renewals: AtomicU64::new(0),
        }
    }

    /// The cached access token, or a new one from `renew` when there is none or it expires
    /// within the margin. `renew` gets the refresh token of the expiring token, if any. A
    /// failed renewal keeps the old token (and returns the error).
    pub async fn get<F, Fut, E>(&self, renew: F) -> Result<SecretString, E>
    where
        F: FnOnce(Option<SecretString>) -> Fut,
        Fut: Future<Output = Result<Token, E>>,
    {
        let mut guard = self.slot.lock().await;
        if let Some(t) = guard.as_ref() {
            if t.expires_at > Instant::now() + self.margin {
                return Ok(t.access.clone());
            }
        }
        let refresh = guard.as_ref().and_then(|t| t.refresh.clone());
        self.renewals.fetch_add(1, Ordering::Relaxed);
        let token = renew(refresh).await?;
        let access = token.access.clone();
        *guard = Some(token);
        Ok(access)
    }

    /// Drops the cached token if it is `used` (the one the API just refused), so that the
    /// next [`get`](Self::get) renews it. A token another task has renewed meanwhile is kept.
    pub async fn invalidate(&self, used: &SecretString) {
        let mut guard = self.slot.lock().await;
        if guard
            .as_ref()
            .is_some_and(|t| t.access.expose_secret() == used.expose_secret())
        {
            *guard = None;
        }
    }

    /// How many renewals were started so far (failed ones included).
    pub fn renewals(&self) -> u64 {
        self.renewals.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;

    const MARGIN: Duration = Duration::from_secs(60);

    fn token(access: &str, refresh: Option<&str>, lifetime: Duration) -> Token {
        Token::new(
            SecretString::from(access.to_string()),
            refresh.map(|r| SecretString::from(r.to_string())),
            lifetime,
        )
    }

    async fn get(cache: &TokenCache, access: &str, lifetime: Duration) -> String {
        let t = cache
            .get(|_| async { Ok::<_, ()>(token(access, None, lifetime)) })
            .await
            .unwrap();
        t.expose_secret().to_string()
    }

    #[tokio::test]
    async fn a_token_is_kept_until_the_margin() {
        let cache = TokenCache::new(MARGIN);
        assert_eq!(get(&cache, "a", Duration::from_secs(600)).await, "a");
        assert_eq!(get(&cache, "b", Duration::from_secs(600)).await, "a");
        assert_eq!(cache.renewals(), 1);
    }

    #[tokio::test]
    async fn a_token_within_the_margin_is_renewed_with_its_refresh_token() {
        let cache = TokenCache::new(MARGIN);
        // Lives 30 s: already inside the 60 s margin, so the next call renews it.
        let first = cache
            .get(|refresh| async move {
                assert!(refresh.is_none());
                Ok::<_, ()>(token("a", Some("r1"), Duration::from_secs(30)))
            })
            .await
            .unwrap();
        assert_eq!(first.expose_secret(), "a");
        let second = cache
            .get(|refresh| async move {
                assert_eq!(refresh.as_ref().map(|r| r.expose_secret()), Some("r1"));
                Ok::<_, ()>(token("b", None, Duration::from_secs(600)))
            })
            .await
            .unwrap();
        assert_eq!(second.expose_secret(), "b");
        assert_eq!(cache.renewals(), 2);
    }

    #[tokio::test]
    async fn invalidating_the_used_token_renews_it_and_not_another() {
        let cache = TokenCache::new(MARGIN);
        let a = SecretString::from("a".to_string());
        assert_eq!(get(&cache, "a", Duration::from_secs(600)).await, "a");
        // A stale token (already replaced) does not drop the current one.
        cache
            .invalidate(&SecretString::from("old".to_string()))
            .await;
        assert_eq!(get(&cache, "x", Duration::from_secs(600)).await, "a");
        assert_eq!(cache.renewals(), 1);
        cache.invalidate(&a).await;
        assert_eq!(get(&cache, "b", Duration::from_secs(600)).await, "b");
        assert_eq!(cache.renewals(), 2);
    }

    #[tokio::test]
    async fn a_failed_renewal_keeps_the_old_token_and_reports() {
        let cache = TokenCache::new(MARGIN);
        assert_eq!(get(&cache, "a", Duration::from_secs(1)).await, "a");
        let e = cache
            .get(|refresh| async move {
                assert!(refresh.is_none());
                Err::<Token, _>("refused")
            })
            .await
            .unwrap_err();
        assert_eq!(e, "refused");
        assert_eq!(get(&cache, "b", Duration::from_secs(600)).await, "b");
        assert_eq!(cache.renewals(), 3);
    }

    /// Counts renewals in flight and the most seen at once.
    #[derive(Default)]
    struct InFlight {
        now: AtomicUsize,
        max: AtomicUsize,
        calls: AtomicUsize,
    }

    async fn renew_slowly(f: &InFlight, lifetime: Duration) -> Result<Token, ()> {
        let n = f.now.fetch_add(1, Ordering::SeqCst) + 1;
        f.max.fetch_max(n, Ordering::SeqCst);
        let call = f.calls.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(20)).await;
        f.now.fetch_sub(1, Ordering::SeqCst);
        Ok(token(&format!("t{call}"), None, lifetime))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_callers_share_one_renewal() {
        let cache = Arc::new(TokenCache::new(MARGIN));
        let flight = Arc::new(InFlight::default());
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let (cache, flight) = (cache.clone(), flight.clone());
                tokio::spawn(async move {
                    let t = cache
                        .get(|_| renew_slowly(&flight, Duration::from_secs(600)))
                        .await
                        .unwrap();
                    t.expose_secret().to_string()
                })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap(), "t0");
        }
        assert_eq!(flight.calls.load(Ordering::SeqCst), 1);
        assert_eq!(cache.renewals(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn renewals_never_overlap() {
        let cache = Arc::new(TokenCache::new(MARGIN));
        let flight = Arc::new(InFlight::default());
        // Tokens that are born inside the margin: every caller renews, one after another.
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (cache, flight) = (cache.clone(), flight.clone());
                tokio::spawn(async move {
                    cache
                        .get(|_| renew_slowly(&flight, Duration::ZERO))
                        .await
                        .unwrap();
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(flight.calls.load(Ordering::SeqCst), 8);
        assert_eq!(flight.max.load(Ordering::SeqCst), 1);
        assert_eq!(cache.renewals(), 8);
    }

    #[test]
    fn debug_is_redacted() {
        let t = token("s3cr3t-a", Some("s3cr3t-r"), Duration::from_secs(1));
        assert!(!format!("{t:?}").contains("s3cr3t"));
    }
}
