//! `Debug` of every type that holds a credential shows none of it: one test per type, built
//! the way the product builds it (from a config file where it comes from one). Covered
//! elsewhere and not repeated here: `secure_endpoint::Credentials` and the Event Stream
//! creation answer (secure-endpoint), `http_core::Token`, `servicenow::Auth` and a Basic
//! `servicenow::Client`, `xdr::Credentials`, `MasterKey` (secrets.rs), and in
//! config/tests.rs a tenant's `api_key` (also in config errors), the HEC token and the
//! PostgreSQL sink's URL.

use sebridge::config::{Config, ElasticAuth, ServiceNowAuth, SinkConfig, StoreConfig};
use sebridge::sources::stream::amqp::Target;
use sebridge::sources::stream::credentials::{ResolvedStream, StreamCredentials};
use secure_endpoint::{ExposeSecret as _, SecretString};
use std::path::Path;
use std::time::Duration;

/// Every secret of the file below; each is distinctive, so a partial leak shows too.
const SECRETS: &[&str] = &[
    "TENANT-API-KEY-5ecret",
    "HEC-TOKEN-5ecret",
    "ES-API-KEY-5ecret",
    "ES-PASSWORD-5ecret",
    "WEBHOOK-SINK-5ecret-0123456789",
    "SENTINEL-CLIENT-5ecret",
    "PG-SINK-PASSWORD-5ecret",
    "PG-STORE-PASSWORD-5ecret",
    "SNOW-PASSWORD-5ecret",
    "SNOW-CLIENT-SECRET-5ecret",
    "XDR-PASSWORD-5ecret",
    "SNOW-HOOK-HMAC-5ecret-0123456789",
    "SNOW-HOOK-BEARER-5ecret-0123456789",
];

fn assert_hidden(what: &str, shown: &str) {
    for s in SECRETS {
        assert!(!shown.contains(s), "Debug of {what} shows {s}: {shown}");
    }
    // Not even a recognisable part of one.
    assert!(!shown.contains("5ecret"), "Debug of {what}: {shown}");
}

fn config_text(store: &str) -> String {
    format!(
        r#"
{store}

[tenants.acme]
base_url = "http://127.0.0.1:9"
client_id = "id-acme"
api_key = "TENANT-API-KEY-5ecret"

[sources.poll]
type = "poll"

[sources.push]
type = "stream"

[sinks.splunk]
type = "splunk_hec"
url = "http://127.0.0.1:9"
token = "HEC-TOKEN-5ecret"

[sinks.elastic_key]
type = "elasticsearch"
url = "http://127.0.0.1:9"
api_key = "ES-API-KEY-5ecret"

[sinks.elastic_basic]
type = "elasticsearch"
url = "http://127.0.0.1:9"
username = "elastic"
password = "ES-PASSWORD-5ecret"

[sinks.soar]
type = "webhook"
url = "http://127.0.0.1:9/hook"
secret = "WEBHOOK-SINK-5ecret-0123456789"

[sinks.sentinel]
type = "sentinel"
endpoint = "http://127.0.0.1:9"
dcr_immutable_id = "dcr-00000000000000000000000000000000"
tenant_id = "00000000-0000-0000-0000-000000000000"
client_id = "00000000-0000-0000-0000-000000000000"
client_secret = "SENTINEL-CLIENT-5ecret"

[sinks.warehouse]
type = "postgres"
url = "postgres://events:PG-SINK-PASSWORD-5ecret@127.0.0.1:1/db"

[incidents.servicenow]
instance_url = "http://127.0.0.1:9"
username = "svc"
password = "SNOW-PASSWORD-5ecret"
client_id = "snow-client"
client_secret = "SNOW-CLIENT-SECRET-5ecret"

[incidents.xdr]
base_url = "http://127.0.0.1:9"
client_id = "client-1"
client_password = "XDR-PASSWORD-5ecret"

[incidents.webhook]
secret = "SNOW-HOOK-HMAC-5ecret-0123456789"
bearer_token = "SNOW-HOOK-BEARER-5ecret-0123456789"
"#
    )
}

fn load(dir: &Path, store: &str) -> Config {
    let path = dir.join("sebridge.toml");
    std::fs::write(&path, config_text(store)).expect("config written");
    Config::load(&path).unwrap_or_else(|e| panic!("test config invalid: {e}"))
}

fn sqlite(dir: &Path) -> Config {
    load(
        dir,
        &format!("[store]\npath = {:?}", dir.join("sebridge.db")),
    )
}

const PG_STORE: &str =
    "[store]\nkind = \"postgres\"\nurl = \"postgres://sebridge:PG-STORE-PASSWORD-5ecret@127.0.0.1:1/db\"";

