//! API credentials (HTTP Basic: client id + API key).

use secrecy::{ExposeSecret, SecretString};
use std::fmt;

/// The "3rd Party API Client ID" and "API Key" pair of a Secure Endpoint organisation.
///
/// `Debug` never shows the key; the client id is shown because it is needed to tell tenants
/// apart in logs and is not a secret on its own.
#[derive(Clone)]
pub struct Credentials {
    client_id: String,
    api_key: SecretString,
}

impl Credentials {
    /// Builds credentials from the client id and API key.
    pub fn new(client_id: impl Into<String>, api_key: impl Into<String>) -> Self {
        Credentials {
            client_id: client_id.into(),
            api_key: SecretString::from(api_key.into()),
        }
    }

    /// The API client id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The API key. Call sites that expose it must not log it.
    pub fn api_key(&self) -> &SecretString {
        &self.api_key
    }

    pub(crate) fn basic_auth(&self) -> (&str, &str) {
        (&self.client_id, self.api_key.expose_secret())
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("client_id", &self.client_id)
            .field("api_key", &"[REDACTED]")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_the_key() {
        let c = Credentials::new("0123456789abcdef0123", "s3cr3t-key-value");
        let shown = format!("{c:?}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(shown.contains("0123456789abcdef0123"));
    }
}
