//! AMQP 0-9-1 connections to Event Streams, shared by the stream source and `sebridge tail`.
//!
//! TLS is rustls with certificate and hostname verification, on by default: the API hands
//! out `proto = "https"`, port 443 (AMQP over TLS). Trust comes from the system's roots, or
//! only from `ca_file` when one is given (a private CA). `insecure` turns verification off
//! and says so loudly on every connection. Plain AMQP is refused unless the host is a
//! loopback address (tests, the local simulator): credentials never cross a network in clear.

use super::credentials::StreamCredentials;
use lapin::options::{BasicConsumeOptions, BasicQosOptions, QueueDeclareOptions};
use lapin::tcp::{AsyncTcpStream, RustlsConnector};
use lapin::types::FieldTable;
use lapin::uri::{AMQPAuthority, AMQPQueryString, AMQPScheme, AMQPUri, AMQPUserInfo};
use lapin::{Channel, Connection, ConnectionProperties, Consumer};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use secure_endpoint::ExposeSecret;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Why a connection to a stream failed. `Config`, `Auth`, `Tls` and `QueueMissing` need a
/// human; the others are transient.
#[derive(Debug, thiserror::Error)]
pub enum AmqpError {
    #[error("{0}")]
    Config(String),
    #[error("TLS with {endpoint} failed: {message}")]
    Tls { endpoint: String, message: String },
    #[error("cannot connect to {endpoint}: {message}")]
    Connect { endpoint: String, message: String },
    #[error("the broker at {endpoint} refused the login of user {user:?}: {message}")]
    Auth {
        endpoint: String,
        user: String,
        message: String,
    },
    #[error("queue {queue:?} does not exist or may not be read (is the event stream deleted?): {message}")]
    QueueMissing { queue: String, message: String },
    #[error("AMQP error: {0}")]
    Protocol(String),
}

impl AmqpError {
    /// Errors time will not fix (they are still retried, slowly).
    pub fn needs_human(&self) -> bool {
        matches!(
            self,
            AmqpError::Config(_)
                | AmqpError::Tls { .. }
                | AmqpError::Auth { .. }
                | AmqpError::QueueMissing { .. }
        )
    }

    /// What a deleted stream looks like at connection time (its user and queue are removed
    /// with it), in a few words; `None` for failures a deletion does not cause.
    pub fn deletion_hint(&self) -> Option<&'static str> {
        match self {
            AmqpError::Auth { .. } => Some("the broker refuses its login"),
            AmqpError::QueueMissing { .. } => Some("its queue is missing"),
            _ => None,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            AmqpError::Config(_) => "config",
            AmqpError::Tls { .. } => "tls",
            AmqpError::Connect { .. } => "connect",
            AmqpError::Auth { .. } => "auth",
            AmqpError::QueueMissing { .. } => "queue_missing",
            AmqpError::Protocol(_) => "protocol",
        }
    }
}

/// How the broker's certificate is checked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsPolicy {
    /// PEM file of the CA(s) to trust instead of the system's roots.
    pub ca_file: Option<PathBuf>,
    /// Accept any certificate (testing only; warned about on every connection).
    pub insecure: bool,
}

/// Where to connect and as whom.
#[derive(Clone, Debug)]
pub struct Target {
    pub host: String,
    pub port: u16,
    pub tls: bool,
    pub credentials: StreamCredentials,
}

impl Target {
    /// From a stream's credentials. Plain AMQP to anything but a loopback host is refused.
    pub fn from_credentials(c: &StreamCredentials) -> Result<Target, AmqpError> {
        let port: u16 = c.port.trim().parse().map_err(|_| {
            AmqpError::Config(format!("AMQP port {:?} is not a port number", c.port))
        })?;
        let tls = !matches!(
            c.proto.trim().to_ascii_lowercase().as_str(),
            "amqp" | "http"
        );
        let host = c.host.trim().to_string();
        if host.is_empty() {
            return Err(AmqpError::Config("the stream's AMQP host is empty".into()));
        }
        if !tls && !is_loopback(&host) {
            return Err(AmqpError::Config(format!(
                "refusing plain (unencrypted) AMQP to {host}:{port}: the stream's proto is {:?}; \
                 plain AMQP is only allowed to a loopback host",
                c.proto
            )));
        }
        Ok(Target {
            host,
            port,
            tls,
            credentials: c.clone(),
        })
    }

