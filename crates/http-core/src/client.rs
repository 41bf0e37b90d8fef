//! The reqwest client every API client builds, and the builder settings they share.

use std::time::Duration;

/// Per-request timeout of a client built without an explicit one.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// An HTTP client with the settings the APIs expect: the given overall timeout, a connect
/// timeout of at most 10 s (a dead host fails fast even with a long request timeout), the
/// caller's user agent, idle connections kept 60 s. TLS is rustls and gzip is accepted (the
/// crate's reqwest features).
pub fn http_client(user_agent: &str, timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .user_agent(user_agent)
        .pool_idle_timeout(Duration::from_secs(60))
        .build()
}

/// The HTTP part of a client builder: a timeout, or a client supplied by the caller (one
/// connection pool shared by many API clients), in which case the timeout is not used.
#[derive(Clone, Debug)]
pub struct HttpSettings {
    timeout: Duration,
    shared: Option<reqwest::Client>,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            timeout: DEFAULT_TIMEOUT,
            shared: None,
        }
    }
}

impl HttpSettings {
    /// Sets the per-request timeout (ignored when a client is supplied).
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Uses this client instead of building one.
    pub fn share(&mut self, http: reqwest::Client) {
        self.shared = Some(http);
    }

    /// The supplied client, or a new one from [`http_client`].
    pub fn build(self, user_agent: &str) -> Result<reqwest::Client, reqwest::Error> {
        match self.shared {
            Some(h) => Ok(h),
            None => http_client(user_agent, self.timeout),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_or_shares() {
        let mut s = HttpSettings::default();
        s.set_timeout(Duration::from_secs(1));
        assert!(s.clone().build("ua/1").is_ok());
        s.share(reqwest::Client::new());
        assert!(s.build("ua/1").is_ok());
    }
}
