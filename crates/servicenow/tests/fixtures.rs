//! The public SecureX MSSP sample's ServiceNow requests (fixtures/securex-sample-workflow)
//! sent through this client to the simulated instance, plus auth, errors and queries.

use serde_json::{Map, Value};
use servicenow::{Auth, Client, Error, Query, SecretString};
use std::path::PathBuf;

fn fixture(name: &str) -> Value {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/securex-sample-workflow")
        .join(name);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).expect("fixture is JSON")
}

/// Replaces the workflow's `$activity…$` template variables with sample values.
fn fill(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let tail = &rest[i + 1..];
        match tail.find('$') {
            Some(j) => {
                let var = &tail[..j];
                out.push_str(if var.contains("customer_name") {
                    "Company A"
                } else if var.contains("hostname") {
                    "WIN-1234"
                } else if var.contains("connector_guid") {
                    "c9dea48f-2929-461b-962e-785601cd7ecf"
                } else {
                    "x"
                });
                rest = &tail[j + 1..];
            }
            None => {
                out.push_str(&rest[i..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

fn basic(sim: &simulator::SimHandle) -> Auth {
    let i = sim.integrations().servicenow;
    Auth::Basic {
        username: i.username,
        password: SecretString::from(i.password),
    }
}

/// The SXO atomic "Service Now - Create Incident" body, built from the sample's inputs.
fn sample_create_body() -> Map<String, Value> {
    let inputs = fixture("servicenow_create_incident_atomic_inputs.json");
    let mut body = Map::new();
    for v in inputs.as_object().expect("object").values() {
        match v {
            Value::Number(n) => {
                // impact and urgency are both 1 in the sample
                body.insert("impact".into(), Value::Number(n.clone()));
                body.insert("urgency".into(), Value::Number(n.clone()));
            }
            Value::String(s) if s.ends_with("[SecureX]") => {
                body.insert("short_description".into(), fill(s).into());
            }
            Value::String(s) if s.starts_with("New AMP event") => {
                body.insert("description".into(), s.clone().into());
            }
            Value::String(s) if s.starts_with("Customer name:") => {
                body.insert("work_notes".into(), fill(s).into());
            }
            Value::String(s) if s == "admin" => {
                body.insert("caller_id".into(), s.clone().into());
            }
            _ => {}
        }
    }
    assert_eq!(body.len(), 6, "the atomic sends six fields: {body:?}");
    body
}

#[tokio::test]
async fn the_samples_create_and_work_note_requests_work_on_the_v2_path() {
    let sim = simulator::start(simulator::SimConfig {
        tenants: 1,
        rate: 0.0,
        ..Default::default()
    })
    .await
    .unwrap();
    let client = Client::builder(&sim.base_url(), basic(&sim))
        .unwrap()
        .api_version("v2")
        .build()
        .unwrap();
    // The atomic succeeds only on 201 and reads result.number and result.sys_id.
    let created = client.create(&sample_create_body()).await.unwrap();
    let sys_id = created.sys_id().expect("sys_id").to_string();
    let number = created.number().expect("number").to_string();
    assert_eq!(sys_id.len(), 32);
    assert!(number.starts_with("INC"), "{number}");
    assert_eq!(
        created.get_str("priority"),
        Some("1"),
        "impact 1 + urgency 1"
    );
    assert!(created
        .get_str("short_description")
        .unwrap()
        .starts_with("[Company A] New AMP"));
    // Journal fields read back empty; the note is in the journal.
    assert_eq!(created.get_str("work_notes"), None);

    // "Service Now - Add Work Note to Incident": PATCH {"work_notes": relative_url}, 200.
    let note_inputs = fixture("servicenow_add_work_note_atomic_inputs.json");
    assert!(note_inputs.as_object().unwrap().values().any(|v| v == "v2"));
    let url_note =
        "respond/trigger/mi/wf?observable_type=ip&observable_value=%7B%7D&workflow_id=wf";
    client.add_work_note(&sys_id, url_note).await.unwrap();
    let rec = sim.snow_record(&number).unwrap();
    let notes = rec.work_notes();
    assert_eq!(notes.len(), 2);
    assert!(notes[0].starts_with("Customer name: Company A"));
    assert_eq!(notes[1], url_note);

    let got = client.get(&sys_id, &["number", "state"]).await.unwrap();
    assert_eq!(got.number(), Some(number.as_str()));
    assert_eq!(got.state(), Some("1"));
    assert!(
        got.get_str("short_description").is_none(),
        "fields projected"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn queries_find_by_oauth_and_errors() {
    let sim = simulator::start(simulator::SimConfig {
        tenants: 1,
        rate: 0.0,
        ..Default::default()
    })
    .await
    .unwrap();
    let info = sim.integrations().servicenow;
    let client = Client::builder(
        &sim.base_url(),
        Auth::OAuth {
            client_id: info.oauth_client_id.clone(),
            client_secret: SecretString::from(info.oauth_client_secret.clone()),
            username: info.username.clone(),
            password: SecretString::from(info.password.clone()),
        },
    )
    .unwrap()
    .build()
    .unwrap();
    for i in 0..3 {
        let mut f = Map::new();
        f.insert("short_description".into(), format!("t{i}").into());
        f.insert("correlation_id".into(), format!("sebridge:acme:{i}").into());
        client.create(&f).await.unwrap();
    }
    let found = client
        .find_by("correlation_id", "sebridge:acme:1", &["sys_id", "number"])
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].get_str("correlation_id"), Some("sebridge:acme:1"));
    // A misspelt field: the instance ignores the condition and returns every row; find_by
    // filters again, so nothing unrelated is taken for ours.
    let all = client
        .query(&Query {
            query: "correlaton_id=sebridge:acme:1".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.records.len(), 3);
    assert!(client
        .find_by("correlaton_id", "sebridge:acme:1", &[])
        .await
        .unwrap()
        .is_empty());
    let page = client
        .query(&Query {
            query: "correlation_idSTARTSWITHsebridge:acme:^ORDERBYDESCshort_description".into(),
            fields: vec!["short_description".into()],
            limit: Some(2),
            offset: Some(0),
        })
        .await
        .unwrap();
    assert_eq!(page.total, Some(3));
    assert!(page.has_next);
    assert_eq!(page.records[0].get_str("short_description"), Some("t2"));

    // 429 with Retry-After, then 503.
    sim.set_snow_faults(simulator::SnowFaults {
        rate_limited_requests: 1,
        unavailable_requests: 1,
        ..Default::default()
    });
    let e = client.query(&Query::default()).await.unwrap_err();
    assert!(matches!(e, Error::RateLimited { .. }), "{e}");
    assert_eq!(e.retry_after(), Some(std::time::Duration::from_secs(1)));
    let e = client.query(&Query::default()).await.unwrap_err();
    assert_eq!(e.status(), Some(503));
    assert!(e.is_retryable());

    // The error envelope's message reaches the caller.
    let bad_table = Client::builder(&sim.base_url(), basic(&sim))
        .unwrap()
        .table("incidnt")
        .build()
        .unwrap();
    let e = bad_table.query(&Query::default()).await.unwrap_err();
    assert!(e.to_string().contains("Invalid table incidnt"), "{e}");
    let wrong = Client::builder(
        &sim.base_url(),
        Auth::Basic {
            username: info.username.clone(),
            password: SecretString::from("wrong".to_string()),
        },
    )
    .unwrap()
    .build()
    .unwrap();
    let e = wrong
        .get("0123456789abcdef0123456789abcdef", &[])
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Unauthorized { .. }), "{e}");
    assert!(e.to_string().contains("User Not Authenticated"));
    let bad_oauth = Client::builder(
        &sim.base_url(),
        Auth::OAuth {
            client_id: info.oauth_client_id,
            client_secret: SecretString::from("nope".to_string()),
            username: info.username,
            password: SecretString::from(info.password),
        },
    )
    .unwrap()
    .build()
    .unwrap();
    assert!(matches!(
        bad_oauth.query(&Query::default()).await.unwrap_err(),
        Error::Token(_)
    ));
    // Security incidents: same API, SIR numbers.
    let sir = Client::builder(&sim.base_url(), basic(&sim))
        .unwrap()
        .table("sn_si_incident")
        .build()
        .unwrap();
    let r = sir.create(&Map::new()).await.unwrap();
    assert!(r.number().unwrap().starts_with("SIR"));
    sim.shutdown().await;
}
