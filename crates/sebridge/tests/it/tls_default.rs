//! TLS verification is on by default for every outbound connection: each client, built the
//! way the product builds it from a config with default settings, refuses a server whose
//! certificate comes from a CA nobody trusts (valid for the name it is reached by, so the
//! only fault is the issuer), with a certificate error. The server records every handshake:
//! each refusal is the client aborting it, and the clients that take a `ca_file` do connect
//! to the same server once told to trust its CA (the refusal is verification, not a broken
//! server).
//!
//! The certificates come from the `openssl` CLI (as in `broker_faults.rs`); the server is
//! tokio-rustls under axum, both already in the tree.

use crate::support;
use axum::Router;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sebridge::config::{Config, SourceConfig};
use sebridge::sinks::build::spawn_sink;
use sebridge::sources::stream::amqp::{self, AmqpError, ConnectOptions, Target, TlsPolicy};
use sebridge::sources::stream::credentials::StreamCredentials;
use sebridge::status::StatusBoard;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

/// A CA no system trusts, and a server certificate it signed for `localhost` and 127.0.0.1.
struct Pki {
    dir: PathBuf,
}

impl Pki {
    fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }
}

/// Made once per test binary run (EC keys: fast), under cargo's scratch folder for tests.
fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("tls-default-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch folder");
        crate::pki::ca_and_server(
            &dir,
            "sebridge untrusted test CA",
            "DNS:localhost,IP:127.0.0.1",
            crate::pki::Key::Ec,
        );
        Pki { dir }
    })
}

type Handshakes = Arc<Mutex<Vec<Result<(), String>>>>;

/// An HTTPS server (any path answers 200 `{}`) that records each TLS handshake's outcome.
struct TlsServer {
    addr: SocketAddr,
    handshakes: Handshakes,
    task: tokio::task::JoinHandle<()>,
}

struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    handshakes: Handshakes,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, peer)) = self.tcp.accept().await else {
                continue;
            };
            let outcome =
                tokio::time::timeout(Duration::from_secs(5), self.acceptor.accept(tcp)).await;
            match outcome {
                Ok(Ok(tls)) => {
                    self.handshakes.lock().unwrap().push(Ok(()));
                    return (tls, peer);
                }
                Ok(Err(e)) => self.handshakes.lock().unwrap().push(Err(e.to_string())),
                Err(_) => self
                    .handshakes
                    .lock()
                    .unwrap()
                    .push(Err("handshake timed out".into())),
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

impl TlsServer {
    async fn start() -> TlsServer {
        let pki = pki();
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_file_iter(pki.dir.join("server.pem"))
                .expect("server.pem")
                .collect::<Result<_, _>>()
                .expect("certificates");
        let key = PrivateKeyDer::from_pem_file(pki.dir.join("server.key")).expect("server.key");
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .expect("server certificate");
        let tcp = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = tcp.local_addr().expect("addr");
        let handshakes: Handshakes = Arc::default();
        let listener = TlsListener {
            tcp,
            acceptor: TlsAcceptor::from(Arc::new(config)),
            handshakes: handshakes.clone(),
        };
        let app = Router::new().fallback(|| async { "{}" });
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        TlsServer {
            addr,
            handshakes,
            task,
        }
    }

    fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    fn outcomes(&self) -> (usize, Vec<String>) {
        let h = self.handshakes.lock().unwrap();
        let ok = h.iter().filter(|r| r.is_ok()).count();
        let failed = h.iter().filter_map(|r| r.clone().err()).collect();
        (ok, failed)
    }

    /// At least one handshake was attempted, and the client aborted every one of them (the
    /// server may note the abort a moment after the client reported its error).
    async fn assert_only_refused(&self, who: &str) {
        let start = Instant::now();
        while self.outcomes().1.is_empty() {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "{who} never tried a handshake with the server"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let (ok, _) = self.outcomes();
        assert_eq!(
            ok, 0,
            "{who} completed a TLS handshake with an untrusted server"
        );
    }

    async fn wait_for_a_handshake(&self, who: &str) {
        let start = Instant::now();
        while self.outcomes().0 == 0 {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "{who} trusting the CA never completed a handshake: {:?}",
                self.outcomes().1
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The client's words say the certificate's issuer was the problem.
fn assert_certificate_error(who: &str, message: &str) {
    eprintln!("{who} refused: {message}");
    let lower = message.to_ascii_lowercase();
    // The certificate is valid for the name: the issuer is the only fault.
    assert!(
        lower.contains("invalid peer certificate") && lower.contains("unknownissuer"),
        "{who} failed, but not with an unknown-issuer certificate error: {message}"
    );
}

/// A config with one tenant, the given extra tables, loaded as the product loads it.
fn config(dir: &Path, tenant_url: &str, extra: &str) -> Config {
    let text = format!(
        "[store]\npath = {:?}\n\n[tenants.acme]\nbase_url = {tenant_url:?}\nclient_id = \"id-acme\"\n\
         api_key = \"key-acme-0123456789\"\n\n[sources.poll]\ntype = \"poll\"\n\n{extra}\n",
        dir.join("sebridge.db")
    );
    let text = if extra.contains("[sinks.") {
        text
    } else {
        format!("{text}[sinks.out]\ntype = \"stdout\"\n")
    };
    let path = dir.join("sebridge.toml");
    std::fs::write(&path, text).expect("config written");
    Config::load(&path).unwrap_or_else(|e| panic!("test config invalid: {e}"))
}

fn error_text(e: &dyn std::error::Error) -> String {
    http_core::error_chain(e)
}

// ---- the API clients (tenants, ServiceNow, XDR), as the incident service builds them --------

/// The incident service's clients for a config whose tenant, ServiceNow and XDR URLs are
/// the given servers.
async fn incident_clients(
    dir: &Path,
    tenant: &TlsServer,
    snow: &TlsServer,
    xdr: &TlsServer,
) -> sebridge::incidents::IncidentService {
    let extra = format!(
        "[incidents.servicenow]\ninstance_url = {:?}\nusername = \"svc\"\npassword = \"snow-password-0123\"\n\n\
         [incidents.xdr]\nbase_url = {:?}\nclient_id = \"client-1\"\nclient_password = \"xdr-password-0123\"\n",
        snow.url(),
        xdr.url()
    );
    let config = config(dir, &tenant.url(), &extra);
    let store = sebridge::store::Store::open_sqlite(&dir.join("sebridge.db"))
        .await
        .expect("store");
    let tenants = sebridge::tenants::resolve_all(&config, &store)
        .await
        .expect("tenants");
    sebridge::incidents::IncidentService::new(
        config.incidents.as_ref().expect("[incidents]"),
        &store,
        &tenants,
    )
    .expect("incident service")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secure_endpoint_servicenow_and_xdr_clients_refuse_an_untrusted_certificate() {
    let dir = tempfile::tempdir().expect("dir");
    let (tenant, snow, xdr) = (
        TlsServer::start().await,
        TlsServer::start().await,
        TlsServer::start().await,
    );
    let service = incident_clients(dir.path(), &tenant, &snow, &xdr).await;
    let ctx = &service.ctx;

    // Secure Endpoint: the client the incident service uses for isolation and groups ...
    let e = ctx.endpoints["acme"]
        .version()
        .await
        .expect_err("Secure Endpoint client refuses");
    assert_certificate_error("Secure Endpoint client", &error_text(&e));
    tenant.assert_only_refused("Secure Endpoint client").await;
    // ... and the poll source's (the same builder, on its own reqwest client).
    let config = config(dir.path(), &tenant.url(), "");
    let SourceConfig::Poll(poll) = &config.sources["poll"] else {
        panic!("a poll source")
    };
    let http = secure_endpoint::default_http_client(poll.request_timeout).expect("http");
    let store = sebridge::store::Store::open_sqlite(&dir.path().join("sebridge.db"))
        .await
        .expect("store");
    let tenants = sebridge::tenants::resolve_all(&config, &store)
        .await
        .expect("tenants");
    let client = sebridge::tenants::api_client(&tenants[0], &http).expect("client");
    let e = client
        .events(&Default::default())
        .await
        .expect_err("poll client refuses");
    assert_certificate_error("poll client", &error_text(&e));

    let e = ctx
        .snow
        .as_ref()
        .expect("ServiceNow client")
        .get("0123456789abcdef0123456789abcdef", &["state"])
        .await
        .expect_err("ServiceNow client refuses");
    assert_certificate_error("ServiceNow client", &error_text(&e));
    snow.assert_only_refused("ServiceNow client").await;

    let e = ctx
        .xdr
        .as_ref()
        .expect("XDR client")
        .get("incident-00000000-0000-4000-8000-000000000000")
        .await
        .expect_err("XDR client refuses");
    assert_certificate_error("XDR client", &error_text(&e));
    xdr.assert_only_refused("XDR client").await;

    // The same server with its CA trusted answers: it is the verification that refuses.
    let ca = reqwest::Certificate::from_pem(&std::fs::read(pki().ca()).expect("ca.pem"))
        .expect("CA certificate");
    let trusting = reqwest::Client::builder()
        .add_root_certificate(ca)
        .build()
        .expect("client");
    let answer = trusting
        .get(format!("{}/v1/version", tenant.url()))
        .send()
        .await
        .expect("a client trusting the CA connects");
    assert_eq!(answer.status(), 200);
    store.close().await;
}

// ---- sinks, built by the topology's own `spawn_sink` from their config ---------------------

/// Runs sink `name` (TOML table `table` with `{url}`/`{addr}` placeholders) against an
/// untrusted server until it reports a failure; then the same sink with `ca_file` set to
/// the CA connects to another such server.
async fn sink_refuses(name: &str, table: &str) {
    let dir = tempfile::tempdir().expect("dir");
    let store = support::journal(dir.path(), &support::events(5, 1), &["acme"]).await;
    let untrusted = TlsServer::start().await;
    let trusted = TlsServer::start().await;
    let fill = |server: &TlsServer, ca: bool| {
        let mut t = table
            .replace("{url}", &server.url())
            .replace("{addr}", &server.addr.to_string());
        t.push_str("\nretry_initial = \"50ms\"\nretry_max = \"200ms\"\nbatch_timeout = \"0s\"\n");
        if ca {
            t.push_str(&format!("ca_file = {:?}\n", pki().ca()));
        }
        t
    };
    let text = format!(
        "[sinks.plain]\n{}\n[sinks.with_ca]\n{}",
        fill(&untrusted, false),
        fill(&trusted, true)
    );
    let config = config(dir.path(), "https://127.0.0.1:9", &text);
    let status = StatusBoard::default();
    let shutdown = CancellationToken::new();
    let mut set = tokio::task::JoinSet::new();
    for sink in ["plain", "with_ca"] {
        spawn_sink(
            &mut set,
            sink,
            &config.sinks[sink],
            &store,
            &status,
            &shutdown,
        );
    }
    let start = Instant::now();
    let error = loop {
        let s = status
            .snapshot(0)
            .sinks
            .into_iter()
            .find(|s| s.sink == "plain");
        if let Some(err) = s.and_then(|s| s.last_error) {
            break err;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the {name} sink reported no error"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_certificate_error(&format!("{name} sink"), &error);
    untrusted.assert_only_refused(&format!("{name} sink")).await;
    trusted
        .wait_for_a_handshake(&format!("{name} sink with ca_file"))
        .await;
    shutdown.cancel();
    while set.join_next().await.is_some() {}
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn splunk_hec_sink_refuses_an_untrusted_certificate() {
    sink_refuses(
        "splunk_hec",
        "type = \"splunk_hec\"\nurl = \"{url}\"\ntoken = \"hec-token-0123456789\"",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn elasticsearch_sink_refuses_an_untrusted_certificate() {
    sink_refuses(
        "elasticsearch",
        "type = \"elasticsearch\"\nurl = \"{url}\"\napi_key = \"es-api-key-0123456789\"",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_sink_refuses_an_untrusted_certificate() {
    // The token endpoint is the first thing it calls; both are on the server under test.
    sink_refuses(
        "sentinel",
        "type = \"sentinel\"\nendpoint = \"{url}\"\ntoken_url = \"{url}/t/oauth2/v2.0/token\"\n\
         dcr_immutable_id = \"dcr-00000000000000000000000000000000\"\n\
         tenant_id = \"00000000-0000-0000-0000-000000000000\"\n\
         client_id = \"00000000-0000-0000-0000-000000000000\"\n\
         client_secret = \"sentinel-secret-0123456789\"",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_sink_refuses_an_untrusted_certificate() {
    sink_refuses(
        "webhook",
        "type = \"webhook\"\nurl = \"{url}/hook\"\nsecret = \"webhook-secret-0123456789\"",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syslog_tls_sink_refuses_an_untrusted_certificate() {
    sink_refuses(
        "syslog",
        "type = \"syslog\"\naddress = \"{addr}\"\ntransport = \"tls\"",
    )
    .await;
}

// ---- Event Streams (AMQP over TLS) ----------------------------------------------------------

/// What the stream source does with a stored stream (`proto = "https"`, as the API hands
/// out): the TLS policy from its config, rustls, connect.
async fn amqp_connect(server: &TlsServer, extra: &str) -> Result<(), AmqpError> {
    let dir = tempfile::tempdir().expect("dir");
    let config = config(
        dir.path(),
        "https://127.0.0.1:9",
        &format!("[sources.push]\ntype = \"stream\"\n{extra}\n"),
    );
    let SourceConfig::Stream(cfg) = &config.sources["push"] else {
        panic!("a stream source")
    };
    let policy = TlsPolicy {
        ca_file: cfg.ca_file.clone(),
        insecure: cfg.insecure,
    };
    let target = Target::from_credentials(&StreamCredentials {
        user_name: "stream-user".into(),
        password: "stream-password-0123456789".to_string().into(),
        queue_name: "event_stream_1".into(),
        host: "127.0.0.1".into(),
        port: server.addr.port().to_string(),
        proto: "https".into(),
    })?;
    assert!(target.tls, "proto https is AMQP over TLS");
    let tls = amqp::client_config(&policy)?;
    let opts = ConnectOptions {
        heartbeat: cfg.heartbeat,
        connect_timeout: Duration::from_secs(5),
        connection_name: "tls-test".into(),
    };
    amqp::connect(&target, &tls, &policy, &opts).await.map(drop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_stream_consumer_refuses_an_untrusted_certificate() {
    // broker_faults.rs covers a wrong `ca_file` and a wrong host name against a real TLS
    // broker; this is the default (no ca_file: the system's roots).
    let untrusted = TlsServer::start().await;
    let err = amqp_connect(&untrusted, "")
        .await
        .expect_err("the consumer refuses");
    assert!(
        matches!(err, AmqpError::Tls { .. }),
        "a TLS error, not {err:?}"
    );
    assert!(err.needs_human(), "a TLS refusal is not retried quickly");
    assert_certificate_error("stream consumer", &err.to_string());
    untrusted.assert_only_refused("stream consumer").await;
    // Trusting the CA, the handshake completes (then AMQP fails: the server speaks HTTP).
    let trusted = TlsServer::start().await;
    let err = amqp_connect(&trusted, &format!("ca_file = {:?}", pki().ca()))
        .await
        .expect_err("no broker there");
    assert!(!matches!(err, AmqpError::Tls { .. }), "{err}");
    trusted
        .wait_for_a_handshake("stream consumer with ca_file")
        .await;
}
