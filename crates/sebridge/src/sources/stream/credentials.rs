//! Event stream credentials kept in the store, sealed with the master key like API keys.
//!
//! The API shows a stream's AMQP password once, in the answer to its creation, and cannot
//! reset it: losing it means deleting and recreating the stream. So the whole credential set
//! (user, password, host, port, proto, queue) is sealed as one value right away, bound to its
//! row (tenant and stream id) by the associated data.

use super::store::StoredStream;
use crate::config::Config;
use crate::secrets::MasterKey;
use crate::store::{now_millis, Store};
use crate::tenants::{master_key, TenantError};
use secrecy::zeroize::Zeroizing;
use secure_endpoint::{EventStream, ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::fmt;

/// What a consumer needs to reach a stream's queue.
#[derive(Clone)]
pub struct StreamCredentials {
    pub user_name: String,
    pub password: SecretString,
    pub queue_name: String,
    pub host: String,
    /// As the API sends it (a string).
    pub port: String,
    /// `https` (TLS, what the API sends), `amqps`, or `amqp` (plain; loopback only).
    pub proto: String,
}

impl fmt::Debug for StreamCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamCredentials")
            .field("user_name", &self.user_name)
            .field("password", &"[REDACTED]")
            .field("queue_name", &self.queue_name)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("proto", &self.proto)
            .finish()
    }
}

/// A stored stream with its credentials opened.
#[derive(Clone, Debug)]
pub struct ResolvedStream {
    pub tenant: String,
    pub stream_id: u64,
    pub name: String,
    pub event_types: Vec<u64>,
    pub group_guids: Vec<String>,
    pub credentials: StreamCredentials,
}

#[derive(Serialize, Deserialize)]
struct Sealed<'a> {
    user_name: &'a str,
    password: &'a str,
    queue_name: &'a str,
    host: &'a str,
    port: &'a str,
    proto: &'a str,
}

fn associated_data(tenant: &str, stream_id: u64) -> Vec<u8> {
    // Binds the ciphertext to its row: credentials copied to another stream or tenant won't open.
    format!("stream:{tenant}:{stream_id}:amqp_credentials").into_bytes()
}

/// Seals the credentials of a freshly created stream (its answer carries the password) and
/// stores them. Refuses an answer without a password: it could never be used.
pub async fn save_created(
    config: &Config,
    store: &Store,
    tenant: &str,
    stream: &EventStream,
    event_types: &[u64],
    group_guids: &[String],
) -> Result<(), TenantError> {
    let c = &stream.amqp_credentials;
    let password = c.password().ok_or_else(|| {
        TenantError::Invalid(format!(
            "the API's answer for stream {} carries no AMQP password",
            stream.id
        ))
    })?;
    let creds = StreamCredentials {
        user_name: c.user_name.clone(),
        password: SecretString::from(password.to_string()),
        queue_name: c.queue_name.clone(),
        host: c.host.clone(),
        port: c.port.clone(),
        proto: c.proto.clone(),
    };
    save(
        config,
        store,
        tenant,
        stream.id,
        &stream.name,
        &creds,
        event_types,
        group_guids,
    )
    .await
}

/// Seals and stores credentials (created by us, or imported for an existing stream).
#[allow(clippy::too_many_arguments)]
pub async fn save(
    config: &Config,
    store: &Store,
    tenant: &str,
    stream_id: u64,
    name: &str,
    creds: &StreamCredentials,
    event_types: &[u64],
    group_guids: &[String],
) -> Result<(), TenantError> {
    let key = master_key(config, true)?;
    let sealed = seal(&key, tenant, stream_id, creds)?;
    let row = StoredStream {
        tenant: tenant.to_string(),
        stream_id,
        name: name.to_string(),
        queue_name: creds.queue_name.clone(),
        host: creds.host.clone(),
        port: creds.port.clone(),
        proto: creds.proto.clone(),
        event_types: event_types.to_vec(),
        group_guids: group_guids.to_vec(),
        sealed_credentials: sealed,
        created_at: now_millis(),
    };
    if !store.save_stream(&row).await? {
        return Err(TenantError::Exists(format!(
            "event stream {name:?} (id {stream_id}) of tenant {tenant}"
        )));
    }
    Ok(())
}