#[test]
fn the_whole_config_and_each_of_its_sections() {
    let dir = tempfile::tempdir().expect("dir");
    let c = load(dir.path(), PG_STORE);
    assert_hidden("Config", &format!("{c:?}"));
    assert_hidden("Config (pretty)", &format!("{c:#?}"));
    for (name, sink) in &c.sinks {
        assert_hidden(&format!("sink {name}"), &format!("{sink:?}"));
    }
    for (name, t) in &c.tenants {
        assert_hidden(&format!("tenant {name}"), &format!("{t:?}"));
    }
    assert_hidden("[incidents]", &format!("{:?}", c.incidents));
}

#[test]
fn elasticsearch_auth_api_key_and_basic() {
    let dir = tempfile::tempdir().expect("dir");
    let c = sqlite(dir.path());
    let auth = |name: &str| match &c.sinks[name] {
        SinkConfig::Elasticsearch(e) => e.auth.clone(),
        other => panic!("{other:?}"),
    };
    let key = auth("elastic_key");
    assert!(matches!(&key, ElasticAuth::ApiKey(k) if k.expose() == "ES-API-KEY-5ecret"));
    assert_hidden("ElasticAuth::ApiKey", &format!("{key:?}"));
    let basic = auth("elastic_basic");
    assert!(
        matches!(&basic, ElasticAuth::Basic { password, .. } if password.expose() == "ES-PASSWORD-5ecret")
    );
    assert_hidden("ElasticAuth::Basic", &format!("{basic:?}"));
}

#[test]
fn webhook_sink_config() {
    let dir = tempfile::tempdir().expect("dir");
    let c = sqlite(dir.path());
    let SinkConfig::Webhook(w) = &c.sinks["soar"] else {
        panic!("a webhook sink")
    };
    assert_eq!(w.secret.expose(), "WEBHOOK-SINK-5ecret-0123456789");
    assert_hidden("WebhookSinkConfig", &format!("{w:?}"));
}

#[test]
fn sentinel_sink_config() {
    let dir = tempfile::tempdir().expect("dir");
    let c = sqlite(dir.path());
    let SinkConfig::Sentinel(m) = &c.sinks["sentinel"] else {
        panic!("a sentinel sink")
    };
    assert_eq!(m.client_secret.expose(), "SENTINEL-CLIENT-5ecret");
    assert_hidden("SentinelSinkConfig", &format!("{m:?}"));
}

#[test]
fn servicenow_auth_oauth_and_basic() {
    let dir = tempfile::tempdir().expect("dir");
    let c = sqlite(dir.path());
    let snow = c
        .incidents
        .as_ref()
        .and_then(|i| i.servicenow.clone())
        .expect("[incidents.servicenow]");
    let ServiceNowAuth::OAuth { client_secret, .. } = &snow.auth else {
        panic!("client_id + client_secret is OAuth: {:?}", snow.auth)
    };
    assert_eq!(client_secret.expose_secret(), "SNOW-CLIENT-SECRET-5ecret");
    assert_hidden("ServiceNowConfig (OAuth)", &format!("{snow:?}"));
    let basic = ServiceNowAuth::Basic {
        username: "svc".into(),
        password: SecretString::from("SNOW-PASSWORD-5ecret".to_string()),
    };
    assert_hidden("ServiceNowAuth::Basic", &format!("{basic:?}"));
}

#[test]
fn xdr_config() {
    let dir = tempfile::tempdir().expect("dir");
    let c = sqlite(dir.path());
    let xdr = c
        .incidents
        .as_ref()
        .and_then(|i| i.xdr.clone())
        .expect("[incidents.xdr]");
    assert_eq!(xdr.client_password.expose_secret(), "XDR-PASSWORD-5ecret");
    assert_hidden("XdrConfig", &format!("{xdr:?}"));
}