    /// `amqps://host:port` (no credentials), for logs and status.
    pub fn endpoint(&self) -> String {
        format!(
            "{}://{}:{}",
            if self.tls { "amqps" } else { "amqp" },
            self.host,
            self.port
        )
    }
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The rustls configuration for a policy (built once per source).
pub fn client_config(policy: &TlsPolicy) -> Result<Arc<ClientConfig>, AmqpError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| AmqpError::Config(format!("TLS setup: {e}")))?;
    if policy.insecure {
        return Ok(Arc::new(
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
                .with_no_client_auth(),
        ));
    }
    let mut roots = RootCertStore::empty();
    match &policy.ca_file {
        Some(path) => {
            for cert in read_pem_certs(path)? {
                roots
                    .add(cert)
                    .map_err(|e| AmqpError::Config(format!("CA file {}: {e}", path.display())))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for e in &found.errors {
                tracing::warn!(error = %e, "problem loading a system CA certificate");
            }
            let (added, _ignored) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(AmqpError::Config(
                    "no system CA certificates found (install ca-certificates, or set ca_file)"
                        .into(),
                ));
            }
        }
    }
    Ok(Arc::new(
        builder.with_root_certificates(roots).with_no_client_auth(),
    ))
}

fn read_pem_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, AmqpError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| AmqpError::Config(format!("cannot read CA file {}: {e}", path.display())))?
        .collect::<Result<_, _>>()
        .map_err(|e| AmqpError::Config(format!("CA file {}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(AmqpError::Config(format!(
            "CA file {} holds no PEM certificate",
            path.display()
        )));
    }
    Ok(certs)
}

/// `insecure = true`: no certificate check at all (handshake signatures are still checked,
/// so the session is encrypted, but to an unauthenticated peer).
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Connection settings.
#[derive(Clone, Debug)]
pub struct ConnectOptions {
    /// AMQP heartbeat asked for (the broker may lower it); 0 disables.
    pub heartbeat: Duration,
    pub connect_timeout: Duration,
    /// Shown in the broker's connection list.
    pub connection_name: String,
}

/// Opens a connection (TCP, TLS when the target says so, AMQP login on vhost `/`).
pub async fn connect(
    target: &Target,
    tls: &Arc<ClientConfig>,
    policy: &TlsPolicy,
    opts: &ConnectOptions,
) -> Result<Connection, AmqpError> {
    let endpoint = target.endpoint();
    if target.tls && policy.insecure {
        tracing::warn!(
            %endpoint,
            "INSECURE: TLS certificate verification is OFF for this event stream (insecure = true); \
             anyone on the path can read and alter events. Use ca_file for a private CA instead."
        );
    }
    let uri = AMQPUri {
        scheme: if target.tls {
            AMQPScheme::AMQPS
        } else {
            AMQPScheme::AMQP
        },
        authority: AMQPAuthority {
            userinfo: AMQPUserInfo {
                username: target.credentials.user_name.clone(),
                password: target.credentials.password.expose_secret().to_string(),
            },
            host: target.host.clone(),
            port: target.port,
        },
        vhost: "/".into(),
        query: AMQPQueryString {
            heartbeat: Some(u16::try_from(opts.heartbeat.as_secs()).unwrap_or(u16::MAX)),
            connection_timeout: Some(
                u64::try_from(opts.connect_timeout.as_millis()).unwrap_or(u64::MAX),
            ),
            ..Default::default()
        },
    };
    let runtime = lapin::runtime::default_runtime()
        .map_err(|e| AmqpError::Protocol(format!("no async runtime: {e}")))?;
    let host = target.host.clone();
    let port = target.port;
    let use_tls = target.tls;
    let connector = RustlsConnector::from(tls.clone());
    let props =
        ConnectionProperties::default().with_connection_name(opts.connection_name.as_str().into());
    let fut = Connection::connector(
        uri,
        runtime,
        async move |_uri, runtime| {
            // Each resolved address in turn ("localhost" may list ::1 first while the broker
            // only listens on 127.0.0.1).
            let mut last = std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{host} resolves to no address"),
            );
            let mut connected = None;
            for addr in tokio::net::lookup_host((host.as_str(), port)).await? {
                match AsyncTcpStream::connect(&runtime, vec![addr]).await {
                    Ok(s) => {
                        connected = Some(s);
                        break;
                    }
                    Err(e) => last = e,
                }
            }
            let stream = connected.ok_or(last)?;
            if use_tls {
                let name = host.trim_start_matches('[').trim_end_matches(']');
                Ok(stream.into_rustls(&connector, name).await?)
            } else {
                Ok(stream)
            }
        },
        props,
    );
    match tokio::time::timeout(opts.connect_timeout, fut).await {
        Err(_) => Err(AmqpError::Connect {
            endpoint,
            message: format!("no answer within {:?}", opts.connect_timeout),
        }),
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(classify_connect_error(
            &endpoint,
            &target.credentials.user_name,
            &e,
        )),
    }
}

