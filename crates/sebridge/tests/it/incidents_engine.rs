//! The incident engine's decisions on journal batches (no side effects run here): the
//! correlation window, the age limit, per-tenant overrides, severity raises and coalesced
//! notes.

use sebridge::config::Config;
use sebridge::incidents::IncidentService;
use sebridge::store::Store;
use std::path::Path;

const CONFIG: &str = r#"
[tenants.acme]
base_url = "http://127.0.0.1:9"
client_id = "a"
api_key = "b"

[tenants.globex]
base_url = "http://127.0.0.1:9"
client_id = "c"
api_key = "d"

[sources.poll]
type = "poll"

[sinks.out]
type = "stdout"

[incidents]
window = "10m"
max_event_age = "1h"

[incidents.servicenow]
instance_url = "http://127.0.0.1:9"
username = "u"
password = "p"

[incidents.xdr]
base_url = "http://127.0.0.1:9"
client_id = "x"
client_password = "y"

[incidents.tenants.globex]
enabled = false
"#;

async fn setup(dir: &Path) -> (Store, IncidentService) {
    let config = Config::from_str_with_env(CONFIG, &dir.join("sebridge.toml"), &|_| None)
        .expect("valid config");
    let store = Store::open_sqlite(&dir.join("j.db")).await.expect("store");
    let tenants = sebridge::tenants::resolve_all(&config, &store)
        .await
        .expect("tenants");
    let svc = IncidentService::new(
        config.incidents.as_ref().expect("incidents"),
        &store,
        &tenants,
    )
    .expect("service");
    (store, svc)
}

fn ev(id: u64, ts: i64, host: &str, sha: &str, sev: &str) -> secure_endpoint::Event {
    secure_endpoint::Event::from_json(&format!(
        r#"{{"id":{id},"event_type_id":1090519054,"event_type":"Threat Detected","timestamp":{ts},
        "severity":"{sev}","connector_guid":"{host}","computer":{{"connector_guid":"{host}","hostname":"H-{host}"}},
        "detection":"W32.T","file":{{"file_name":"x.exe","identity":{{"sha256":"{sha}"}}}}}}"#
    ))
    .expect("event")
}

async fn feed(
    store: &Store,
    svc: &IncidentService,
    tenant: &str,
    events: Vec<secure_endpoint::Event>,
) {
    let before = store
        .position("incidents")
        .await
        .expect("pos")
        .map(|p| p.seq)
        .unwrap_or(0);
    store
        .append(tenant, "poll", &events, None)
        .await
        .expect("append");
    let batch = store.read_after(before, 1000).await.expect("read");
    svc.process_batch(&batch).await.expect("engine");
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[tokio::test]
async fn window_age_overrides_severity_and_note_coalescing() {
    let dir = tempfile::tempdir().expect("dir");
    let (store, svc) = setup(dir.path()).await;
    let inc = store.incidents();
    let t = now();
    let sha = "a".repeat(64);
    // Two events on one host and file, 5 minutes apart: one incident.
    feed(
        &store,
        &svc,
        "acme",
        vec![
            ev(1, t - 900, "h1", &sha, "Medium"),
            ev(2, t - 600, "h1", &sha, "High"),
        ],
    )
    .await;
    // Twenty minutes after the last one (window 10m): a new incident.
    feed(
        &store,
        &svc,
        "acme",
        vec![ev(3, t + 600, "h1", &sha, "Low")],
    )
    .await;
    // Another file on the same host, and the same file on another host: new incidents.
    feed(
        &store,
        &svc,
        "acme",
        vec![
            ev(4, t, "h1", &"b".repeat(64), "Low"),
            ev(5, t, "h2", &sha, "Low"),
        ],
    )
    .await;
    // Older than max_event_age, and a tenant with incidents switched off: nothing.
    feed(
        &store,
        &svc,
        "acme",
        vec![ev(6, t - 7200, "h3", &sha, "Critical")],
    )
    .await;
    feed(
        &store,
        &svc,
        "globex",
        vec![ev(7, t, "h1", &sha, "Critical")],
    )
    .await;

    let mut rows = inc.list(None, None, 100).await.expect("list");
    rows.sort_by_key(|r| r.id);
    assert_eq!(rows.len(), 4, "{rows:#?}");
    assert_eq!(rows[0].correlation_id, "sebridge:acme:amp-event:1");
    assert_eq!(rows[0].event_count, 2);
    assert_eq!(rows[0].severity, "High", "raised by the second event");
    assert_eq!(rows[1].first_event_id, 3);
    assert!(rows.iter().all(|r| r.tenant == "acme"));
    // The first incident: creates, one note and the severity updates, each once.
    let kinds: Vec<String> = inc
        .ops(rows[0].id)
        .await
        .expect("ops")
        .into_iter()
        .map(|o| o.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            "snow_create",
            "xdr_create",
            "note",
            "snow_update",
            "xdr_update"
        ]
    );
    // Fifty more events in two batches join the newest open incident with that key; they
    // wait for one note instead of queuing fifty.
    feed(
        &store,
        &svc,
        "acme",
        (10..30)
            .map(|i| ev(i, t + 650, "h1", &sha, "Low"))
            .collect(),
    )
    .await;
    feed(
        &store,
        &svc,
        "acme",
        (30..60)
            .map(|i| ev(i, t + 700, "h1", &sha, "Low"))
            .collect(),
    )
    .await;
    let ops = inc.ops(rows[1].id).await.expect("ops");
    assert_eq!(
        ops.iter().filter(|o| o.kind == "note").count(),
        1,
        "{ops:?}"
    );
    let (lines, count, _) = inc.pending_note(rows[1].id, 10).await.expect("note");
    assert_eq!((lines.len(), count), (10, 50));
    assert_eq!(
        inc.get(rows[1].id)
            .await
            .expect("get")
            .expect("row")
            .event_count,
        51
    );
    // The engine's position moved past every batch.
    assert_eq!(
        store
            .position("incidents")
            .await
            .expect("pos")
            .expect("committed")
            .seq,
        store.head()
    );
    let audit = inc.audit(Some(rows[0].id), 100).await.expect("audit");
    assert!(audit.iter().any(|a| a.action == "severity_raised"));
    store.close().await;
}