#[test]
fn servicenow_webhook_config() {
    let dir = tempfile::tempdir().expect("dir");
    let c = sqlite(dir.path());
    let hook = c
        .incidents
        .as_ref()
        .and_then(|i| i.webhook.clone())
        .expect("[incidents.webhook]");
    assert!(hook.secret.is_some() && hook.bearer_token.is_some());
    assert_hidden("WebhookConfig", &format!("{hook:?}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_url_in_config_and_in_the_error_of_a_failed_open() {
    let dir = tempfile::tempdir().expect("dir");
    let c = load(dir.path(), PG_STORE);
    let StoreConfig::Postgres { url, .. } = &c.store else {
        panic!("a postgres store")
    };
    assert!(url.expose().contains("PG-STORE-PASSWORD-5ecret"));
    assert_hidden("StoreConfig::Postgres", &format!("{:?}", c.store));
    // The server refuses the login (no such role): the error says why, without the password.
    let refused = load(
        dir.path(),
        "[store]\nkind = \"postgres\"\nurl = \"postgres://no_such_role:PG-STORE-PASSWORD-5ecret@127.0.0.1:5432/test\"",
    );
    let e = tokio::time::timeout(
        Duration::from_secs(20),
        sebridge::topology::open_store(&refused),
    )
    .await
    .expect("fails fast")
    .expect_err("the role does not exist");
    assert_hidden("the store's open error", &format!("{e:?} / {e}"));
}

#[test]
fn stream_credentials_resolved_stream_and_amqp_target() {
    let credentials = StreamCredentials {
        user_name: "1234-0123456789abcdef0123".into(),
        password: SecretString::from("AMQP-PASSWORD-5ecret".to_string()),
        queue_name: "event_stream_1234".into(),
        host: "127.0.0.1".into(),
        port: "5671".into(),
        proto: "https".into(),
    };
    let stream = ResolvedStream {
        tenant: "acme".into(),
        stream_id: 1234,
        name: "siem".into(),
        event_types: vec![],
        group_guids: vec![],
        credentials: credentials.clone(),
    };
    let target = Target::from_credentials(&credentials).expect("target");
    for (what, shown) in [
        ("StreamCredentials", format!("{credentials:?}")),
        ("ResolvedStream", format!("{stream:?}")),
        ("amqp::Target", format!("{target:?}")),
        ("amqp::Target endpoint", target.endpoint()),
    ] {
        assert!(!shown.contains("AMQP-PASSWORD"), "{what}: {shown}");
        assert_hidden(what, &shown);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolved_tenants_from_the_config_and_the_encrypted_registry() {
    let dir = tempfile::tempdir().expect("dir");
    let c = sqlite(dir.path());
    let store = sebridge::topology::open_store(&c).await.expect("store");
    sebridge::tenants::add(
        &c,
        &store,
        sebridge::tenants::NewTenant {
            name: "globex".into(),
            region: None,
            base_url: Some("http://127.0.0.1:9".parse().expect("url")),
            client_id: "id-globex".into(),
            api_key: SecretString::from("REGISTRY-API-KEY-5ecret".to_string()),
        },
    )
    .await
    .expect("tenant added");
    let tenants = sebridge::tenants::resolve_all(&c, &store)
        .await
        .expect("tenants");
    assert_eq!(tenants.len(), 2);
    for t in &tenants {
        let shown = format!("{t:?}");
        assert!(!shown.contains("REGISTRY-API-KEY"), "{shown}");
        assert_hidden("ResolvedTenant", &shown);
    }
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_clients_as_the_incident_service_builds_them() {
    let dir = tempfile::tempdir().expect("dir");
    let c = sqlite(dir.path());
    let store = sebridge::topology::open_store(&c).await.expect("store");
    let tenants = sebridge::tenants::resolve_all(&c, &store)
        .await
        .expect("tenants");
    let service = sebridge::incidents::IncidentService::new(
        c.incidents.as_ref().expect("[incidents]"),
        &store,
        &tenants,
    )
    .expect("incident service");
    let ctx = &service.ctx;
    assert_hidden(
        "servicenow::Client (OAuth)",
        &format!("{:?}", ctx.snow.as_ref().expect("ServiceNow")),
    );
    assert_hidden(
        "xdr::Client",
        &format!("{:?}", ctx.xdr.as_ref().expect("XDR")),
    );
    assert_hidden(
        "secure_endpoint::Client",
        &format!("{:?}", ctx.endpoints["acme"]),
    );
    assert_hidden(
        "incidents config in the service",
        &format!("{:?}", ctx.config),
    );
    // The poll source's client (built from the tenant the same way).
    let http = secure_endpoint::default_http_client(Duration::from_secs(5)).expect("http");
    let client = sebridge::tenants::api_client(&tenants[0], &http).expect("client");
    assert_hidden("secure_endpoint::Client (poll)", &format!("{client:?}"));
    assert_hidden(
        "secure_endpoint::Credentials via the client",
        &format!("{:?}", client.credentials()),
    );
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_cache_holding_a_token() {
    let cache = http_core::TokenCache::new(Duration::from_secs(60));
    let access = cache
        .get(|_| async {
            Ok::<_, std::convert::Infallible>(http_core::Token::new(
                SecretString::from("ACCESS-TOKEN-5ecret".to_string()),
                Some(SecretString::from("REFRESH-TOKEN-5ecret".to_string())),
                Duration::from_secs(3600),
            ))
        })
        .await
        .expect("token");
    assert_eq!(access.expose_secret(), "ACCESS-TOKEN-5ecret");
    let shown = format!("{cache:?} {access:?}");
    assert!(!shown.contains("TOKEN-5ecret"), "{shown}");
}