fn seal(
    key: &MasterKey,
    tenant: &str,
    stream_id: u64,
    c: &StreamCredentials,
) -> Result<Vec<u8>, TenantError> {
    let json = Zeroizing::new(
        serde_json::to_vec(&Sealed {
            user_name: &c.user_name,
            password: c.password.expose_secret(),
            queue_name: &c.queue_name,
            host: &c.host,
            port: &c.port,
            proto: &c.proto,
        })
        .map_err(|e| TenantError::Invalid(format!("cannot encode stream credentials: {e}")))?,
    );
    Ok(key.seal(&json, &associated_data(tenant, stream_id)))
}

/// Opens a stored stream's credentials.
pub fn open(key: &MasterKey, s: &StoredStream) -> Result<ResolvedStream, TenantError> {
    let text = key.open_string(
        &s.sealed_credentials,
        &associated_data(&s.tenant, s.stream_id),
    )?;
    let v: Sealed<'_> =
        serde_json::from_str(text.expose_secret()).map_err(|e| TenantError::Corrupt {
            name: s.tenant.clone(),
            problem: format!("stream {} credentials: {e}", s.stream_id),
        })?;
    Ok(ResolvedStream {
        tenant: s.tenant.clone(),
        stream_id: s.stream_id,
        name: s.name.clone(),
        event_types: s.event_types.clone(),
        group_guids: s.group_guids.clone(),
        credentials: StreamCredentials {
            user_name: v.user_name.to_string(),
            password: SecretString::from(v.password.to_string()),
            queue_name: v.queue_name.to_string(),
            host: v.host.to_string(),
            port: v.port.to_string(),
            proto: v.proto.to_string(),
        },
    })
}

/// Every stored stream of `tenant` (or of all tenants), opened. The master key is only
/// needed when there is at least one.
pub async fn resolve(
    config: &Config,
    store: &Store,
    tenant: Option<&str>,
) -> Result<Vec<ResolvedStream>, TenantError> {
    let stored = store.streams(tenant).await?;
    if stored.is_empty() {
        return Ok(Vec::new());
    }
    let key = master_key(config, false)?;
    stored.iter().map(|s| open(&key, s)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> StreamCredentials {
        StreamCredentials {
            user_name: "6-0123456789abcdef0123".into(),
            password: SecretString::from("f".repeat(40)),
            queue_name: "event_stream_6".into(),
            host: "export-streaming.amp.cisco.com".into(),
            port: "443".into(),
            proto: "https".into(),
        }
    }

    fn row(tenant: &str, id: u64, sealed: Vec<u8>) -> StoredStream {
        StoredStream {
            tenant: tenant.into(),
            stream_id: id,
            name: "n".into(),
            queue_name: "q".into(),
            host: "h".into(),
            port: "443".into(),
            proto: "https".into(),
            event_types: vec![],
            group_guids: vec![],
            sealed_credentials: sealed,
            created_at: 0,
        }
    }

    #[test]
    fn sealed_credentials_open_only_in_their_own_row() {
        let key = MasterKey::generate();
        let sealed = seal(&key, "acme", 6, &creds()).unwrap();
        assert!(!String::from_utf8_lossy(&sealed).contains("ffff"));
        let opened = open(&key, &row("acme", 6, sealed.clone())).unwrap();
        assert_eq!(opened.credentials.password.expose_secret(), "f".repeat(40));
        assert!(!format!("{opened:?}").contains("ffff"));
        assert!(open(&key, &row("acme", 7, sealed.clone())).is_err());
        assert!(open(&key, &row("globex", 6, sealed.clone())).is_err());
        assert!(open(&MasterKey::generate(), &row("acme", 6, sealed)).is_err());
    }
}