fn classify_connect_error(endpoint: &str, user: &str, e: &lapin::Error) -> AmqpError {
    let message = http_core::error_chain(e);
    let lower = message.to_ascii_lowercase();
    if lower.contains("certificate") || lower.contains("tls") || lower.contains("handshake") {
        let hint = if lower.contains("notvalidforname") || lower.contains("not valid for name") {
            " (the certificate is not valid for this host name)"
        } else if lower.contains("unknownissuer") || lower.contains("unknown issuer") {
            " (the certificate is not signed by a trusted CA: set ca_file to the broker's CA)"
        } else {
            ""
        };
        return AmqpError::Tls {
            endpoint: endpoint.to_string(),
            message: format!("{message}{hint}"),
        };
    }
    if lower.contains("access_refused")
        || lower.contains("access-refused")
        || lower.contains("authentication")
        || lower.contains("login was refused")
    {
        return AmqpError::Auth {
            endpoint: endpoint.to_string(),
            user: user.to_string(),
            message,
        };
    }
    AmqpError::Connect {
        endpoint: endpoint.to_string(),
        message,
    }
}

/// An open consumer on a stream's queue.
pub struct Subscription {
    pub channel: Channel,
    pub consumer: Consumer,
    /// Messages waiting in the queue when it was opened.
    pub backlog: u32,
    /// Other consumers on the queue when it was opened.
    pub other_consumers: u32,
}

/// Opens the queue the way the API says (passive, durable: never create it), sets the
/// prefetch and starts consuming with manual acks.
pub async fn subscribe(
    conn: &Connection,
    queue: &str,
    prefetch: u16,
    consumer_tag: &str,
) -> Result<Subscription, AmqpError> {
    let channel = conn.create_channel().await.map_err(|e| {
        AmqpError::Protocol(format!(
            "cannot open a channel: {}",
            http_core::error_chain(&e)
        ))
    })?;
    let declared = channel
        .queue_declare(
            queue.into(),
            QueueDeclareOptions {
                passive: true,
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .map_err(|e| {
            let message = http_core::error_chain(&e);
            if message.contains("NOT_FOUND")
                || message.contains("ACCESS_REFUSED")
                || message.to_ascii_lowercase().contains("not found")
            {
                AmqpError::QueueMissing {
                    queue: queue.to_string(),
                    message,
                }
            } else {
                AmqpError::Protocol(format!("declaring queue {queue}: {message}"))
            }
        })?;
    channel
        .basic_qos(prefetch, BasicQosOptions::default())
        .await
        .map_err(|e| AmqpError::Protocol(format!("basic.qos: {}", http_core::error_chain(&e))))?;
    let consumer = channel
        .basic_consume(
            queue.into(),
            consumer_tag.into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(|e| {
            let message = http_core::error_chain(&e);
            if message.contains("ACCESS_REFUSED") {
                AmqpError::QueueMissing {
                    queue: queue.to_string(),
                    message,
                }
            } else {
                AmqpError::Protocol(format!("basic.consume on {queue}: {message}"))
            }
        })?;
    Ok(Subscription {
        channel,
        consumer,
        backlog: declared.message_count(),
        other_consumers: declared.consumer_count(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use secure_endpoint::SecretString;

    fn creds(host: &str, proto: &str) -> StreamCredentials {
        StreamCredentials {
            user_name: "u".into(),
            password: SecretString::from("p".to_string()),
            queue_name: "q".into(),
            host: host.into(),
            port: "443".into(),
            proto: proto.into(),
        }
    }

    #[test]
    fn plain_amqp_only_to_loopback() {
        assert!(Target::from_credentials(&creds("127.0.0.1", "amqp")).is_ok());
        assert!(Target::from_credentials(&creds("localhost", "amqp")).is_ok());
        let e =
            Target::from_credentials(&creds("export-streaming.amp.cisco.com", "amqp")).unwrap_err();
        assert!(e.needs_human() && e.to_string().contains("plain"), "{e}");
        // What the API sends: https on 443 means AMQP over TLS.
        let t =
            Target::from_credentials(&creds("export-streaming.amp.cisco.com", "https")).unwrap();
        assert!(t.tls);
        assert_eq!(t.endpoint(), "amqps://export-streaming.amp.cisco.com:443");
    }

    #[test]
    fn ca_file_problems_are_config_errors() {
        let dir = tempfile::tempdir().unwrap();
        let missing = TlsPolicy {
            ca_file: Some(dir.path().join("nope.pem")),
            insecure: false,
        };
        assert!(matches!(client_config(&missing), Err(AmqpError::Config(_))));
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate").unwrap();
        let policy = TlsPolicy {
            ca_file: Some(empty),
            insecure: false,
        };
        assert!(matches!(client_config(&policy), Err(AmqpError::Config(_))));
    }
}
