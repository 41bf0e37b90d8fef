//! The simulated ServiceNow and XDR over raw HTTP (no client crate): the shapes the
//! reference describes, and the close business rule's signed webhook.

use axum::body::Bytes;
use axum::http::HeaderMap;
use serde_json::Value;
use simulator::{SimConfig, SnowWebhook};
use std::sync::{Arc, Mutex};

async fn sim() -> simulator::SimHandle {
    simulator::start(SimConfig {
        tenants: 1,
        rate: 0.0,
        ..SimConfig::default()
    })
    .await
    .expect("simulator")
}

#[tokio::test]
async fn servicenow_table_api_shapes() {
    let sim = sim().await;
    let i = sim.integrations().servicenow;
    let http = reqwest::Client::new();
    let base = format!("{}/api/now/table/incident", i.instance_url);
    // No credentials: 401 with the error envelope.
    let r = http.get(&base).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["status"], "failure");
    assert_eq!(v["error"]["message"], "User Not Authenticated");
    // Create: 201, strings everywhere, INC number, 32-hex sys_id, journal field reads "".
    let r = http
        .post(&base)
        .basic_auth(&i.username, Some(&i.password))
        .json(
            &serde_json::json!({"short_description": "x", "impact": 1, "urgency": 2,
            "work_notes": "first", "correlation_id": "k1", "no_such_field": "ignored"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    let rec = &v["result"];
    assert!(rec["number"].as_str().unwrap().starts_with("INC"));
    assert_eq!(rec["sys_id"].as_str().unwrap().len(), 32);
    assert_eq!(
        (rec["impact"].as_str(), rec["priority"].as_str()),
        (Some("1"), Some("2"))
    );
    assert_eq!(rec["state"], "1");
    assert_eq!(rec["work_notes"], "");
    assert!(rec.get("no_such_field").is_none());
    let sys_id = rec["sys_id"].as_str().unwrap().to_string();
    // Query with fields, limit, X-Total-Count and Link.
    let r = http
        .get(&base)
        .basic_auth(&i.username, Some(&i.password))
        .query(&[
            ("sysparm_query", "correlation_id=k1^stateIN1,2"),
            ("sysparm_fields", "sys_id,number"),
            ("sysparm_limit", "1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-total-count"], "1");
    assert!(r.headers()["link"]
        .to_str()
        .unwrap()
        .contains("rel=\"first\""));
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["result"][0].as_object().unwrap().len(), 2);
    // Unknown record and unknown table.
    let r = http
        .get(format!("{base}/0123456789abcdef0123456789abcdef"))
        .basic_auth(&i.username, Some(&i.password))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = http
        .get(format!("{}/api/now/table/nope", i.instance_url))
        .basic_auth(&i.username, Some(&i.password))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // OAuth: JSON is refused, the form works, the token authenticates.
    let tok = format!("{}/oauth_token.do", i.instance_url);
    let r = http
        .post(&tok)
        .json(&serde_json::json!({"grant_type": "password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = http
        .post(&tok)
        .form(&[
            ("grant_type", "password"),
            ("client_id", &i.oauth_client_id),
            ("client_secret", &i.oauth_client_secret),
            ("username", &i.username),
            ("password", &i.password),
        ])
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["expires_in"], 1800);
    let access = v["access_token"].as_str().unwrap();
    let r = http
        .get(format!("{base}/{sys_id}"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    sim.shutdown().await;
}

#[tokio::test]
async fn the_close_business_rule_posts_a_signed_notice_once() {
    let sim = sim().await;
    // A receiver for the webhook (a stand-in for sebridge).
    let got: Arc<Mutex<Vec<(HeaderMap, Bytes)>>> = Arc::default();
    let g = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |h: HeaderMap, b: Bytes| {
            let g = g.clone();
            async move {
                g.lock().unwrap().push((h, b));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    sim.set_snow_webhook(SnowWebhook {
        url: Some(format!("http://{addr}/hook")),
        secret: Some("s3cret-s3cret-s3cret".into()),
        bearer: Some("tok".into()),
        enabled: true,
    });
    let i = sim.integrations().servicenow;
    let http = reqwest::Client::new();
    let base = format!("{}/api/now/table/incident", i.instance_url);
    let v: Value = http
        .post(&base)
        .basic_auth(&i.username, Some(&i.password))
        .json(&serde_json::json!({"short_description": "x", "correlation_id": "sebridge:t:1"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let number = v["result"]["number"].as_str().unwrap().to_string();
    let closed = sim.snow_close(&number, None, None).unwrap();
    assert_eq!(closed.get("state"), "7");
    assert!(!closed.get("closed_at").is_empty());
    // A later update of the closed ticket does not fire again ("changes to", not "is").
    let sys_id = closed.get("sys_id").to_string();
    http.patch(format!("{base}/{sys_id}"))
        .basic_auth(&i.username, Some(&i.password))
        .json(&serde_json::json!({"work_notes": "after close"}))
        .send()
        .await
        .unwrap();
    for _ in 0..50 {
        if !got.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let calls = got.lock().unwrap().clone();
    assert_eq!(calls.len(), 1, "one notice");
    let (h, body) = &calls[0];
    let ts = h["x-sebridge-timestamp"].to_str().unwrap();
    let body_text = std::str::from_utf8(body).unwrap();
    assert_eq!(
        h["x-sebridge-signature"].to_str().unwrap(),
        simulator::snow_sign("s3cret-s3cret-s3cret", ts, body_text)
    );
    assert_eq!(h["authorization"], "Bearer tok");
    let v: Value = serde_json::from_str(body_text).unwrap();
    assert_eq!(
        (v["number"].as_str(), v["state"].as_str()),
        (Some(number.as_str()), Some("7"))
    );
    assert_eq!(v["correlation_id"], "sebridge:t:1");
    assert_eq!(sim.snow_webhook_deliveries()[0].status, Some(200));
    sim.shutdown().await;
}

#[tokio::test]
async fn xdr_token_and_ctia_incident_shapes() {
    let sim = sim().await;
    let i = sim.integrations().xdr;
    let http = reqwest::Client::new();
    let tok_url = format!("{}/iroh/oauth2/token", i.base_url);
    let r = http
        .post(&tok_url)
        .basic_auth(&i.client_id, Some("wrong"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let v: Value = http
        .post(&tok_url)
        .basic_auth(&i.client_id, Some(&i.client_password))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (v["token_type"].as_str(), v["expires_in"].as_u64()),
        (Some("bearer"), Some(600))
    );
    let token = v["access_token"].as_str().unwrap().to_string();
    let inc = format!("{}/ctia/incident", i.base_url);
    assert_eq!(
        http.get(format!("{inc}/incident-x"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    // Required fields.
    let r = http
        .post(&inc)
        .bearer_auth(&token)
        .json(&serde_json::json!({"title": "t"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    for k in ["confidence", "status", "incident_time"] {
        assert!(v["errors"].get(k).is_some(), "{v}");
    }
    let r = http
        .post(&inc)
        .bearer_auth(&token)
        .json(&serde_json::json!({"confidence": "High", "status": "New",
            "incident_time": {"opened": "2024-05-01T10:15:02.000Z"},
            "description": "d".repeat(5001)}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "description over 5000 characters");
    let created: Value = http
        .post(&inc)
        .bearer_auth(&token)
        .json(&serde_json::json!({"confidence": "High", "status": "New",
            "incident_time": {"opened": "2024-05-01T10:15:02.000Z"},
            "external_ids": ["e1"], "external_references": [{"source_name": "A"}]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap();
    assert!(id.contains("/ctia/incident/incident-"));
    assert_eq!(created["type"], "incident");
    let short = id.rsplit('/').next().unwrap();
    // /status takes {"status"} only, and stamps the close time.
    let r = http
        .post(format!("{inc}/{short}/status"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"status": "Closed", "title": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = http
        .post(format!("{inc}/{short}/status"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"status": "Closed: Confirmed Threat"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(v["incident_time"]["closed"].is_string());
    assert_eq!(v["incident_time"]["opened"], "2024-05-01T10:15:02.000Z");
    let found: Value = http
        .get(format!("{inc}/external_id/e1"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(found.as_array().unwrap().len(), 1);
    let r = http
        .get(format!("{inc}/search"))
        .bearer_auth(&token)
        .query(&[("query", "external_ids:\"e1\"")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-total-hits"], "1");
    sim.shutdown().await;
}
